"""Myocardial T1/T2 values from contours, per slice and per patient.

:func:`~myomap.quantify.values.region_stats` summarises a map inside a mask
(pixel count, mean, median, SD, quartiles and IQR in ms; NaN, <= 0 and
out-of-range pixels left out and counted as missing);
:func:`~myomap.quantify.values.region_masks` builds one slice's regions
(global myocardium, AHA segments, SCMR septal ROI, each as drawn and eroded
by :data:`~myomap.quantify.values.DEFAULT_EROSION_MARGIN_PX`, and the LV
blood pool);
:func:`~myomap.quantify.values.slice_values` turns them into tidy rows and
:func:`~myomap.quantify.values.patient_values` pools the pixels of a
patient's slices into patient-level rows;
:func:`~myomap.quantify.reference.estimate_rv_insertion` finds the AHA
reference point (the anterior RV insertion) from the image when no contours
file gives it.  :mod:`~myomap.quantify.ecv` computes ECV,
:mod:`~myomap.quantify.ranges` flags values against normal ranges and
:mod:`~myomap.quantify.plausibility` checks that a map's values fit its type.
"""

from myomap.quantify.reference import estimate_rv_insertion
from myomap.quantify.values import (
    DEFAULT_EROSION_MARGIN_PX,
    RegionMask,
    patient_values,
    region_masks,
    region_stats,
    slice_values,
)

__all__ = [
    "DEFAULT_EROSION_MARGIN_PX",
    "RegionMask",
    "estimate_rv_insertion",
    "patient_values",
    "region_masks",
    "region_stats",
    "slice_values",
]
