import numpy as np
import pytest

from myomap.model.window import (
    Window,
    as_network_sees,
    cut_window,
    fill_blank_regions,
    fill_failed_fits,
    normalise_inside,
    points_to_native,
    points_to_window,
    whole_image_window,
    window_to_native,
)


def _disc(shape, centre_xy, radius):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (np.hypot(x - centre_xy[0], y - centre_xy[1]) < radius).astype(np.float32)


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 180.0])
@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.5, 1.25)])
def test_points_round_trip(angle, mirror, spacing):
    window = Window((40.3, 55.1), spacing, (100, 120), 0.8, 64, angle, mirror)
    xy = np.array([[0.0, 0.0], [12.5, 99.0], [119.0, 3.0]])
    np.testing.assert_allclose(points_to_native(points_to_window(xy, window), window), xy, atol=1e-9)


def test_window_centre_is_the_given_native_point():
    window = Window((30.0, 20.0), (2.0, 2.0), (50, 60), 1.0, 33)
    np.testing.assert_allclose(points_to_native(np.array([[16.0, 16.0]]), window), [[30.0, 20.0]])


def test_physical_scale_is_kept():
    # A disc of radius 10 mm, imaged at 2 mm pixels, has radius 20 px in a 0.5 mm window.
    image = _disc((64, 64), (32, 32), 5.0)
    window = Window((32.0, 32.0), (2.0, 2.0), (64, 64), 0.5, 96)
    pixels, inside = cut_window(image, window)
    assert inside.all()
    area_mm2 = (pixels > 0.5).sum() * 0.25
    assert area_mm2 == pytest.approx(image.sum() * 4.0, rel=0.05)


@pytest.mark.parametrize("axis_deg", [0.0, 90.0, 30.0])
def test_stretch_squeezes_a_disc_along_its_axis_only(axis_deg):
    # A window stretched 1.25x along a direction covers 1.25x more mm there: a disc looks 1/1.25 as wide along it.
    image = _disc((81, 81), (40, 40), 16.0)
    window = Window((40.0, 40.0), (1.0, 1.0), (81, 81), 1.0, 81, stretch=1.25, stretch_axis_deg=axis_deg)
    pixels, _ = cut_window(image, window)
    a = np.deg2rad(axis_deg)
    along, across = np.array([np.cos(a), -np.sin(a)]), np.array([np.sin(a), np.cos(a)])
    ys, xs = np.nonzero(pixels > 0.5)
    xy = np.column_stack([xs, ys]) - 40.0
    assert np.ptp(xy @ along) + 1 == pytest.approx(2 * 16 / 1.25, abs=1.5)  # + 1: pixel centres to extent
    assert np.ptp(xy @ across) + 1 == pytest.approx(2 * 16, abs=1.5)
    xy_native = np.array([[55.0, 40.0], [40.0, 20.0]])
    np.testing.assert_allclose(points_to_native(points_to_window(xy_native, window), window), xy_native, atol=1e-9)


def test_mirror_and_rotation_move_an_off_centre_mark():
    image = np.zeros((41, 41), np.float32)
    image[20, 30] = 1.0  # 10 px to the right of the centre
    plain, _ = cut_window(image, Window((20.0, 20.0), (1.0, 1.0), (41, 41), 1.0, 41), interpolation=0)
    mirrored, _ = cut_window(image, Window((20.0, 20.0), (1.0, 1.0), (41, 41), 1.0, 41, mirror=True), interpolation=0)
    turned, _ = cut_window(image, Window((20.0, 20.0), (1.0, 1.0), (41, 41), 1.0, 41, angle_deg=90.0), interpolation=0)
    assert np.argwhere(plain).tolist() == [[20, 30]]
    assert np.argwhere(mirrored).tolist() == [[20, 10]]
    assert len(np.argwhere(turned)) == 1 and np.argwhere(turned)[0, 1] == 20


def test_outside_of_the_image_is_marked_and_probabilities_map_back():
    image = np.random.default_rng(0).random((50, 70)).astype(np.float32)
    window = Window((0.0, 0.0), (1.0, 1.0), (50, 70), 1.0, 32)  # centred on the corner pixel
    _, inside = cut_window(image, window)
    assert 0.2 < inside.mean() < 0.3
    channels = np.stack([np.zeros((32, 32)), np.ones((32, 32))]).astype(np.float32)
    native = window_to_native(channels, window, outside=np.array([1.0, 0.0]))
    assert native.shape == (2, 50, 70)
    assert native[1, 0, 0] == pytest.approx(1.0) and native[1, 40, 60] == 0.0 and native[0, 40, 60] == 1.0


def test_whole_image_window_holds_the_field_of_view():
    window = whole_image_window((300, 200), (1.5, 1.5), 160, 1.0)
    assert window.spacing_mm == pytest.approx(450 / 160)
    _, inside = cut_window(np.ones((300, 200)), window)
    assert inside[:, 80].all() and not inside[:, 0].any()
    assert whole_image_window((64, 64), (1.0, 1.0), 160, 1.0).spacing_mm == 1.0  # never finer than the model's size


def test_normalise_inside_ignores_the_outside():
    pixels = np.array([[5.0, 1.0], [3.0, 0.0]], np.float32)
    inside = np.array([[True, True], [True, False]])
    out = normalise_inside(pixels, inside)
    assert out[1, 1] == 0.0 and out[0, 1] == 0.0 and out[0, 0] > out[1, 0] > 0
    with pytest.raises(ValueError, match="no image"):
        normalise_inside(pixels, np.zeros((2, 2), bool))


def test_nan_pixels_count_as_outside():
    image = np.ones((20, 20), np.float32)
    image[5:10, 5:10] = np.nan
    pixels, inside = cut_window(image, Window((9.5, 9.5), (1.0, 1.0), (20, 20), 1.0, 20))
    assert np.isfinite(pixels).all() and not inside[5:10, 5:10].any() and inside[15, 15]


def test_blank_regions_are_speckled_and_fit_speckle_is_left_alone(cohort):
    from myomap.conventions import Tissue
    from myomap.io.dataset import load_dataset

    images, _ = load_dataset(cohort, roles=("map",), observers=("reference",))
    for image in images[:6]:
        pixels = np.asarray(image.pixels, np.float32)
        np.testing.assert_array_equal(fill_blank_regions(pixels), pixels)  # scattered failed fits: not a blanked region
        with np.load(image.source.parent / "truth.npz") as truth:
            outside = np.isin(truth["labels"], [Tissue.AIR, Tissue.LUNG])
        for value in (0.0, 4095.0):
            blanked = np.where(outside, value, pixels)
            filled = fill_blank_regions(blanked)
            changed = filled != blanked
            assert (blanked[changed] == value).all()  # only pixels of the blank value change
            assert (changed & ~outside).sum() < 0.01 * (~outside).sum()  # the tissue's own failed fits (next to air or lung) at most
            assert (filled[outside] != value).mean() > 0.99 and filled[outside].std() > 0.25 * np.percentile(
                filled[outside], 99
            )  # uniform speckle
            np.testing.assert_array_equal(fill_blank_regions(blanked), filled)  # repeatable


def test_a_saturated_top_of_a_windowed_export_is_no_blank_region(cohort):
    from myomap.conventions import Tissue
    from myomap.io.dataset import load_dataset

    images, _ = load_dataset(cohort, roles=("map",), observers=("reference",))
    for image in images:
        with np.load(image.source.parent / "truth.npz") as truth:
            labels = truth["labels"]
        pixels = np.where(np.isin(labels, [Tissue.AIR, Tissue.LUNG]), 0.0, image.pixels)  # a vendor's blanked background
        top = 1.3 * float(np.median(pixels[labels == Tissue.LV_MYOCARDIUM]))
        windowed = np.round(np.clip(pixels, 0.0, top) / top * 255.0).astype(np.float32)  # 8 bits, the blood pool saturated
        blood = labels == Tissue.LV_BLOOD
        assert (windowed[blood] == 255).mean() > 0.3
        filled = fill_blank_regions(windowed)
        np.testing.assert_array_equal(filled[windowed > 0], windowed[windowed > 0])  # only the blanked background is speckled
        # the same plateau in a map of values, with a little fit speckle reaching close to it: failed fits, speckled
        outside = np.isin(labels, [Tissue.AIR, Tissue.LUNG])
        marked = np.where(outside, 4095.0, image.pixels).astype(np.float32)
        speckle = np.random.default_rng(0).random(marked.shape) < 0.01
        marked[speckle] = np.random.default_rng(1).uniform(0.0, 4000.0, int(speckle.sum()))
        assert (fill_blank_regions(marked)[outside & ~speckle] != 4095.0).mean() > 0.99


def test_failed_fits_in_the_wall_are_filled_and_the_lung_speckle_mostly_kept(cohort):
    from myomap.conventions import Tissue
    from myomap.io.dataset import load_dataset

    images, _ = load_dataset(cohort, roles=("map",), observers=("reference",))
    kept = []
    for image in images[:6]:
        pixels = np.asarray(image.pixels, np.float32)
        with np.load(image.source.parent / "truth.npz") as truth:
            labels = truth["labels"]
        wall, speckle = labels == Tissue.LV_MYOCARDIUM, np.isin(labels, [Tissue.AIR, Tissue.LUNG])
        top = float(pixels.max())
        failed = wall & (np.random.default_rng(0).random(wall.shape) < 0.1)
        marked = np.where(failed, top, pixels)
        filled = fill_failed_fits(marked)
        changed = filled != marked
        assert (marked[changed] == top).all()  # only failures at the top change
        assert changed[failed].mean() > 0.6  # most of the wall's failures
        myocardium = np.median(pixels[wall])
        assert np.all(np.abs(filled[failed & changed] - myocardium) < 0.5 * myocardium)  # as tissue around them, not the top
        lung_failures = speckle & (marked == top)
        kept.append(1.0 - changed[lung_failures].mean())
    assert np.mean(kept) > 0.9  # the lung and air speckle the network learned stays (a few failures in smooth lung are filled)


def test_failed_fit_fill_leaves_pictures_and_zeros_alone():
    rng = np.random.default_rng(0)
    tissue = (1000.0 + rng.normal(0.0, 20.0, (40, 40))).astype(np.float32)
    tissue[20, 20] = tissue[0, 0] = 4095.0
    assert fill_failed_fits(tissue)[20, 20] < 1100  # a map: filled
    picture = np.round(np.clip(tissue / 4095.0 * 255.0, 0, 255)).astype(np.float32)  # 8-bit: its top is saturation
    np.testing.assert_array_equal(fill_failed_fits(picture), picture)
    zeros = tissue.copy()
    zeros[5, 5] = zeros[30, 30] = 0.0  # dark tissue or noise clipped at 0 as much as a failure: stays
    out = fill_failed_fits(zeros)
    assert out[5, 5] == out[30, 30] == 0.0 and out[20, 20] < 1100
    single = tissue.copy()
    single[0, 0] = 1000.0  # one top pixel is the image's maximum, not a stored failure
    np.testing.assert_array_equal(fill_failed_fits(single), single)


def test_zeros_in_tissue_are_filled_where_the_map_blanks_its_background_at_0():
    rng = np.random.default_rng(3)
    image = (1000.0 + rng.normal(0.0, 20.0, (40, 40))).astype(np.float32)
    image[15, 15] = image[30, 30] = 0.0
    np.testing.assert_array_equal(fill_failed_fits(image), image)  # no blanked region: 0 marks nothing here
    image[:, :10] = 0.0  # the vendor blanks the air at 0: its mark of a pixel without a value
    out = fill_failed_fits(image)
    assert np.all(np.abs(out[[15, 30], [15, 30]] - 1000.0) < 60.0) and (out[:, :9] == 0.0).all()
    image[2, 2] = -1.0  # one stray negative pixel below the background
    np.testing.assert_array_equal(fill_failed_fits(image)[[15, 30], [15, 30]], out[[15, 30], [15, 30]])


def test_nan_failures_in_tissue_are_filled_and_a_masked_background_stays_nan():
    rng = np.random.default_rng(2)
    image = (1000.0 + rng.normal(0.0, 20.0, (40, 40))).astype(np.float32)
    image[:, :10] = np.nan  # a background masked with NaN
    image[20, 20] = image[25, 30] = np.nan  # failed fits in tissue
    image[30, 25] = np.inf
    out = fill_failed_fits(image)
    assert np.all(np.abs(out[[20, 25, 30], [20, 30, 25]] - 1000.0) < 60.0)
    assert np.isnan(out[:, :9]).all()  # a solid region of failures is no scattered failure
    shown = as_network_sees(image)
    assert np.isfinite(shown).all() and np.ptp(shown[:, :8]) > 0  # the masked background shown as speckle, as one at 0


def test_a_clump_of_failures_fills_from_its_rim_inward(monkeypatch):
    import myomap.model.window as window

    rng = np.random.default_rng(4)
    image = (1000.0 + rng.normal(0.0, 20.0, (40, 40))).astype(np.float32)
    image[20:22, 18:23] = 4095.0  # a bar of ten failures: its middle is too dense for one pass
    assert (np.abs(fill_failed_fits(image)[20:22, 18:23] - 1000.0) < 60.0).all()
    monkeypatch.setattr(window, "FAILED_FIT_PASSES", 1)
    assert (fill_failed_fits(image)[20:22, 20] == 4095.0).all()


def test_a_plateau_at_the_top_is_no_scattered_failure():
    rng = np.random.default_rng(1)
    image = (1000.0 + rng.normal(0.0, 20.0, (64, 64))).astype(np.float32)
    y, x = np.mgrid[:64, :64]
    pool = np.hypot(x - 32, y - 32) < 6  # a blood pool saturated at the top of the stored range
    image[pool] = 2000.0
    np.testing.assert_array_equal(fill_failed_fits(image), image)


def test_the_network_sees_a_wall_failures_filled_on_a_blanked_background():
    # A vendor's layout: air blanked at 0, the lung's failures at 4095 ms, failures in the wall too.
    rng = np.random.default_rng(2)
    y, x = np.mgrid[:128, :128]
    r = np.hypot(x - 64, y - 64)
    image = np.where(r < 12, 1600.0, 1000.0) + rng.normal(0.0, 20.0, (128, 128))
    wall = (r > 13) & (r < 20)
    lung = (r > 35) & (r < 50)
    image[lung] = np.where(rng.random(lung.sum()) < 0.3, 4095.0, rng.uniform(0.0, 4095.0, lung.sum()))
    image[r >= 50] = 0.0
    failed = wall & (rng.random(wall.shape) < 0.1)
    image[failed] = 4095.0
    shown = as_network_sees(image.astype(np.float32))
    assert (shown[failed] < 1300).mean() > 0.6  # filled as the wall around them
    assert (shown[r >= 52] > 0).mean() > 0.95  # the blanked air speckled
