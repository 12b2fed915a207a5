"""The main job: from DICOM maps to contours, T1/T2 values, quality flags, exports and reports.

- :mod:`myomap.analyze.discover`: find T1/T2 maps among DICOM files, per patient, base to apex.
- :mod:`myomap.analyze.qc`: per-slice confidence and contour sanity, the review flag.
- :mod:`myomap.analyze.exports`: overlay PNG, label mask, contours JSON (pixels and mm), DICOM SEG.
- :mod:`myomap.analyze.pipeline`: :func:`~myomap.analyze.pipeline.analyze`, the whole run.
- :mod:`myomap.analyze.truth`: comparison with the phantom's truth (demo, benchmarks).
"""
