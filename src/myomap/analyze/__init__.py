"""The main job: from DICOM maps to contours, T1/T2 values, quality flags, exports and reports.

discover → predict → :func:`~myomap.analyze.slice_analysis.analyse_slice` → write:

- :mod:`myomap.analyze.discover`: find T1/T2 maps among DICOM files, per patient, base to apex.
- :mod:`myomap.analyze.slice_analysis`: the pure per-slice step (contours, QC, AHA reference point, values; no I/O).
- :mod:`myomap.analyze.qc`: per-slice confidence and contour sanity, the review flag.
- :mod:`myomap.analyze.exports`: everything written per slice (overlay PNG, label mask, contours JSON in pixels and mm, DICOM SEG).
- :mod:`myomap.analyze.patient`: one patient: predict, analyse and write each slice.
- :mod:`myomap.analyze.run`: the whole run, one patient at a time, and the run tables; the HTML reports come from
  :mod:`myomap.report.analysis`, whose :func:`~myomap.report.analysis.analyze` is the entry point.
- :mod:`myomap.analyze.settings`: the settings of a run (``analyze.yaml``).
- :mod:`myomap.analyze.clinical`: patient-level values per stack, reference flags, ECV.
- :mod:`myomap.analyze.outfolder`: the output folder (new, overwrite, resume), ``run.json``, completion, SIGTERM.
- :mod:`myomap.analyze.deid`: the PS3.15 Basic Profile applied to every DICOM written, with consistent UIDs.
- :mod:`myomap.analyze.names`: patient labels, source-file names in outputs, the key file.
- :mod:`myomap.analyze.canary`: a PHI canary exam and the search for its canaries (tests, benchmarks).
- :mod:`myomap.analyze.truth`: comparison with the phantom's truth (demo, benchmarks).
"""
