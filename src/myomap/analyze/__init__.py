"""The main job: from DICOM maps to contours, T1/T2 values, quality flags, exports and reports.

- :mod:`myomap.analyze.discover`: find T1/T2 maps among DICOM files, per patient, base to apex.
- :mod:`myomap.analyze.qc`: per-slice confidence and contour sanity, the review flag.
- :mod:`myomap.analyze.exports`: overlay PNG, label mask, contours JSON (pixels and mm), DICOM SEG.
- :mod:`myomap.analyze.pipeline`: per-patient and per-slice analysis; :func:`~myomap.analyze.pipeline.analyze`, the entry point.
- :mod:`myomap.analyze.run`: the whole run, one patient at a time, and the run tables.
- :mod:`myomap.analyze.outfolder`: the output folder (new, overwrite, resume), ``run.json``, completion, SIGTERM.
- :mod:`myomap.analyze.deid`: the PS3.15 Basic Profile applied to every DICOM written, with consistent UIDs.
- :mod:`myomap.analyze.names`: patient labels, source-file names in outputs, the key file.
- :mod:`myomap.analyze.canary`: a PHI canary exam and the search for its canaries (tests, benchmarks).
- :mod:`myomap.analyze.truth`: comparison with the phantom's truth (demo, benchmarks).
"""
