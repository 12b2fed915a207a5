"""T2 and post-contrast maps are searched first where the LV lies on a native map of their slice segmented before them."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from myomap.analyze.discover import MapSlice
from myomap.analyze.patient import borrow_native_rings, check_against_stack, predict_native_first, same_slice_hints, stack_lv
from myomap.analyze.settings import AnalyzeConfig
from myomap.model.inference import Prediction
from myomap.model.locate import NO_LV

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


def test_t2_and_post_contrast_maps_are_hinted_where_a_native_map_of_their_slice_shows_the_lv():
    slices = [
        _slice("post_mid", "post", (10.0, 20.0, 0.5), spacing=(0.75, 0.75), shape=(192, 192)),  # finer pixels, same slice
        _slice("t2_mid", "native", (10.0, 20.0, 0.0), map_type="T2"),
        _slice("post_apex", "post", (10.0, 20.0, 20.0)),  # no native T1 map at this position
        _slice("native_mid", "native", (10.0, 20.0, 0.0)),
        _slice("t2_apex", "native", (10.0, 20.0, 20.0), map_type="T2"),  # no native T1 map at this position
    ]
    recorder = Recorder({"T1": _ring_at(40.0, 50.0), "T2": _ring_at(30.0, 60.0)})
    predictions, reasons = predict_native_first(recorder, slices, AnalyzeConfig())
    (t1_kinds, t1_hints), (t2_kinds, t2_hints), (post_kinds, post_hints) = recorder.calls
    assert t1_kinds == ["T1"] and t1_hints == [None]
    assert t2_kinds == ["T2", "T2"] and t2_hints[0] == pytest.approx((40.0, 50.0), abs=0.5) and t2_hints[1] is None
    assert post_kinds == ["T1-post", "T1-post"]
    assert post_hints[0] == pytest.approx((80.0, 100.0), abs=0.5)  # T1 and T2 maps 0.5 mm away: the T1 map's LV
    assert post_hints[1] == pytest.approx((30.0, 60.0), abs=0.5)  # the T2 map of the apex, segmented on the second pass
    assert predictions[3] is not None and predictions[0] is None and reasons == [None] * 5  # in the caller's order


def test_no_hint_without_a_native_lv_or_a_geometry():
    slices = [_slice("post", "post", (0.0, 0.0, 0.0)), _slice("native", "native", (0.0, 0.0, 0.0))]
    assert same_slice_hints(slices, [None, None], [0]) == {0: None}  # the native map got no ring
    unplaced = [_slice("post", "post", None), slices[1]]
    assert same_slice_hints(unplaced, [None, _ring_at(40.0, 50.0)], [0]) == {0: None}
    assert same_slice_hints(slices, [None, _ring_at(40.0, 50.0)], [1]) == {1: None}  # a map is no hint for itself


def test_a_native_t1_map_hints_before_a_nearer_t2_map_and_a_doubted_ring_hints_not():
    slices = [
        _slice("post", "post", (0.0, 0.0, 0.0)),
        _slice("t2", "native", (0.0, 0.0, 1e-5), map_type="T2"),  # nearer by header rounding only
        _slice("t1", "native", (0.0, 0.0, 2e-5)),
    ]
    t2_ring, t1_ring = _ring_at(30.0, 60.0), _ring_at(40.0, 50.0)
    assert same_slice_hints(slices, [None, t2_ring, t1_ring], [0])[0] == pytest.approx((40.0, 50.0), abs=0.5)
    doubted = replace(t1_ring, doubts=("thin ring (mean wall 2.5 mm)", "network unsure (0.80)"))
    assert same_slice_hints(slices, [None, t2_ring, doubted], [0])[0] == pytest.approx((30.0, 60.0), abs=0.5)


def test_a_post_contrast_map_without_an_lv_borrows_the_native_t1_ring_of_its_slice_moved_onto_its_grid():
    slices = [
        _slice("post_mid", "post", (10.0, 20.0, 0.5), spacing=(0.75, 0.75), shape=(192, 192)),  # finer pixels, same slice
        _slice("native_mid", "native", (10.0, 20.0, 0.0)),
        _slice("post_apex", "post", (10.0, 20.0, 20.0)),  # no native T1 map at this position
        _slice("t2_mid", "native", (10.0, 20.0, 0.0), map_type="T2"),  # a T2 ring is never borrowed
    ]
    native = _ring_at(40.0, 50.0)
    predictions, reasons = [None, native, None, _ring_at(30.0, 60.0)], [NO_LV, None, NO_LV, None]
    notes = borrow_native_rings(slices, predictions, reasons)
    assert list(notes) == [0] and "native T1 map of its slice (native_mid.dcm)" in notes[0] and "check" in notes[0]
    assert predictions[2] is None and reasons[2] == NO_LV  # nothing to borrow at the apex
    borrowed = predictions[0]
    assert reasons[0] is None and borrowed.labels.shape == (192, 192) and not borrowed.doubts
    rows, cols = np.nonzero(borrowed.labels == 2)
    assert (cols.mean(), rows.mean()) == pytest.approx((80.0, 100.0), abs=0.5)  # the same patient point, at twice the pixels
    assert (borrowed.labels == 1).sum() == pytest.approx(4 * (native.labels == 1).sum(), rel=0.05)
    np.testing.assert_array_equal(borrowed.probabilities.argmax(axis=0), borrowed.labels)


def test_only_a_missing_lv_on_a_post_contrast_map_borrows_and_only_a_sure_native_ring_lends():
    slices = [_slice("post", "post", (0.0, 0.0, 0.0)), _slice("native", "native", (0.0, 0.0, 0.0))]
    ring = _ring_at(40.0, 50.0)
    for reason in ("map is constant (no image)", None):  # a bad image, or a ring of its own, keeps what it has
        predictions = [None if reason else _ring_at(20.0, 20.0), ring]
        assert borrow_native_rings(slices, predictions, [reason, None]) == {}
    doubted = replace(ring, doubts=("thin ring (mean wall 2.5 mm)", "network unsure (0.80)"))
    predictions = [None, doubted]
    assert borrow_native_rings(slices, predictions, [NO_LV, None]) == {} and predictions[0] is None
    far = [slices[0], _slice("native", "native", (0.0, 0.0, 8.0))]  # another slice position (over 5 mm apart)
    assert borrow_native_rings(far, [None, ring], [NO_LV, None]) == {}
    unplaced = [_slice("post", "post", None), slices[1]]
    assert borrow_native_rings(unplaced, [None, ring], [NO_LV, None]) == {}


def test_a_borrowed_ring_lands_on_the_same_patient_points_of_a_turned_shifted_anisotropic_grid():
    native = _slice("native", "native", (10.0, 20.0, 0.0), spacing=(1.4, 1.9))
    # the same plane turned: its column index grows along -y and its row index along x; another corner, 0.8 x 1.1 mm pixels
    post = replace(
        _slice("post", "post", (22.0, 178.0, 1.0), spacing=(0.8, 1.1), shape=(160, 160)),
        orientation=(0.0, -1.0, 0.0, 1.0, 0.0, 0.0),
    )
    ring = _ring_at(40.0, 50.0)
    ring.labels[50, 60:64] = 1  # a bump that tells the ring's sides apart
    predictions = [None, ring]
    assert list(borrow_native_rings([post, native], predictions, [NO_LV, None])) == [0]
    moved = predictions[0].labels

    def patient_point(labels, value, geometry):  # the centroid of a class in patient mm (x, y)
        rows, cols = np.nonzero(labels == value)
        orientation, position, spacing = geometry
        axes = np.reshape(orientation, (2, 3))
        return (np.asarray(position) + cols.mean() * spacing[1] * axes[0] + rows.mean() * spacing[0] * axes[1])[:2]

    for value in (1, 2):
        source = patient_point(ring.labels, value, (native.orientation, native.position_mm, native.spacing_mm))
        target = patient_point(moved, value, (post.orientation, post.position_mm, post.spacing_mm))
        assert np.hypot(*(source - target)) < 1.0  # within a millimetre, the bump included
    area = [(labels == 1).sum() * m.spacing_mm[0] * m.spacing_mm[1] for labels, m in ((ring.labels, native), (moved, post))]
    assert area[1] == pytest.approx(area[0], rel=0.05)
    clipped = replace(post, position_mm=(22.0, 95.0, 1.0))  # the LV at the post map's first columns: part of the ring outside
    predictions = [None, ring]
    assert borrow_native_rings([clipped, native], predictions, [NO_LV, None]) == {} and predictions[0] is None


def test_a_borrowed_ring_follows_the_heart_to_where_the_post_contrast_map_shows_it():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:96, :96]
    body = 350.0 + 300.0 * ndimage.gaussian_filter(rng.normal(size=(96, 96)), 3.0)  # stays where it is between breath-holds

    def map_of(x, y, blood, myocardium, scale):
        r = np.hypot(cols - x, rows - y)
        values = np.where(r < 7, blood, np.where(r < 12, myocardium, scale * body))
        return (values + rng.normal(0, 10, values.shape)).astype(np.float32)

    native = replace(_slice("native", "native", (0.0, 0.0, 0.0)), pixels=map_of(40, 50, 1600.0, 1000.0, 2.0))
    # another breath-hold: the heart 4 columns left and 3 rows down; ECV ~48 %: myocardium as dark as the blood
    post = replace(_slice("post", "post", (0.0, 0.0, 0.0)), pixels=map_of(36, 53, 420.0, 440.0, 1.0))
    predictions = [None, _ring_at(40.0, 50.0)]
    notes = borrow_native_rings([post, native], predictions, [NO_LV, None])
    rows_, cols_ = np.nonzero(predictions[0].labels == 2)
    assert (cols_.mean(), rows_.mean()) == pytest.approx((36.0, 53.0), abs=0.5)
    assert "moved 7.5 mm to where this map shows the same anatomy" in notes[0] and "check that they fit" in notes[0]
    # a post map that ends 2 columns past where the geometry puts the ring, its heart 8 columns right: matched, a quarter
    # of the ring would leave the map, so nothing is lent (where the geometry put it, all of it was inside)
    edge = replace(post, pixels=np.ascontiguousarray(map_of(48, 53, 420.0, 440.0, 1.0)[:, :54]))
    predictions = [None, _ring_at(40.0, 50.0)]
    assert borrow_native_rings([edge, native], predictions, [NO_LV, None]) == {} and predictions[0] is None
    inside = replace(post, pixels=np.ascontiguousarray(map_of(42, 53, 420.0, 440.0, 1.0)[:, :54]))  # moved 2 columns: still inside
    predictions = [None, _ring_at(40.0, 50.0)]
    assert list(borrow_native_rings([inside, native], predictions, [NO_LV, None])) == [0]


class StackSegmenter:
    """A stand-in segmenter for the search again: the ring ``rings`` gives each image (by identity), and a record of the hints."""

    def __init__(self, rings):
        self.rings, self.calls = rings, []

    def predict_each(self, images, spacings_mm, *, tta, batch_size, kinds, hints):
        self.calls.append(hints)
        return [self.rings.get(id(image)) for image in images], [None if id(image) in self.rings else NO_LV for image in images]


def _stack(positions, study="s"):
    return [
        replace(_slice(f"m{k}", "native", (0.0, 0.0, z)), study=study, pixels=np.ones((96, 96), np.float32))
        for k, z in enumerate(positions)
    ]


def _first_pass(slices, rings):
    predictions = [rings.get(k) for k in range(len(slices))]
    return predictions, [None if p is not None else NO_LV for p in predictions]


def test_a_ring_far_from_where_the_other_maps_show_the_lv_is_searched_again_and_dropped_if_still_far():
    slices = _stack([0.0, 10.0, 20.0, 30.0])
    far = _ring_at(40.0 + 32.0, 50.0)  # 32 pixels of 1.5 mm: 48 mm from the others
    predictions, reasons = _first_pass(slices, {0: _ring_at(40.0, 50.0), 1: _ring_at(42.0, 51.0), 2: _ring_at(39.0, 49.0), 3: far})
    segmenter = StackSegmenter({id(slices[3].pixels): far})
    check_against_stack(segmenter, slices, predictions, reasons, AnalyzeConfig())
    assert segmenter.calls[0][0] == pytest.approx((40.0, 50.0), abs=0.5)  # searched first where the other three show the LV
    assert predictions[3] is None and reasons[3].startswith(NO_LV) and "48 mm" in reasons[3] and "3 other maps" in reasons[3]
    assert all(p is not None for p in predictions[:3]) and reasons[:3] == [None] * 3


def test_a_ring_found_again_where_the_other_maps_show_the_lv_is_taken_and_a_near_ring_is_left_alone():
    slices = _stack([0.0, 10.0, 20.0, 30.0])
    near, there = _ring_at(40.0 + 15.0, 50.0), _ring_at(41.0, 50.0)  # 22.5 mm off: within the limit
    predictions, reasons = _first_pass(slices, {0: _ring_at(40.0, 50.0), 1: _ring_at(40.0, 50.0), 2: near, 3: None})
    segmenter = StackSegmenter({id(slices[3].pixels): there})
    check_against_stack(segmenter, slices, predictions, reasons, AnalyzeConfig())
    assert len(segmenter.calls) == 1 and len(segmenter.calls[0]) == 1  # only the map without a ring is searched again
    assert predictions[3] is there and reasons[3] is None and predictions[2] is near


@pytest.mark.parametrize("case", ["one witness", "witnesses disagree", "doubted witnesses", "another study", "another plane"])
def test_no_stack_check_without_two_agreeing_witnesses_of_the_same_study_and_plane(case):
    slices = _stack([0.0, 10.0, 20.0])
    witnesses = {0: _ring_at(40.0, 50.0), 1: _ring_at(40.0, 50.0)}
    if case == "one witness":
        witnesses = {0: witnesses[0]}
    elif case == "witnesses disagree":
        witnesses[1] = _ring_at(40.0, 50.0 + 40.0)  # 60 mm apart
    elif case == "doubted witnesses":
        witnesses[1] = replace(witnesses[1], doubts=("thin ring", "network unsure"))
    elif case == "another study":
        slices[1] = replace(slices[1], study="another visit")
    else:
        slices[1] = replace(slices[1], orientation=(1.0, 0.0, 0.0, 0.0, 0.0, 1.0))  # a coronal plane
    far = _ring_at(90.0, 50.0)
    predictions, reasons = _first_pass(slices, {**witnesses, 2: far})
    segmenter = StackSegmenter({})
    check_against_stack(segmenter, slices, predictions, reasons, AnalyzeConfig())
    assert segmenter.calls == [] and predictions[2] is far


def test_stack_lv_moves_the_other_rings_onto_the_map_along_its_normal():
    slices = _stack([0.0, 10.0, 20.0])
    slices[2] = replace(slices[2], position_mm=(-15.0, 30.0, 20.0), spacing_mm=(0.75, 0.75))  # another origin, finer pixels
    found = stack_lv(slices, [_ring_at(40.0, 50.0), _ring_at(40.0, 50.0), None], 2)
    assert found is not None and found[1] == 2
    assert found[0] == pytest.approx(((40.0 * 1.5 + 15.0) / 0.75, (50.0 * 1.5 - 30.0) / 0.75), abs=0.5)
