"""Post-contrast maps are searched first where the LV lies on the native map of their slice."""

from pathlib import Path

import numpy as np
import pytest

from myomap.analyze.discover import MapSlice
from myomap.analyze.patient import post_contrast_hints, predict_native_first
from myomap.analyze.settings import AnalyzeConfig
from myomap.model.inference import Prediction

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _slice(name, contrast, position, spacing=(1.5, 1.5), shape=(96, 96), map_type="T1"):
    return MapSlice(
        Path(f"{name}.dcm"), map_type, np.ones(shape, np.float32), spacing, AXIAL, position, "p", "s", name, name, name,
        contrast=contrast,
    )  # fmt: skip


def _ring_at(x, y, shape=(96, 96)):
    labels = np.zeros(shape, np.uint8)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(cols - x, rows - y)
    labels[r < 12] = 1
    labels[r < 7] = 2
    return Prediction(np.zeros((3, *shape), np.float32), labels)


class Recorder:
    """A stand-in segmenter: rings where ``rings`` says, and a record of each call's kinds and hints."""

    def __init__(self, rings):
        self.rings, self.calls = rings, []

    def predict_each(self, images, spacings_mm, *, tta, batch_size, kinds, hints):
        self.calls.append((kinds, hints))
        return [self.rings.get(k) for k in kinds], [None] * len(images)


def test_a_post_contrast_map_is_hinted_where_the_native_map_of_its_slice_shows_the_lv():
    slices = [
        _slice("post_mid", "post", (10.0, 20.0, 0.5), spacing=(0.75, 0.75), shape=(192, 192)),  # finer pixels, same slice
        _slice("native_mid", "native", (10.0, 20.0, 0.0)),
        _slice("post_apex", "post", (10.0, 20.0, 20.0)),  # no native map at this position
        _slice("t2_mid", "native", (10.0, 20.0, 0.0), map_type="T2"),
    ]
    recorder = Recorder({"T1": _ring_at(40.0, 50.0), "T2": _ring_at(40.0, 50.0)})
    predictions, reasons = predict_native_first(recorder, slices, AnalyzeConfig())
    (native_kinds, native_hints), (post_kinds, post_hints) = recorder.calls
    assert native_kinds == ["T1", "T2"] and native_hints == [None, None]
    assert post_kinds == ["T1-post", "T1-post"] and post_hints[0] == pytest.approx((80.0, 100.0), abs=0.5) and post_hints[1] is None
    assert predictions[1] is not None and predictions[0] is None and reasons == [None] * 4  # in the caller's order


def test_no_hint_without_a_native_lv_or_a_geometry():
    slices = [_slice("post", "post", (0.0, 0.0, 0.0)), _slice("native", "native", (0.0, 0.0, 0.0))]
    assert post_contrast_hints(slices, [None, None]) == {0: None}  # the native map got no ring
    unplaced = [_slice("post", "post", None), slices[1]]
    assert post_contrast_hints(unplaced, [None, _ring_at(40.0, 50.0)]) == {}
