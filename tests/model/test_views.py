import numpy as np
import pytest

from myomap.conventions import Tissue
from myomap.geometry.polygon import polygon_mask
from myomap.model.synth import bottle_labels, synthesise
from myomap.model.views import (
    HEART_TISSUES,
    Source,
    ViewSettings,
    change_wall,
    deform,
    draw_view,
    fixed_view,
    load_sources,
    remove_heart,
    resample,
)


@pytest.fixture(scope="module")
def sources(cohort):
    errors = []
    groups = load_sources(cohort, {}, 0, errors)
    assert not errors
    return [s for s in groups["train"] if s.role == "map"]


def test_phantom_sources_carry_their_label_maps(sources):
    assert sources and all(s.labels is not None and s.labels.shape == s.pixels.shape for s in sources)


def test_views_are_normalised_and_hold_the_lv(sources):
    view = ViewSettings(1.5, 64)
    rng = np.random.default_rng(0)
    for k in range(12):
        image, mask = draw_view(sources[k % len(sources)], rng, view)
        assert image.shape == mask.shape == (64, 64) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() < 1.0
        assert (mask == 1).any(), "the LV myocardium must be in every view"


def test_heart_free_views_show_no_heart_and_have_an_empty_target(sources):
    view = ViewSettings(1.5, 64, no_heart_share=1.0)
    rng = np.random.default_rng(1)
    for k in range(6):
        image, mask = draw_view(sources[k % len(sources)], rng, view)
        assert not mask.any() and image.std() > 0
    labels = remove_heart(sources[0].labels)
    assert labels is not None and not np.isin(labels, HEART_TISSUES).any()
    assert remove_heart(np.full((8, 8), Tissue.LV_MYOCARDIUM, np.uint8)) is None  # nothing to take over
    kept = ~np.isin(sources[0].labels, HEART_TISSUES)
    np.testing.assert_array_equal(labels[kept], sources[0].labels[kept])  # only the heart is painted over


def test_bottle_views_are_synthesised_from_a_test_object_and_have_an_empty_target(sources, monkeypatch):
    import myomap.model.views as views

    drawn, shown = [], []
    monkeypatch.setattr(views, "bottle_labels", lambda *a: drawn.append(bottle_labels(*a)) or drawn[-1])
    monkeypatch.setattr(views, "synthesise", lambda labels, rng, settings: shown.append(labels) or synthesise(labels, rng, settings))
    source = sources[0]
    for seed in range(3):
        image, mask = draw_view(source, np.random.default_rng(seed), ViewSettings(1.5, 64, no_heart_share=1.0, bottle_share=1.0))
        assert not mask.any() and image.std() > 0
    assert len(drawn) == len(shown) == 3 and all(a is b for a, b in zip(drawn, shown))  # the test object is what was synthesised
    assert all(labels.shape == source.labels.shape for labels in drawn)


def test_blood_speckle_views_speckle_maps_only_where_the_blood_is(sources, monkeypatch):
    import myomap.model.views as views

    speckled = []
    monkeypatch.setattr(views, "blood_speckle", lambda image, labels, rng: speckled.append(labels) or image)
    source = sources[0]
    # the physics-simulated map: its own label map
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, blood_speckle_share=1.0))
    assert len(speckled) == 1 and speckled[0] is source.labels
    # a synthesised map with a thicker wall: the changed label map, whose blood pool is smaller
    settings = ViewSettings(1.5, 64, synthetic_share=1.0, wall_change_share=1.0, wall_change_mm=(3.0, 3.0), blood_speckle_share=1.0)
    draw_view(source, np.random.default_rng(0), settings)
    assert len(speckled) == 2
    assert (speckled[1] == Tissue.LV_BLOOD).sum() < (source.labels == Tissue.LV_BLOOD).sum()
    # a weighted image's blood pool holds no fit, and a heart-free view has no blood pool to speckle
    weighted = Source(source.pixels, source.spacing_mm, source.epi, source.endo, source.labels, "weighted")
    draw_view(weighted, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, blood_speckle_share=1.0))
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, no_heart_share=1.0, blood_speckle_share=1.0))
    assert len(speckled) == 2


def test_scar_views_scar_maps_with_a_heart_and_keep_the_target(sources, monkeypatch):
    import myomap.model.views as views

    scarred = []
    monkeypatch.setattr(views, "scar", lambda image, reference, rng: scarred.append(reference) or image)
    source = sources[0]
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, scar_share=1.0))
    assert len(scarred) == 1 and (scarred[0] == 1).any() and (scarred[0] == 2).any()  # the map's own wall and blood pool
    assert scarred[0].shape == source.pixels.shape
    # a synthesised map with a thicker wall: the scar is drawn in the changed wall, whose blood pool is smaller
    settings = ViewSettings(1.5, 64, synthetic_share=1.0, wall_change_share=1.0, wall_change_mm=(3.0, 3.0), scar_share=1.0)
    draw_view(source, np.random.default_rng(0), settings)
    assert len(scarred) == 2 and (scarred[1] == 2).sum() < (scarred[0] == 2).sum()
    # a weighted image is no map, and a heart-free view has no wall
    weighted = Source(source.pixels, source.spacing_mm, source.epi, source.endo, source.labels, "weighted")
    draw_view(weighted, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, scar_share=1.0))
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, no_heart_share=1.0, scar_share=1.0))
    assert len(scarred) == 2
    # the scar changes the image, never the target (it is myocardium): the same draws without its pixels give the same target
    from myomap.model.synth import scar as real_scar

    monkeypatch.setattr(views, "scar", lambda image, reference, rng: (real_scar(image, reference, rng), image)[1])
    settings = ViewSettings(1.5, 64, synthetic_share=0.0, scar_share=1.0)
    unscarred, target = draw_view(source, np.random.default_rng(3), settings)
    monkeypatch.setattr(views, "scar", real_scar)
    image, scarred_target = draw_view(source, np.random.default_rng(3), settings)
    np.testing.assert_array_equal(scarred_target, target)
    assert not np.allclose(image, unscarred)


def test_diffuse_views_move_every_myocardial_tissue_of_maps_only(sources, monkeypatch):
    import myomap.model.views as views

    walls = []
    monkeypatch.setattr(views, "diffuse", lambda image, reference, rng, wall: walls.append(wall) or image)
    source = sources[0]
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, diffuse_share=1.0))
    assert len(walls) == 1
    np.testing.assert_array_equal(walls[0], np.isin(source.labels, (Tissue.LV_MYOCARDIUM, Tissue.PAPILLARY, Tissue.RV_WALL)))
    weighted = Source(source.pixels, source.spacing_mm, source.epi, source.endo, source.labels, "weighted")
    draw_view(weighted, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, diffuse_share=1.0))
    assert len(walls) == 1  # a weighted image is no map


@pytest.mark.parametrize("spacing_mm", [1.25, 2.5])
def test_deform_moves_image_and_mask_together_by_the_asked_mm(spacing_mm):
    size = 200
    ramp = np.tile(np.arange(size, dtype=np.float32), (size, 1)) / size  # x / size: the shift along x is readable
    stripes = ((np.arange(size) // 10) % 2).astype(np.uint8)[None, :].repeat(size, axis=0)
    rng = np.random.default_rng(3)
    shifts = []
    for _ in range(4):
        image, mask = deform(ramp, stripes, rng, spacing_mm, rms_mm=1.0, scale_mm=10.0)
        inner = np.s_[40:-40, 40:-40]
        shifts.append(((image - ramp) * size * spacing_mm)[inner].std())
        # The mask follows the image: where the warped ramp says column c, the warped mask holds stripes[c].
        column = np.clip(np.round(image * size), 0, size - 1).astype(int)
        assert np.mean(mask[inner] == stripes[0][column[inner]]) > 0.95
    assert np.mean(shifts) == pytest.approx(1.0, rel=0.3)


def test_deformed_views_still_hold_the_lv(sources):
    view = ViewSettings(1.5, 64, deform_share=1.0)
    rng = np.random.default_rng(4)
    for k in range(4):
        image, mask = draw_view(sources[k % len(sources)], rng, view)
        assert image.dtype == np.float32 and mask.dtype == np.uint8 and (mask == 1).any() and (mask == 2).any()


def test_fixed_view_is_centred_on_the_lv(sources):
    image, mask = fixed_view(sources[0], ViewSettings(1.5, 64))
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 31.5) < 4 and abs(cols.mean() - 31.5) < 4


def test_resample_keeps_the_physical_size():
    pixels = np.zeros((100, 100), np.float32)
    epi = np.array([[10.0, 10.0], [90.0, 10.0], [90.0, 90.0]])
    out, spacing, epi2, _ = resample(pixels, (1.5, 1.5), epi, epi, 0.75)
    assert out.shape == (200, 200) and spacing == pytest.approx((0.75, 0.75))
    np.testing.assert_allclose(np.ptp(epi2, axis=0) * 0.75, np.ptp(epi, axis=0) * 1.5, rtol=1e-6)


def test_kidneys_go_where_the_lv_was_on_heart_free_views_and_far_from_the_heart_on_the_others(sources, monkeypatch):
    import myomap.model.views as views

    calls = []
    real = views.kidney
    monkeypatch.setattr(
        views,
        "kidney",
        lambda labels, spacing, centre, rng, keep: calls.append((labels, centre, keep)) or real(labels, spacing, centre, rng, keep),
    )
    source = sources[0]
    lv = np.mean(source.epi, axis=0)
    image, target = draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, no_heart_share=1.0, kidney_share=1.0))
    assert len(calls) == 1 and not target.any() and not calls[0][2].any()
    assert np.hypot(*((np.asarray(calls[0][1]) - lv) * np.asarray(source.spacing_mm)[::-1])) <= 20.0 * np.sqrt(2)
    heart = np.isin(source.labels, HEART_TISSUES)
    rows, cols = np.nonzero(heart)
    for seed in range(4):
        draw_view(source, np.random.default_rng(seed), ViewSettings(1.5, 64, synthetic_share=1.0, kidney_share=1.0))
        labels, (x, y), keep = calls[-1]
        np.testing.assert_array_equal(keep, heart)
        assert labels[int(round(y)), int(round(x))] in (Tissue.LUNG, Tissue.LIVER, Tissue.MUSCLE)  # x is the column
        assert np.min(np.hypot((cols - x) * source.spacing_mm[1], (rows - y) * source.spacing_mm[0])) > 45.0
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, synthetic_share=0.0, kidney_share=1.0))  # a simulated map: none
    assert len(calls) == 5


def test_great_vessels_go_where_the_lv_was_on_heart_free_views_only(sources, monkeypatch):
    import myomap.model.views as views

    calls = []
    real = views.great_vessels
    monkeypatch.setattr(
        views, "great_vessels", lambda labels, spacing, centre, rng: calls.append(centre) or real(labels, spacing, centre, rng)
    )
    source = sources[0]
    image, target = draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, no_heart_share=1.0, great_vessels_share=1.0))
    assert len(calls) == 1 and not target.any()
    np.testing.assert_allclose(calls[0], np.mean(source.epi, axis=0))
    draw_view(source, np.random.default_rng(0), ViewSettings(1.5, 64, no_heart_share=1.0, kidney_share=1.0, great_vessels_share=1.0))
    draw_view(source, np.random.default_rng(1), ViewSettings(1.5, 64, synthetic_share=1.0, great_vessels_share=1.0))
    assert len(calls) == 1  # a view with a kidney where the LV was, or with a heart, gets none


def test_views_are_resampled_to_native_pixel_sizes_within_the_asked_range(sources, monkeypatch):
    import myomap.model.views as views

    asked = []
    monkeypatch.setattr(
        views, "resample", lambda pixels, spacing, epi, endo, target_mm: asked.append(target_mm) or (pixels, spacing, epi, endo)
    )
    settings = ViewSettings(1.5, 64, synthetic_share=0.0, resample_share=1.0, native_spacing_mm=(2.9, 3.1))
    rng = np.random.default_rng(0)
    for _ in range(5):
        draw_view(sources[0], rng, settings)
    assert len(asked) == 5 and all(2.9 <= t <= 3.1 for t in asked)


def test_a_scaled_body_shows_the_heart_at_that_scale(sources):
    """Pixel size times 0.5: the whole chest at half its size, so the LV covers a quarter of the window pixels."""
    fixed = dict(synthetic_share=0.0, coarse_share=0.0, tight_fov_share=0.0, resample_share=0.0, zoom=(1.0, 1.0))
    areas = {}
    for share in (0.0, 1.0):
        view = ViewSettings(1.5, 128, body_scale_share=share, body_scale=(0.5, 0.5), **fixed)
        areas[share] = [np.count_nonzero(draw_view(s, np.random.default_rng(k), view)[1]) for k, s in enumerate(sources[:4])]
    assert np.asarray(areas[1.0]) / np.asarray(areas[0.0]) == pytest.approx([0.25] * 4, rel=0.15)


@pytest.mark.parametrize("name, bad", [("native_spacing_mm", (0.2, 1.0)), ("native_spacing_mm", (2.0, 1.0)), ("native_spacing_mm", (1.0, 6.0)),
                                       ("stretch", (1.2, 0.9)), ("stretch", (0.1, 1.0)), ("body_scale", (1.0, 0.5)),
                                       ("body_scale", (0.2, 1.0))])  # fmt: skip
def test_the_native_pixel_size_stretch_and_body_scale_ranges_are_checked(name, bad):
    from myomap.config import ConfigError
    from myomap.model.config import TrainConfig
    from myomap.model.train import view_settings

    config = TrainConfig(window_spacing_mm=1.25, native_spacing_mm=(0.5, 3.2), stretch=(0.7, 1.4), body_scale=(0.6, 1.1))
    config.validate()
    assert view_settings(config).stretch == (0.7, 1.4) and view_settings(config).native_spacing_mm == (0.5, 3.2)
    assert view_settings(config).body_scale == (0.6, 1.1)
    with pytest.raises(ConfigError, match=name):
        TrainConfig(**{name: bad}).validate()


def test_a_source_without_labels_uses_its_own_pixels():
    y, x = np.mgrid[:80, :80]
    pixels = np.where(np.hypot(x - 40, y - 40) < 10, 1500.0, np.where(np.hypot(x - 40, y - 40) < 16, 1000.0, 300.0)).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    circle = lambda r: np.column_stack([40 + r * np.cos(t), 40 + r * np.sin(t)])  # noqa: E731
    source = Source(pixels, (1.5, 1.5), circle(16), circle(10), None, "map")
    image, mask = draw_view(source, np.random.default_rng(2), ViewSettings(1.5, 64, synthetic_share=1.0))
    assert (mask == 2).any() and image.std() > 0


def _ring_labels(shape=(81, 81), epi_r=20.0, endo_r=12.0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(x - 40, y - 40)
    labels = np.zeros(shape, np.uint8)
    labels[r < epi_r] = Tissue.LV_MYOCARDIUM
    labels[r < endo_r] = Tissue.LV_BLOOD
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = lambda radius: np.column_stack([40 + radius * np.cos(t), 40 + radius * np.sin(t)])  # noqa: E731
    return labels, circle(epi_r), circle(endo_r)


@pytest.mark.parametrize("change_mm", [-3.0, 2.0, 5.0])
def test_change_wall_moves_the_endocardium_and_the_labels_together(change_mm):
    labels, epi, endo = _ring_labels()
    spacing = (1.0, 1.0)
    out, new_endo = change_wall(labels, epi, endo, spacing, change_mm)
    radius = np.hypot(*(new_endo - 40.0).T)
    assert np.median(radius) == pytest.approx(12.0 - change_mm, abs=0.7)
    cavity = polygon_mask(new_endo, labels.shape)
    assert np.mean(out[cavity] == Tissue.LV_BLOOD) > 0.97
    ring = polygon_mask(epi, labels.shape) & ~cavity
    assert np.mean(out[ring] == Tissue.LV_MYOCARDIUM) > 0.97
    assert labels[40, 40] == Tissue.LV_BLOOD and labels.max() == Tissue.LV_MYOCARDIUM  # input untouched


def test_change_wall_keeps_a_thin_wall_and_a_cavity():
    labels, epi, endo = _ring_labels(endo_r=17.0)
    out, new_endo = change_wall(labels, epi, endo, (1.0, 1.0), -6.0)  # would reach past the epicardium
    assert np.hypot(*(new_endo - 40.0).T).max() <= 19.0  # 2 mm of wall to pixel centres, the traced border half a pixel out
    labels, epi, endo = _ring_labels(endo_r=2.0)
    out, new_endo = change_wall(labels, epi, endo, (1.0, 1.0), 5.0)  # would fill the cavity: unchanged
    assert out is labels and new_endo is endo
