"""Slice levels of a stack replanned a few degrees about the LV: measured near the heart, not at the images' corners."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from myomap.analyze.discover import MapSlice
from myomap.analyze.stack_order import order_slices
from myomap.io.context import ScanContext

SHAPE, SPACING = (192, 256), (1.4, 1.4)
HEART = np.array([20.0, -10.0, -30.0])
AXIS = np.array([0.6, -0.45, -0.65]) / np.linalg.norm([0.6, -0.45, -0.65])  # an oblique short-axis normal, base to apex


def _rotated(vector, about, degrees):
    about = about / np.linalg.norm(about)
    a = np.deg2rad(degrees)
    return vector * np.cos(a) + np.cross(about, vector) * np.sin(a) + about * (about @ vector) * (1 - np.cos(a))


def _slice(series: str, k: int, normal, along_mm: float, spin_deg: float) -> MapSlice:
    row = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    row = _rotated(row / np.linalg.norm(row), normal, spin_deg)
    col = -np.cross(normal, row)
    centre = HEART + along_mm * AXIS
    # the heart 40 mm right of and 20 mm below the image centre, as on a full-torso field of view
    middle = centre - 40.0 * row - 20.0 * col
    ipp = middle - (SHAPE[1] - 1) / 2 * SPACING[1] * row - (SHAPE[0] - 1) / 2 * SPACING[0] * col
    value = 1000.0 if series == "native" else 450.0
    return MapSlice(Path(f"{series}{k}.dcm"), "T1", np.full(SHAPE, value, np.float32), SPACING, (*row, *col), tuple(ipp),
                    "P", "S", series, f"{series}{k}", f"MOLLI {series}", context=ScanContext(field_strength_t=1.5))  # fmt: skip


@pytest.mark.parametrize("tilt_deg", [6.0, 9.0])
@pytest.mark.parametrize("spin_deg", [0.0, 90.0])
@pytest.mark.parametrize("held", [True, False])
def test_a_post_contrast_stack_replanned_a_few_degrees_keeps_the_levels_of_the_native_slices_it_repeats(tilt_deg, spin_deg, held):
    """Positions were ImagePositionPatient (the top-left pixel) along the mean normal: 150-250 mm from the heart, a stack
    tilted 6-9 degrees moved there by 10-16 mm and its slices through the native basal, mid and apical LV were labelled
    basal, basal, mid (their segments' ECV paired with other levels); NIfTI slices, held without pixels, kept that."""
    tilted = _rotated(AXIS, np.cross(AXIS, [0.0, 0.0, 1.0]), tilt_deg)
    slices = [_slice("native", k, AXIS, d, 0.0) for k, d in enumerate((-12.0, 0.0, 12.0))]
    slices += [_slice("post", k, tilted, d, spin_deg) for k, d in enumerate((-12.0, 0.0, 12.0))]
    if not held:  # NIfTI slices come to discovery without pixels, with their size
        slices = [replace(s, pixels=None, origin="nifti", image_shape=SHAPE, level_ms=float(s.pixels[0, 0])) for s in slices]
    levels = {(s.series_uid, s.path.name): s.slice_position for s in order_slices(slices)}
    for series in ("native", "post"):
        assert [levels[(series, f"{series}{k}.dcm")] for k in range(3)] == ["basal", "mid", "apical"]
