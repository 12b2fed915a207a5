"""The names every layer shares: map types, slice positions, contrast states, label classes, display windows.

Defined once here (no other myomap import, so every layer may use it) and
kept as plain strings (``Literal`` types with the tuple of their values),
so that they write into CSV, JSON and DICOM unchanged.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, get_args

MapType = Literal["T1", "T2"]
MAP_TYPES: tuple[MapType, ...] = get_args(MapType)
"""The parametric maps myomap measures."""

SlicePosition = Literal["basal", "mid", "apical"]
SLICE_POSITIONS: tuple[SlicePosition, ...] = get_args(SlicePosition)
"""The AHA levels of a short-axis slice, base to apex."""

Contrast = Literal["native", "post"]
CONTRASTS: tuple[Contrast, ...] = get_args(Contrast)
"""Before or after a gadolinium contrast agent."""


def stack_name(map_type: str, contrast: str = "native") -> str:
    """The name of a stack of maps: ``T1``, ``T2``, ``T1-post`` or ``T2-post`` (folders, tables, the model's map kinds).

    >>> stack_name("T1"), stack_name("T1", "post")
    ('T1', 'T1-post')
    """
    return map_type if contrast == "native" else f"{map_type}-post"


BACKGROUND, MYOCARDIUM, BLOOD_POOL = 0, 1, 2
CLASS_NAMES = ("background", "myocardium", "blood_pool")
"""The label values of a segmentation and their names (the model's classes, in this order)."""

MAP_WINDOWS_MS: dict[str, tuple[float, float]] = {"T1": (300.0, 1900.0), "T2": (20.0, 90.0), "T1-post": (100.0, 900.0)}
"""Display window (low, high) in ms of each map type in every figure and overlay, and of post-contrast T1 maps
in the overlays (blood 250-450 ms, myocardium 400-600 ms: nearly black in the native window)."""


# The label codes of the phantom's tissue label maps (truth.npz), shared by the phantom that
# writes them and the training-image synthesis (myomap.model.synth) that reads them.
class Tissue(IntEnum):
    """Tissue labels of the phantom's label images."""

    AIR = 0
    LUNG = 1
    SUBCUTANEOUS_FAT = 2
    MUSCLE = 3  # chest wall, paraspinal
    LIVER = 4
    BONE_MARROW = 5
    AORTA_BLOOD = 6
    EPICARDIAL_FAT = 7
    RV_BLOOD = 8
    RV_WALL = 9
    LV_BLOOD = 10
    LV_MYOCARDIUM = 11
    PAPILLARY = 12  # papillary muscles and trabeculae: myocardial tissue, blood-pool class
    PERICARDIUM = 13  # fibrous sac around the heart (and the diaphragm's tendon where they meet)
    STOMACH = 14
    SPLEEN = 15
    OUTFLOW_BLOOD = 16  # LV outflow tract and aortic root on basal slices
