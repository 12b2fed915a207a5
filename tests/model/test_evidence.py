"""Choosing between LV candidates: image evidence for a ring being the LV, and the order candidates are tried in."""

from dataclasses import dataclass, replace

import numpy as np
import pytest

from myomap.model import locate
from myomap.model.evidence import MAX_SURROUND_LIKE, MIN_NATIVE_T1_BLOOD_RATIO, RingEvidence, looks_like_lv, ring_evidence
from myomap.model.locate import NO_LV, candidates
from myomap.model.window import Window

SPACING = (1.0, 1.0)


def _scene(ring_value, blood_value, surround_value, *, size=96, spacing=SPACING, seed=0):
    """An image with one ring (epicardial radius 18 mm, endocardial 12 mm) at the centre, and its labels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    r_mm = np.hypot((x - size / 2) * spacing[1], (y - size / 2) * spacing[0])
    labels = np.where(r_mm < 12, 2, np.where(r_mm < 18, 1, 0)).astype(np.uint8)
    image = np.select([labels == 2, labels == 1], [blood_value, ring_value], surround_value) + rng.normal(0, 20, (size, size))
    return image, labels


def test_an_lv_differs_from_its_blood_and_its_surroundings():
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)  # native T1: fat and lung around
    evidence = ring_evidence(image, labels > 0, labels, SPACING)
    assert evidence.surround_like < 0.05 and evidence.blood_like < 0.05
    assert evidence.myocardium_mm2 == pytest.approx(np.pi * (18**2 - 12**2), rel=0.05)
    assert looks_like_lv(evidence) and evidence.problem() is None


@pytest.mark.parametrize("scar_degrees", [0, 90, 140])
def test_a_scar_as_dark_as_the_blood_leaves_a_post_contrast_lv_a_sure_lv(scar_degrees):
    # Post-contrast T1: blood 330 ms, myocardium 480 ms, a transmural infarct at the blood's value; liver-like surroundings.
    image, labels = _scene(ring_value=480.0, blood_value=330.0, surround_value=600.0)
    y, x = np.mgrid[: labels.shape[0], : labels.shape[1]]
    sector = np.abs(np.degrees(np.arctan2(y - 48, x - 48))) < scar_degrees / 2
    image = np.where((labels == 1) & sector, image - 150.0, image)  # the scar keeps the ring's noise
    evidence = ring_evidence(image, labels > 0, labels, SPACING, kind="T1-post")
    assert evidence.blood_like < 0.15 and evidence.surround_like < 0.15
    assert evidence.problem() is None  # the 20th-80th percentiles as the range took 46 % of the blood for myocardium at 140 degrees


def test_a_ring_carved_out_of_an_organ_is_not_an_lv():
    # A dark vessel inside the liver, drawn as a ring: the "myocardium" is liver and so is all that surrounds it.
    image, labels = _scene(ring_value=500.0, blood_value=300.0, surround_value=500.0)
    evidence = ring_evidence(image, labels > 0, labels, SPACING)
    assert evidence.surround_like == pytest.approx(0.6, abs=0.1) and evidence.surround_like > MAX_SURROUND_LIKE
    assert not looks_like_lv(evidence) and not looks_like_lv(evidence, strict=False)
    assert "surroundings" in evidence.problem()


def test_a_solid_disc_is_not_a_sure_lv():
    image, labels = _scene(ring_value=800.0, blood_value=800.0, surround_value=100.0)
    evidence = ring_evidence(image, labels > 0, labels, SPACING)
    assert evidence.blood_like == pytest.approx(0.6, abs=0.1) and "blood pool" in evidence.problem()
    assert evidence.problem(strict=False) is None  # a badly segmented LV looks the same: other candidates go first, that is all


def test_a_ring_without_blood_or_myocardium():
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    no_blood = np.where(labels == 2, 1, labels).astype(np.uint8)
    assert ring_evidence(image, no_blood > 0, no_blood, SPACING).problem(strict=False) == "no blood pool inside the ring"
    only_blood = np.where(labels == 1, 2, labels).astype(np.uint8)
    assert ring_evidence(image, only_blood > 0, only_blood, SPACING) is None and not looks_like_lv(None)


def test_on_a_native_t1_map_the_blood_must_be_brighter_than_the_ring():
    # A vertebral body in the paraspinal muscles: a dark centre in a brighter rim, with fat and lung around.
    vertebra, labels = _scene(ring_value=1100.0, blood_value=500.0, surround_value=300.0)
    evidence = ring_evidence(vertebra, labels > 0, labels, SPACING, kind="T1")
    assert evidence.blood_ratio == pytest.approx(500 / 1100, rel=0.05)
    assert not looks_like_lv(evidence, strict=False) and "not brighter" in evidence.problem(strict=False)
    # The same picture is a post-contrast LV (blood ~330 ms, myocardium ~480 ms, scaled): nothing is asked of it there.
    assert looks_like_lv(ring_evidence(vertebra, labels > 0, labels, SPACING))
    assert looks_like_lv(ring_evidence(vertebra, labels > 0, labels, SPACING, kind="T1-post"))
    # A cine's blood is bright too (bSSFP): the test holds for it.
    assert "not brighter" in ring_evidence(vertebra, labels > 0, labels, SPACING, kind="cine").problem(strict=False)
    lv, labels = _scene(ring_value=1000.0, blood_value=1180.0, surround_value=300.0)  # the lowest ratio of a noisy phantom LV
    evidence = ring_evidence(lv, labels > 0, labels, SPACING, kind="T1")
    assert evidence.blood_ratio > MIN_NATIVE_T1_BLOOD_RATIO and looks_like_lv(evidence, strict=False)


def test_a_saturated_blood_pool_of_a_windowed_picture_passes_the_native_t1_check():
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    top = 1.08 * 1000.0  # a display window cutting into the myocardium: the blood pool and part of the ring saturated
    picture = np.round(np.clip(image, 0.0, top) / top * 255.0)
    evidence = ring_evidence(picture, labels > 0, labels, SPACING, kind="T1")
    assert evidence.blood_ratio == np.inf and looks_like_lv(evidence, strict=False)
    # the same values kept in full (many levels): the measured ratio stands and fails
    values = np.clip(image, 0.0, top) + np.linspace(0.0, 1e-3, image.size).reshape(image.shape)
    assert not looks_like_lv(ring_evidence(values, labels > 0, labels, SPACING, kind="T1"), strict=False)


def test_a_ratio_that_cannot_be_measured_fails_the_native_t1_check():
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    for failed in (np.nan, 0.0):  # a blood pool of failed fits, stored as NaN or as 0
        image[labels == 2] = failed
        evidence = ring_evidence(image, labels > 0, labels, SPACING, kind="T1")
        assert np.isnan(evidence.blood_ratio) and not looks_like_lv(evidence, strict=False)
    image[(labels == 2) & (np.arange(image.shape[1]) % 2 == 0)] = 1600.0  # half of it fitted: its zeros do not count
    assert ring_evidence(image, labels > 0, labels, SPACING, kind="T1").blood_ratio == pytest.approx(1.6, rel=0.05)


def test_a_ring_in_a_map_masked_with_nan_around_it_is_judged_by_its_own_pixels():
    """A map masked to the heart (NaN outside) has no surroundings to compare: nothing there looks like the wall."""
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    masked = image.copy()
    masked[labels == 0] = np.nan
    evidence = ring_evidence(masked, labels > 0, labels, SPACING, kind="T1")
    assert evidence.surround_like == 0.0 and looks_like_lv(evidence, strict=True)
    r_mm = np.hypot(*(np.mgrid[: image.shape[0], : image.shape[1]] - image.shape[0] / 2)) * SPACING[0]
    masked[(r_mm > 20.0) & (r_mm < 21.0)] = 1000.0  # a thin rim of the masked surroundings like the wall
    assert ring_evidence(masked, labels > 0, labels, SPACING, kind="T1").surround_like < 0.3  # a share of the whole band
    masked[labels == 2] = np.nan  # its blood pool masked too
    assert ring_evidence(masked, labels > 0, labels, SPACING, kind="T2").blood_like == 0.0


def test_two_doubts_are_handed_on_for_native_t1_and_t2_maps_only():
    # A disc inside a larger organ of nearly the same value, segmented with little conviction.
    image, labels = _scene(ring_value=1000.0, blood_value=1250.0, surround_value=1020.0)
    unsure = np.stack([labels == 0, 0.6 * (labels == 1), labels == 2]).astype(np.float32)
    for kind, doubted in (("T1", True), ("T2", True), ("T1-post", False), (None, False)):
        evidence = ring_evidence(image, labels > 0, labels, SPACING, kind=kind, probabilities=unsure)
        assert evidence.myocardium_probability == pytest.approx(0.6)
        assert evidence.surround_like > 0.3 and evidence.blood_like < 0.15  # two of three witnesses doubt it
        assert bool(evidence.doubts()) == doubted, kind
    sure = np.stack([labels == 0, labels == 1, labels == 2]).astype(np.float32)
    assert ring_evidence(image, labels > 0, labels, SPACING, kind="T1", probabilities=sure).doubts() == ()  # one doubt is not enough


def test_a_thin_rim_drawn_with_little_conviction_is_doubted():
    # A bright disc drawn twice: with a 2.5 mm rim of its edge for a wall (a stomach taken for an LV), and with a 6 mm wall.
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    r_mm = np.hypot(*(np.mgrid[:96, :96] - 48.0))
    rim = np.where(r_mm < 12, 2, np.where(r_mm < 14.5, 1, 0)).astype(np.uint8)
    for drawn, thin in ((rim, True), (labels, False)):
        unsure = np.stack([drawn == 0, 0.8 * (drawn == 1), drawn == 2]).astype(np.float32)
        evidence = ring_evidence(image, drawn > 0, drawn, SPACING, kind="T2", probabilities=unsure)
        assert evidence.annulus_wall_mm == pytest.approx(2.5 if thin else 6.0, abs=0.5)
        # With the network's doubt, thinness is the second witness; a doubt flags the ring, never rejects it.
        assert [d.split(" (")[0] for d in evidence.doubts()] == (["network unsure", "thin ring"] if thin else [])
        assert looks_like_lv(evidence)


@pytest.mark.parametrize(("wall_mm", "doubted"), [(3.4, True), (3.6, False), (np.nan, False)])
def test_the_thin_ring_limit_is_3_5_mm(wall_mm, doubted):
    blood = np.pi * 15.0**2
    myocardium = np.pi * (15.0 + wall_mm) ** 2 - blood  # NaN for an unmeasured ring: no doubt
    evidence = RingEvidence(myocardium, blood, surround_like=0.0, blood_like=0.0, myocardium_probability=0.5, kind="T1")
    assert evidence.annulus_wall_mm == pytest.approx(wall_mm, nan_ok=True)
    assert bool(evidence.doubts()) == doubted  # the network's doubt plus thinness


def test_an_unstable_ring_on_a_native_t1_or_t2_map_is_no_lv():
    # A clear LV in the image, but a network that is unsure of it and whose augmentations disagree.
    image, labels = _scene(ring_value=1000.0, blood_value=1600.0, surround_value=300.0)
    unsure = np.stack([labels == 0, 0.6 * (labels == 1), labels == 2]).astype(np.float32)
    for kind, rejected in (("T1", True), ("T2", True), ("T1-post", False), ("cine", False), (None, False)):
        evidence = ring_evidence(image, labels > 0, labels, SPACING, kind=kind, probabilities=unsure, agreement=0.6)
        assert looks_like_lv(evidence, strict=False) != rejected, kind
        if rejected:
            assert "augmentations disagree (agreement 0.60)" in evidence.problem()
    # Either witness alone is not enough, and without test-time augmentation there is no agreement to judge.
    for agreement, probabilities in (
        (0.9, unsure),
        (0.6, np.stack([labels == 0, labels == 1, labels == 2]).astype(np.float32)),
        (None, unsure),
    ):
        assert looks_like_lv(ring_evidence(image, labels > 0, labels, SPACING, kind="T2", probabilities=probabilities, agreement=agreement))


def test_the_surrounding_band_is_measured_in_mm():
    # A 1.5 mm rim of ring-like tissue just outside the epicardium lies inside the 2 mm partial-volume margin,
    # whatever the pixel size, rows and columns alike.
    for spacing in ((1.0, 1.0), (0.5, 1.0)):
        image, labels = _scene(1000.0, 1600.0, 300.0, size=int(96 / spacing[1]) if spacing[1] < 1 else 96, spacing=spacing)
        size = image.shape[0]
        y, x = np.mgrid[:size, :size]
        r_mm = np.hypot((x - size / 2) * spacing[1], (y - size / 2) * spacing[0])
        image[(r_mm >= 18) & (r_mm < 19.5)] = 1000.0
        assert ring_evidence(image, labels > 0, labels, spacing).surround_like < 0.1


def test_candidates_come_best_first_with_their_regions():
    labels = np.zeros((64, 64), np.uint8)
    y, x = np.mgrid[:64, :64]
    for (cx, cy), (r_epi, r_endo) in (((15, 15), (6, 3)), ((45, 45), (10, 5))):
        r = np.hypot(x - cx, y - cy)
        labels[r < r_epi] = 1
        labels[r < r_endo] = 2
    probabilities = np.stack([labels == 0, labels == 1, labels == 2]).astype(np.float32)
    found = candidates(labels, probabilities, spacing_mm=1.0)
    assert [c.centre_xy for c in found] == [pytest.approx((45, 45), abs=0.5), pytest.approx((15, 15), abs=0.5)]
    assert found[0].score > found[1].score and found[0].region[45, 45] and not found[0].region[15, 15]


SURE = RingEvidence(500.0, 400.0, surround_like=0.1, blood_like=0.0)
DOUBTFUL = RingEvidence(500.0, 400.0, surround_like=0.5, blood_like=0.0)  # within the outer limits only
WRONG = RingEvidence(500.0, 400.0, surround_like=0.8, blood_like=0.0)


@dataclass(frozen=True)
class Ring:
    """A stand-in for a prediction."""

    name: str
    doubts: tuple[str, ...] = ()


@pytest.fixture
def canned(monkeypatch):
    """predict_physical with the network replaced: each search level offers given centres, each centre a given ring."""

    class Segmenter:
        meta = type("Meta", (), {"input_size": 32, "window_spacing_mm": 2.0})()
        search_size = 32

    def run(levels: list[list[tuple[float, float]]], rings: dict, hint=None):
        segmented = []

        def refill(segmenter, images, searches, batch_size):
            for search in searches.values():
                while search.depth < len(levels) and not search.queue:
                    search.queue = list(levels[search.depth])
                    search.depth += 1

        def segment(segmenter, shown, images, searches, centres, *, tta, batch_size, kinds):
            segmented.extend(centres.values())
            return {k: (Ring(f"ring at {c}"), rings[c], c) for k, c in centres.items()}

        monkeypatch.setattr(locate, "_refill", refill)
        monkeypatch.setattr(locate, "_segment", segment)
        monkeypatch.setattr(
            locate, "_plan", lambda *a: ([None], {0: locate._Search([[Window((0, 0), (1, 1), (64, 64), 2.0, 32)]] * len(levels))})
        )
        (prediction,), (reason,) = locate.predict_physical(
            Segmenter(), [np.zeros((64, 64))], [(1.0, 1.0)], tta=False, batch_size=4, hints=[hint]
        )
        return prediction, reason, segmented

    return run


def test_a_sure_first_candidate_is_the_only_one_segmented(canned):
    prediction, reason, segmented = canned([[(10, 10), (50, 50)]], {(10, 10): SURE, (50, 50): SURE})
    assert prediction == Ring("ring at (10, 10)") and reason is None and segmented == [(10, 10)]


def test_a_hint_is_the_first_candidate_and_the_first_fallback(canned):
    prediction, _, segmented = canned([[(10, 10), (50, 50)]], {(30, 30): SURE, (10, 10): SURE, (50, 50): SURE}, hint=(30, 30))
    assert prediction.name == "ring at (30.0, 30.0)" and segmented == [(30, 30)]
    rings = {(30, 30): DOUBTFUL, (10, 10): DOUBTFUL, (50, 50): WRONG}  # no sure LV: the hinted ring is kept
    prediction, _, segmented = canned([[(10, 10), (50, 50)]], rings, hint=(30, 30))
    assert prediction.name == "ring at (30.0, 30.0)" and segmented == [(30, 30), (10, 10), (50, 50)]


def test_a_doubtful_first_candidate_gives_way_to_a_sure_one_on_a_finer_level(canned):
    levels = [[(10, 10), (12, 10)], [(50, 50)]]  # (12, 10) is the same ring as (10, 10): not segmented again
    prediction, _, segmented = canned(levels, {(10, 10): WRONG, (12, 10): SURE, (50, 50): SURE})
    assert prediction.name == "ring at (50, 50)" and segmented == [(10, 10), (50, 50)]


def test_without_a_sure_lv_the_first_ring_within_the_outer_limits_is_kept(canned):
    rings = {(10, 10): WRONG, (30, 30): DOUBTFUL, (50, 50): DOUBTFUL}
    prediction, reason, _ = canned([[(10, 10), (30, 30), (50, 50)]], rings)
    assert prediction.name == "ring at (30, 30)" and reason is None


def test_the_kept_ring_carries_its_doubts(canned):
    doubted = RingEvidence(500.0, 400.0, surround_like=0.35, blood_like=0.2, myocardium_probability=0.9, kind="T2")
    for rings in ({(10, 10): doubted}, {(10, 10): WRONG, (30, 30): replace(doubted, blood_like=0.4)}):  # sure, and kept as fallback
        prediction, reason, _ = canned([list(rings)], rings)
        assert reason is None and len(prediction.doubts) == 3 and "network unsure (0.90)" in prediction.doubts


def test_no_ring_within_the_outer_limits_means_no_left_ventricle(canned):
    prediction, reason, segmented = canned([[(10, 10)], [(50, 50)]], {(10, 10): WRONG, (50, 50): None})
    assert prediction is None and reason == NO_LV and segmented == [(10, 10), (50, 50)]


def test_an_unstable_ring_is_neither_kept_nor_a_fallback(canned):
    unstable = RingEvidence(500.0, 400.0, surround_like=0.1, blood_like=0.0, myocardium_probability=0.6, kind="T2", agreement=0.6)
    prediction, reason, _ = canned([[(10, 10)]], {(10, 10): unstable})
    assert prediction is None and reason == NO_LV
    prediction, reason, _ = canned([[(10, 10)]], {(10, 10): replace(unstable, kind="T1-post")})  # post-contrast maps are spared
    assert prediction.name == "ring at (10, 10)" and reason is None


def test_the_number_of_rings_segmented_is_bounded(canned):
    centres = [(float(20 * k), 0.0) for k in range(12)]
    prediction, reason, segmented = canned([centres], dict.fromkeys(centres, WRONG))
    assert reason == NO_LV and len(segmented) == locate.MAX_SEGMENTED
