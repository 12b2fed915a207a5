"""T2 and post-contrast maps are searched first where the LV lies on a native map of their slice segmented before them, and borrow its ring when they show none."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from myomap.analyze.discover import MapSlice
from myomap.analyze.patient import (
    SECOND_SEARCH_DOUBT,
    analyze_patient,
    borrow_native_rings,
    check_against_stack,
    predict_native_first,
    same_slice_hints,
    search_native_t1_again,
    stack_lv,
)
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
        _slice("t2_mid", "native", (10.0, 20.0, 0.0), map_type="T2"),  # a T2 ring like the native one: kept, and never lent
    ]
    native = _ring_at(40.0, 50.0)
    predictions, reasons = [None, native, None, _ring_at(41.0, 51.0)], [NO_LV, None, NO_LV, None]
    notes = borrow_native_rings(slices, predictions, reasons)
    assert list(notes) == [0] and "native T1 map of its slice (native_mid.dcm)" in notes[0] and "check" in notes[0]
    assert predictions[2] is None and reasons[2] == NO_LV  # nothing to borrow at the apex
    borrowed = predictions[0]
    assert reasons[0] is None and borrowed.labels.shape == (192, 192) and not borrowed.doubts
    rows, cols = np.nonzero(borrowed.labels == 2)
    assert (cols.mean(), rows.mean()) == pytest.approx((80.0, 100.0), abs=0.5)  # the same patient point, at twice the pixels
    assert (borrowed.labels == 1).sum() == pytest.approx(4 * (native.labels == 1).sum(), rel=0.05)
    np.testing.assert_array_equal(borrowed.probabilities.argmax(axis=0), borrowed.labels)


def test_a_t2_map_without_an_lv_borrows_the_native_t1_ring_and_a_native_t1_map_borrows_nothing():
    slices = [
        _slice("t2", "native", (0.0, 0.0, 0.5), map_type="T2"),
        _slice("t1", "native", (0.0, 0.0, 0.0)),
        _slice("t1_apex", "native", (0.0, 0.0, 20.0)),
        _slice("t2_apex", "native", (0.0, 0.0, 20.0), map_type="T2"),
    ]
    predictions, reasons = [None, _ring_at(40.0, 50.0), None, _ring_at(30.0, 30.0)], [NO_LV, None, NO_LV, None]
    notes = borrow_native_rings(slices, predictions, reasons)
    assert list(notes) == [0] and "native T1 map of its slice (t1.dcm)" in notes[0] and reasons[0] is None
    rows, cols = np.nonzero(predictions[0].labels == 2)
    assert (cols.mean(), rows.mean()) == pytest.approx((40.0, 50.0), abs=0.5)
    assert predictions[2] is None and reasons[2] == NO_LV  # a T2 ring lends to no T1 map: only a native T1 ring is vetted enough


def test_only_a_missing_lv_borrows_and_only_a_sure_native_t1_ring_lends():
    slices = [_slice("post", "post", (0.0, 0.0, 0.0)), _slice("native", "native", (0.0, 0.0, 0.0))]
    ring = _ring_at(40.0, 50.0)
    for reason in ("map is constant (no image)", None):  # a bad image, or a ring of its own like the native one, keeps what it has
        predictions = [None if reason else _ring_at(42.0, 51.0), ring]
        assert borrow_native_rings(slices, predictions, [reason, None]) == {}
    doubted = replace(ring, doubts=("thin ring (mean wall 2.5 mm)", "network unsure (0.80)"))
    predictions = [None, doubted]
    assert borrow_native_rings(slices, predictions, [NO_LV, None]) == {} and predictions[0] is None
    far = [slices[0], _slice("native", "native", (0.0, 0.0, 8.0))]  # another slice position (over 5 mm apart)
    assert borrow_native_rings(far, [None, ring], [NO_LV, None]) == {}
    unplaced = [_slice("post", "post", None), slices[1]]
    assert borrow_native_rings(unplaced, [None, ring], [NO_LV, None]) == {}
    own = [_slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2"), slices[1]]  # a T2 map with a ring of its own keeps it
    assert borrow_native_rings(own, [_ring_at(38.0, 52.0), ring], [None, None]) == {}


def _textured(name, contrast, map_type="T1", seed=0):
    """A placed map with texture (so that the match finds the anatomy) and an LV-like ring at (40, 50)."""
    rng = np.random.default_rng(seed)
    pixels = ndimage.gaussian_filter(rng.normal(1000.0, 200.0, (96, 96)), 2.0).astype(np.float32)
    pixels[_ring_at(40.0, 50.0).labels == 1] = 600.0
    return replace(_slice(name, contrast, (0.0, 0.0, 0.0), map_type=map_type), pixels=pixels)


def test_a_ring_that_contradicts_the_native_ring_of_its_slice_is_replaced_by_it_and_flagged():
    native = _textured("native", "native")
    post, t2 = replace(native, path=Path("post.dcm"), contrast="post"), replace(native, path=Path("t2.dcm"), map_type="T2")
    elsewhere, tiny, alike = _ring_at(70.0, 20.0), _ring_at(40.0, 50.0), _ring_at(41.0, 50.0)
    tiny.labels[tiny.labels == 1] = 0  # a blood pool with a sliver of wall: under 10 % of the native myocardium
    tiny.labels[(tiny.labels == 2) & (np.arange(96)[None, :] > 45)] = 1
    predictions = [elsewhere, tiny, alike, _ring_at(40.0, 50.0)]
    notes = borrow_native_rings([post, t2, replace(post, path=Path("post2.dcm")), native], predictions, [None] * 4)
    assert sorted(notes) == [0, 1] and all("overlapped the native T1 ring of its slice only" in notes[k] for k in notes)
    assert "check that they fit" in notes[0]
    for k in (0, 1):
        rows, cols = np.nonzero(predictions[k].labels == 2)
        assert (cols.mean(), rows.mean()) == pytest.approx((40.0, 50.0), abs=0.5)
    assert predictions[2] is alike  # a ring like the native one stays, unmatched (no half-second match for it)


def test_a_cines_phases_neither_lend_nor_borrow():
    """The heart's shape changes with the cardiac phase, and a map is acquired in one: no ring crosses between them."""
    native = _textured("native", "native")
    post, cine = replace(native, path=Path("post.dcm"), contrast="post"), replace(native, path=Path("cine.dcm"), cine=True)
    predictions = [None, _ring_at(40.0, 50.0)]
    assert borrow_native_rings([post, cine], predictions, [NO_LV, None]) == {} and predictions[0] is None
    post_cine = replace(cine, contrast="post")  # a cine acquired after gadolinium, as its header says
    predictions = [None, _ring_at(40.0, 50.0)]
    assert borrow_native_rings([post_cine, native], predictions, [NO_LV, None]) == {} and predictions[0] is None
    predictions = [None, _ring_at(40.0, 50.0)]  # the same maps without the cine mark: the ring is lent
    assert list(borrow_native_rings([post, native], predictions, [NO_LV, None])) == [0]
    recorder = Recorder({"cine": _ring_at(40.0, 50.0)})  # segmented with the tests every image gets, not a native T1 map's
    predict_native_first(recorder, [cine, replace(cine, contrast="post")], AnalyzeConfig())
    assert [kinds for kinds, _ in recorder.calls] == [["cine"], ["cine"]]
    t2 = replace(native, path=Path("t2.dcm"), map_type="T2")  # nor does a phase say where to search first
    assert same_slice_hints([t2, cine], [None, _ring_at(40.0, 50.0)], [0]) == {0: None}
    assert same_slice_hints([t2, native], [None, _ring_at(40.0, 50.0)], [0])[0] == pytest.approx((40.0, 50.0), abs=0.5)


def test_nifti_maps_lend_only_within_their_file():
    # Two NIfTI files with a converter's placeholder affine: their first slices seem to share a plane, whatever they show.
    t1 = replace(_slice("t1", "native", (0.0, 0.0, 0.0)), path=Path("T1.nii.gz"), origin="nifti", frame=0)
    t2 = replace(_slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2"), path=Path("T2.nii.gz"), origin="nifti", frame=0)
    predictions, reasons = [_ring_at(40.0, 50.0), None], [None, NO_LV]
    assert borrow_native_rings([t1, t2], predictions, reasons) == {} and predictions[1] is None
    same_file = replace(t2, path=t1.path, frame=1)  # a 4-D file's volumes share its true geometry
    assert list(borrow_native_rings([t1, same_file], predictions, reasons)) == [1]


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
    """A stand-in segmenter: each image's ring (by identity) in ``first`` on a search without hints, in ``again`` on one with
    them (the search again of the exam check), and a record of the hints of each search with them."""

    def __init__(self, again=None, first=None):
        self.again, self.first, self.calls = again or {}, first or {}, []

    def predict_each(self, images, spacings_mm, *, tta, batch_size, kinds, hints):
        hinted = any(h is not None for h in hints)
        if hinted:
            self.calls.append(hints)
        found = [(self.again if hinted else self.first).get(id(image)) for image in images]
        return found, [None if f is not None else NO_LV for f in found]


def _stack(positions, spacing=(1.5, 1.5)):
    """Native T1 maps of one study at these heights (mm) along the axial normal."""
    return [_slice(f"m{k}", "native", (0.0, 0.0, z), spacing=spacing) for k, z in enumerate(positions)]


def _checked(slices, rings, again=None):
    predictions = [rings.get(k) for k in range(len(slices))]
    reasons = [None if p is not None else NO_LV for p in predictions]
    segmenter = StackSegmenter({id(slices[k].pixels): ring for k, ring in (again or {}).items()})
    notes = check_against_stack(segmenter, slices, predictions, reasons, AnalyzeConfig())
    return predictions, reasons, notes, segmenter.calls


LV = (40.0, 50.0)


def test_a_ring_far_from_where_the_other_slices_show_the_lv_is_searched_again_and_dropped_if_still_far():
    far = _ring_at(LV[0] + 32.0, LV[1])  # 32 pixels of 1.5 mm: 48 mm from the others
    rings = {0: _ring_at(*LV), 1: _ring_at(42.0, 51.0), 2: _ring_at(39.0, 49.0), 3: far}
    predictions, reasons, notes, calls = _checked(_stack([0.0, 10.0, 20.0, 30.0]), rings, again={3: far})
    assert len(calls) == 1 and calls[0][0] == pytest.approx(LV, abs=1.0)  # only map 3, searched first where the others show the LV
    assert predictions[3] is None and reasons[3] == NO_LV  # exactly: a post-contrast map could still borrow its native ring
    assert notes[3].startswith(NO_LV) and "48 mm" in notes[3] and "3 other slice positions" in notes[3]
    assert all(p is not None for p in predictions[:3]) and reasons[:3] == [None] * 3 and set(notes) == {3}


def test_a_ring_found_again_where_the_other_slices_show_the_lv_is_taken_for_review_and_a_near_ring_is_left_alone():
    near, there = _ring_at(LV[0] + 15.0, LV[1]), _ring_at(41.0, 50.0)  # 22.5 mm off: within the limit
    slices = _stack([0.0, 10.0, 20.0, 30.0])
    slices.append(replace(slices[0], path=Path("bad.dcm"), position_mm=(0.0, 0.0, 40.0)))
    rings = {0: _ring_at(*LV), 1: _ring_at(*LV), 2: near}  # 3 and 4 without a ring; 4 unreadable
    predictions, reasons = [rings.get(k) for k in range(5)], [None, None, None, NO_LV, "image has a single constant value"]
    segmenter = StackSegmenter({id(slices[3].pixels): there})
    notes = check_against_stack(segmenter, slices, predictions, reasons, AnalyzeConfig())
    assert len(segmenter.calls) == 1 and len(segmenter.calls[0]) == 1  # neither the near ring nor the unreadable map
    assert predictions[3] is there and reasons[3] is None and "second search" in notes[3] and "no ring was found at first" in notes[3]
    assert predictions[2] is near and set(notes) == {3} and reasons[4] == "image has a single constant value"


def test_the_maps_of_one_slice_position_err_together_and_do_not_vouch_for_each_other():
    slices = _stack([0.0, 10.0, 20.0, 30.0])
    slices.append(_slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2"))  # the T2 map of slice 0
    far = _ring_at(90.0, 50.0)  # 75 mm away, on both maps of slice 0 (the T2 map searched where the T1 map found it)
    rings = {0: far, 1: _ring_at(*LV), 2: _ring_at(*LV), 3: _ring_at(*LV), 4: far}
    predictions, reasons, notes, calls = _checked(slices, rings, again={0: far, 4: far})
    assert len(calls) == 1 and len(calls[0]) == 2  # slices 1-3 are left alone: slice 0 is outvoted, not a second witness
    assert predictions[0] is None and predictions[4] is None and all(predictions[k] is not None for k in (1, 2, 3))


@pytest.mark.parametrize(
    "case",
    ["one other position", "two positions apart", "doubted", "another study", "post-contrast", "tilted 15 degrees", "another NIfTI file"],
)
def test_no_stack_check_without_two_agreeing_slice_positions_of_the_same_study_and_plane(case):
    slices = _stack([0.0, 10.0, 20.0])
    witnesses = {0: _ring_at(*LV), 1: _ring_at(*LV)}
    if case == "one other position":
        slices[1] = replace(slices[1], position_mm=(0.0, 0.0, 3.0))  # the same slice as map 0
    elif case == "two positions apart":
        witnesses[1] = _ring_at(LV[0], LV[1] + 18.0)  # 27 mm apart
    elif case == "doubted":
        witnesses[1] = replace(witnesses[1], doubts=("thin ring", "network unsure"))
    elif case == "another study":
        slices[1] = replace(slices[1], study="another visit")
    elif case == "post-contrast":
        slices[1] = replace(slices[1], contrast="post")
    elif case == "tilted 15 degrees":
        slices[1] = _tilted(slices[1], 15.0)
    else:
        slices = [replace(m, origin="nifti", path=Path(f"{m.path.stem}.nii.gz")) for m in slices]
    far = _ring_at(90.0, 50.0)
    predictions, _, notes, calls = _checked(slices, {**witnesses, 2: far})
    assert calls == [] and predictions[2] is far and notes == {}


def _tilted(item, degrees):
    """``item`` turned about the x axis by ``degrees``, placed so that its ring at ``LV`` lands on ``LV`` of the axial maps."""
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    orientation = (1.0, 0.0, 0.0, 0.0, c, s)
    y_mm = LV[1] * item.spacing_mm[0]
    return replace(item, orientation=orientation, position_mm=(0.0, y_mm - y_mm * c, item.position_mm[2] - y_mm * s))


def test_a_witness_tilted_within_10_degrees_counts():
    slices = _stack([0.0, 10.0, 20.0])
    slices[1] = _tilted(slices[1], 5.0)
    far = _ring_at(90.0, 50.0)
    predictions, _, notes, calls = _checked(slices, {0: _ring_at(*LV), 1: _ring_at(*LV), 2: far}, again={2: far})
    assert calls[0][0] == pytest.approx(LV, abs=0.5) and predictions[2] is None


@pytest.mark.parametrize("axis, dropped", [("columns", False), ("rows", True)])
def test_distances_in_mm_on_unequal_pixels(axis, dropped):
    slices = _stack([0.0, 10.0, 20.0], spacing=(2.0, 1.0))  # rows of 2 mm, columns of 1 mm
    off = _ring_at(LV[0] + 30.0, LV[1]) if axis == "columns" else _ring_at(LV[0], LV[1] + 30.0)  # 30 or 60 mm away
    predictions, _, _, _ = _checked(slices, {0: _ring_at(*LV), 1: _ring_at(*LV), 2: off}, again={2: off})
    assert (predictions[2] is None) == dropped


def test_a_map_without_a_usable_geometry_neither_witnesses_nor_breaks_the_check():
    slices = _stack([0.0, 10.0, 20.0, 30.0])
    slices[1] = replace(slices[1], position_mm=(0.0, float("nan"), 10.0))
    far = _ring_at(90.0, 50.0)
    rings = {0: _ring_at(*LV), 1: _ring_at(*LV), 2: _ring_at(*LV), 3: far}
    predictions, _, _, calls = _checked(slices, rings, again={3: far})
    assert predictions[3] is None and len(calls[0]) == 1  # two witnesses left, and map 1 itself is not checked
    slices[3] = replace(slices[3], orientation=(1.0, 0.0, 0.0, 1.0, 0.0, 0.0))  # row and column directions parallel
    assert stack_lv(slices, [_ring_at(*LV)] * 3 + [far], 3) is None


def test_stack_lv_moves_the_other_rings_onto_the_map_along_its_normal():
    slices = _stack([0.0, 10.0, 20.0])
    slices[2] = replace(slices[2], position_mm=(-15.0, 30.0, 20.0), spacing_mm=(0.75, 0.75), pixels=np.ones((192, 192), np.float32))
    found = stack_lv(slices, [_ring_at(*LV), _ring_at(*LV), None], 2)
    assert found is not None and found[1] == 2
    assert found[0] == pytest.approx(((40.0 * 1.5 + 15.0) / 0.75, (50.0 * 1.5 - 30.0) / 0.75), abs=0.5)


@pytest.mark.parametrize("found_again", [False, True])
def test_analyze_patient_reports_a_dropped_ring_as_an_error_and_flags_a_ring_found_again(tmp_path, found_again):
    slices = [
        replace(m, pixels=np.random.default_rng(k).uniform(900, 1100, (96, 96)).astype(np.float32))
        for k, m in enumerate(_stack([0.0, 10.0, 20.0, 30.0]))
    ]
    far, there = _ring_at(LV[0] + 32.0, LV[1]), _ring_at(*LV)
    first = {id(m.pixels): ring for m, ring in zip(slices, (_ring_at(*LV), _ring_at(*LV), _ring_at(*LV), far))}
    segmenter = StackSegmenter({id(slices[3].pixels): there if found_again else far}, first)
    errors: list[str] = []
    results = analyze_patient("p", slices, segmenter, tmp_path, AnalyzeConfig(seg=False), errors, None, set())
    if found_again:
        assert results[3].qc.review and any("second search" in r for r in results[3].qc.reasons)
        assert not any("m3" in e for e in errors)
    else:
        assert results[3].analysis is None and any("m3.dcm" in e and "lies 48 mm from where 3 other slice positions" in e for e in errors)
    assert all(r.analysis is not None and not any("second search" in x for x in r.qc.reasons) for r in results[:3])


def _with_rv_pool() -> np.ndarray:
    """A map with the LV of :func:`_ring_at` (40, 50) and an RV blood pool hugging it on one side: its insertion can be found."""
    rows, cols = np.mgrid[:96, :96]
    radius, angle = np.hypot(cols - 40.0, rows - 50.0), np.degrees(np.arctan2(50.0 - rows, cols - 40.0)) % 360
    labels = _ring_at(40.0, 50.0).labels
    pixels = np.select([labels == 1, labels == 2], [1000.0, 1600.0], 400.0)
    pixels[(radius > 13) & (radius < 20) & (angle > 100) & (angle < 200)] = 1600.0
    return pixels.astype(np.float32)


@pytest.mark.parametrize("cine", [False, True])
def test_a_post_contrast_map_takes_its_rv_direction_from_a_native_map_of_its_slice_but_not_from_a_cine(tmp_path, cine):
    native = replace(_slice("native", "native", (0.0, 0.0, 0.0)), pixels=_with_rv_pool(), cine=cine)
    post = replace(_slice("post", "post", (0.0, 0.0, 0.0)), pixels=_with_rv_pool())
    segmenter = StackSegmenter(first={id(native.pixels): _ring_at(40.0, 50.0), id(post.pixels): _ring_at(40.0, 50.0)})
    results = analyze_patient("p", [native, post], segmenter, tmp_path, AnalyzeConfig(seg=False), [], None, set())
    assert results[0].reference_method == "rv-blood-pool"
    assert (results[1].reference_method == "native-map") != cine  # a cine's heart is at another phase than the map's


def test_a_slice_position_speaks_with_its_native_t1_ring_before_its_t2_ring():
    slices = _stack([0.0, 10.0, 20.0])
    slices.append(_slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2"))  # slice 0's T2 map, its ring on something else
    far = _ring_at(90.0, 50.0)  # 75 mm away: the median of slice 0's two rings would lie 37 mm off
    predictions, _, _, calls = _checked(slices, {0: _ring_at(*LV), 1: _ring_at(*LV), 2: far, 3: _ring_at(90.0, 50.0)}, again={2: far})
    assert calls and calls[0][0] == pytest.approx(LV, abs=0.5) and predictions[2] is None


def test_a_post_contrast_map_takes_the_direction_of_the_rv_insertion_found_on_its_native_map():
    from myomap.analyze.patient import from_native_map
    from myomap.io.contours import Contours

    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    epi = np.column_stack([40 + 12 * np.cos(t), 50 + 12 * np.sin(t)])
    native = _slice("native_mid", "native", (10.0, 20.0, 0.0))
    found = [(native, Contours(epi, epi * 0.6 + np.array([16.0, 20.0]), rv_insertion=(40.0, 38.0)), (7,))]  # straight up (90 degrees)
    # The post map: finer pixels, its image 6 mm further right and down: the direction stays, the pixels differ.
    post = _slice("post_mid", "post", (4.0, 14.0, 0.5), spacing=(0.75, 0.75), shape=(192, 192))
    angle, left_out = from_native_map(post, found)
    assert angle == pytest.approx(90.0, abs=1e-6) and left_out == (7,)  # both maps mid
    assert from_native_map(replace(post, contrast="native"), found) is None  # native maps find their own
    assert from_native_map(_slice("post_apex", "post", (10.0, 20.0, 20.0)), found) is None  # another slice
    assert from_native_map(replace(post, position_mm=None), found) is None
    # Each stack labels its own levels: the slice mid in the native stack may be basal in a shorter post stack.
    assert from_native_map(replace(post, slice_position="basal"), found)[1] == (1,)
    assert from_native_map(replace(post, slice_position="apical"), found)[1] == ()  # four sectors match no six


def test_a_map_on_the_slice_of_a_map_mirrored_against_its_header_is_said_to_be_too():
    from myomap.analyze.patient import on_a_mirrored_slice

    native = _slice("native_mid", "native", (10.0, 20.0, 0.0))
    mirrored = [(native, (40.0, 50.0))]
    assert on_a_mirrored_slice(_slice("post_mid", "post", (10.0, 20.0, 0.5)), mirrored)  # the same slice, exported the same way
    assert not on_a_mirrored_slice(_slice("post_apex", "post", (10.0, 20.0, 20.0)), mirrored)  # another slice
    assert not on_a_mirrored_slice(native, mirrored)  # the map itself
    assert not on_a_mirrored_slice(replace(_slice("post_mid", "post", (10.0, 20.0, 0.5)), position_mm=None), mirrored)


def test_the_stack_check_of_a_cine_finds_each_ring_centre_once(monkeypatch):
    from myomap.analyze import patient

    # 4 slice positions x 5 phases, each phase a map of its own; one phase of the last position on something else
    slices = [
        replace(m, path=Path(f"{m.path.stem}_{t}.dcm"), pixels=m.pixels.copy()) for m in _stack([0.0, 10.0, 20.0, 30.0]) for t in range(5)
    ]
    far = _ring_at(LV[0] + 32.0, LV[1])
    rings = {k: far if k == 17 else _ring_at(*LV) for k in range(len(slices))}
    centres, centre = [], patient._centre
    monkeypatch.setattr(patient, "_centre", lambda labels: centres.append(1) or centre(labels))
    predictions, reasons, notes, calls = _checked(slices, rings, again={17: far})
    assert len(calls) == 1 and calls[0] == [pytest.approx(LV, abs=1.0)] and set(notes) == {17} and "3 other slice positions" in notes[17]
    assert predictions[17] is None and reasons[17] == NO_LV and all(p is not None for k, p in enumerate(predictions) if k != 17)
    assert len(centres) <= 2 * len(slices) + 1  # as a witness, as the ring checked, and the ring found again: not per map and witness


def test_analyze_patient_moves_the_progress_as_each_slice_is_written(tmp_path):
    slices = [
        replace(m, pixels=np.random.default_rng(k).uniform(900, 1100, (96, 96)).astype(np.float32), order=k)  # a folder each
        for k, m in enumerate(_stack([0.0, 10.0, 20.0]))
    ]
    first = {id(m.pixels): _ring_at(*LV) for m in slices[:2]}  # no LV on the last map, nor on its second search
    files_at_each_step = []

    def progress(n):
        files_at_each_step.append((n, sum(p.is_file() for p in tmp_path.rglob("*"))))

    errors: list[str] = []
    analyze_patient("p", slices, StackSegmenter(first=first), tmp_path, AnalyzeConfig(seg=False), errors, progress, set())
    steps, files = zip(*files_at_each_step)
    assert steps == (1, 1, 1) and 0 < files[0] < files[1] == files[2]  # the first slice's files, then the second's; the third failed
    assert len(errors) == 1 and "m2.dcm" in errors[0]


def test_a_native_t1_map_without_an_lv_is_searched_again_where_the_t2_map_then_the_post_map_of_its_slice_shows_it():
    slices = [
        _slice("t1_mid", "native", (0.0, 0.0, 0.0)),
        _slice("t2_mid", "native", (0.0, 0.0, 0.5), map_type="T2"),
        _slice("post_mid", "post", (0.0, 0.0, 0.0)),
        _slice("t1_base", "native", (0.0, 0.0, 10.0)),
        _slice("post_base", "post", (0.0, 0.0, 10.0)),
        _slice("t1_apex", "native", (0.0, 0.0, 20.0)),  # nothing else at the apex: no second search
    ]
    predictions = [None, _ring_at(30.0, 60.0), _ring_at(50.0, 50.0), None, _ring_at(45.0, 40.0), None]
    reasons = [NO_LV, None, None, NO_LV, None, NO_LV]
    recorder = Recorder({"T1": _ring_at(31.0, 59.0)})
    search_native_t1_again(recorder, slices, predictions, reasons, AnalyzeConfig())
    ((kinds, hints),) = recorder.calls
    assert kinds == ["T1", "T1"] and hints[0] == pytest.approx((30.0, 60.0), abs=0.5)  # the T2 map's LV before the post map's
    assert hints[1] == pytest.approx((45.0, 40.0), abs=0.5)  # no T2 map at the base: the post-contrast map's LV
    assert reasons[0] is None and predictions[0].doubts == (SECOND_SEARCH_DOUBT,) == predictions[3].doubts  # flagged for review
    assert predictions[5] is None and reasons[5] == NO_LV


def test_a_ring_of_the_second_search_lends_nothing_so_a_wrong_t2_ring_cannot_replace_a_post_maps_own_ring():
    """The T2 ring lay on something else (a kidney), the T1 ring followed it: it must not overwrite the post map's ring."""
    slices = [
        _slice("t1", "native", (0.0, 0.0, 0.0)),
        _slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2"),
        _slice("post", "post", (0.0, 0.0, 0.0)),
    ]
    predictions, reasons = [None, _ring_at(25.0, 70.0), _ring_at(55.0, 45.0)], [NO_LV, None, None]
    search_native_t1_again(Recorder({"T1": _ring_at(25.0, 70.0)}), slices, predictions, reasons, AnalyzeConfig())
    own = predictions[2]
    assert borrow_native_rings(slices, predictions, reasons) == {} and predictions[2] is own
    assert same_slice_hints(slices, predictions, [2])[2] == pytest.approx((25.0, 70.0), abs=0.5)  # the T2 ring's, not the T1's


def test_the_second_search_on_a_native_t1_map_keeps_no_ring_the_t1_map_does_not_show_and_asks_nothing_of_other_maps():
    slices = [_slice("t1", "native", (0.0, 0.0, 0.0)), _slice("t2", "native", (0.0, 0.0, 0.0), map_type="T2")]
    doubted = replace(_ring_at(30.0, 60.0), doubts=("thin ring (mean wall 2.5 mm)", "network unsure (0.80)"))
    recorder = Recorder({})  # the T1 map's own search fails again (its image check, in the real segmenter)
    for predictions in ([None, _ring_at(30.0, 60.0)], [None, doubted]):
        reasons = [NO_LV, None]
        search_native_t1_again(recorder, slices, predictions, reasons, AnalyzeConfig())
        assert predictions[0] is None  # (the stand-in gives no reason; the real segmenter says NO_LV again)
    assert len(recorder.calls) == 1  # a doubted T2 ring gives no hint, so no second search at all
    bad, why = [None, _ring_at(30.0, 60.0)], ["map is constant (no image)", None]
    search_native_t1_again(Recorder({"T1": _ring_at(30.0, 60.0)}), slices, bad, why, AnalyzeConfig())
    assert bad[0] is None and why[0] == "map is constant (no image)"
