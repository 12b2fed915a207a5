import numpy as np
import pytest
from scipy.optimize import curve_fit

from myomap.mapping.fit import estimate_noise_sd, fit_inversion_recovery, fit_t2, rician_correct
from myomap.mapping.models import inversion_recovery, molli_ideal_signal, t2_decay

MOLLI_TI = np.array([110.0, 190.0, 967.0, 1047.0, 1824.0, 1904.0, 2681.0, 3539.0])
T2_PREP = np.array([0.0, 25.0, 55.0])


@pytest.mark.parametrize("t1", [250.0, 950.0, 1600.0, 1900.0])
@pytest.mark.parametrize("ratio", [0.4, 0.8])
def test_molli_fit_recovers_noise_free_t1(t1, ratio):
    y = molli_ideal_signal(MOLLI_TI[:, None], 300.0, np.array([t1]), np.array([t1 * ratio]))
    fit = fit_inversion_recovery(y, MOLLI_TI)
    assert fit.t1_ms[0] == pytest.approx(t1, rel=1e-4)
    assert fit.t1_star_ms[0] == pytest.approx(t1 * ratio, rel=1e-4)
    assert fit.r2[0] == pytest.approx(1.0, abs=1e-9)


def test_plain_inversion_recovery_without_look_locker():
    t = np.array([50.0, 150.0, 400.0, 800.0, 1600.0, 3200.0])
    y = np.abs(inversion_recovery(t[:, None], 100.0, 195.0, np.array([700.0])))
    fit = fit_inversion_recovery(y, t, look_locker=False)
    assert fit.t1_ms[0] == pytest.approx(700.0, rel=1e-4)


def test_images_in_any_order_give_the_same_fit():
    y = molli_ideal_signal(MOLLI_TI[:, None, None], 300.0, np.full((2, 2), 1000.0), np.full((2, 2), 600.0))
    order = np.random.default_rng(0).permutation(MOLLI_TI.size)
    a = fit_inversion_recovery(y, MOLLI_TI).t1_ms
    b = fit_inversion_recovery(y[order], MOLLI_TI[order]).t1_ms
    np.testing.assert_allclose(a, b)


def _ir(t, a, b, t1_star):
    return a - b * np.exp(-t / t1_star)


def test_molli_fit_agrees_with_curve_fit_on_noisy_pixels():
    rng = np.random.default_rng(3)
    t1 = rng.uniform(800, 1700, 40)
    clean = molli_ideal_signal(MOLLI_TI[:, None], 400.0, t1, t1 * 0.6)
    noisy = np.abs(clean + rng.normal(0, 8, clean.shape) + 1j * rng.normal(0, 8, clean.shape))
    ours = fit_inversion_recovery(noisy, MOLLI_TI).t1_ms
    reference = []
    for k in range(t1.size):
        best = None
        for flip in range(MOLLI_TI.size + 1):
            y = noisy[:, k] * np.where(np.arange(MOLLI_TI.size) < flip, -1, 1)
            try:
                p, _ = curve_fit(_ir, MOLLI_TI, y, p0=[y[-1], 2 * y[-1], 600], bounds=([-np.inf, -np.inf, 10], np.inf), maxfev=4000)
            except RuntimeError:
                continue
            rss = np.sum((_ir(MOLLI_TI, *p) - y) ** 2)
            if best is None or rss < best[0]:
                best = (rss, p)
        a, b, ts = best[1]
        reference.append(ts * (b / a - 1))
    assert np.median(np.abs(ours / np.array(reference) - 1)) < 1e-3


@pytest.mark.parametrize("t2", [20.0, 50.0, 230.0])
def test_t2_fit_recovers_noise_free_t2(t2):
    y = t2_decay(T2_PREP[:, None], 500.0, np.array([t2]))
    fit = fit_t2(y, T2_PREP)
    assert fit.t2_ms[0] == pytest.approx(t2, rel=1e-4)
    assert fit.m0[0] == pytest.approx(500.0, rel=1e-4)


def test_t2_fit_with_offset():
    te = np.array([0.0, 20.0, 40.0, 60.0, 80.0])
    y = t2_decay(te[:, None], 500.0, np.array([45.0]), 30.0)
    fit = fit_t2(y, te, offset=True)
    assert fit.t2_ms[0] == pytest.approx(45.0, rel=1e-3)
    assert fit.offset[0] == pytest.approx(30.0, rel=1e-2)


def test_bad_pixels_give_nan_not_an_exception():
    y = molli_ideal_signal(MOLLI_TI[:, None], 300.0, np.full(4, 1000.0), np.full(4, 600.0))
    y[:, 1] = 0.0
    y[3, 2] = np.nan
    fit = fit_inversion_recovery(y, MOLLI_TI, mask=np.array([True, True, True, False]))
    assert np.isfinite(fit.t1_ms[0])
    assert np.isnan(fit.t1_ms[1:]).all()


def test_times_must_match_images():
    with pytest.raises(ValueError, match="3 times given for 8 images"):
        fit_t2(np.ones((8, 2)), [0, 25, 55])


def test_noise_sd_is_estimated_from_a_rayleigh_background():
    rng = np.random.default_rng(5)
    sigma = 3.0
    images = np.abs(rng.normal(0, sigma, (3, 64, 64)) + 1j * rng.normal(0, sigma, (3, 64, 64)))
    images[:, 20:44, 20:44] += 500.0
    assert estimate_noise_sd(images) == pytest.approx(sigma, rel=0.1)
    images[:, :, :30] = 0.0  # a background blanked by the scanner
    assert estimate_noise_sd(images) is None


def test_removing_the_rician_floor_lowers_the_t2_bias():
    rng = np.random.default_rng(6)
    clean = t2_decay(T2_PREP[:, None], 1.0, np.full(20000, 50.0))
    sigma = 1 / 12 / np.sqrt(2)  # SNR 12 at TE = 0
    noisy = np.abs(clean + rng.normal(0, sigma, clean.shape) + 1j * rng.normal(0, sigma, clean.shape))
    plain = np.nanmean(fit_t2(noisy, T2_PREP).t2_ms) / 50 - 1
    corrected = np.nanmean(fit_t2(noisy, T2_PREP, noise_sd=sigma).t2_ms) / 50 - 1
    assert abs(corrected) < abs(plain)
    np.testing.assert_allclose(rician_correct(np.array([5.0, 0.1]), 1.0), [np.sqrt(23.0), 0.0])


@pytest.mark.parametrize("sd", [0.0, 4.0])
def test_residual_sd_in_signal_units_and_relative(sd):
    rng = np.random.default_rng(1)
    clean = molli_ideal_signal(MOLLI_TI[:, None], 300.0, np.full(400, 1000.0), np.full(400, 600.0))
    fit = fit_inversion_recovery(clean + sd * rng.standard_normal(clean.shape), MOLLI_TI)
    # With 8 samples and 3 parameters the residual SD estimates the noise SD (shrunk a little by polarity choice).
    assert np.median(fit.residual_sd) == pytest.approx(sd, abs=0.6 if sd else 1e-3)
    np.testing.assert_allclose(fit.residual_rel, fit.residual_sd / np.abs(fit.a))
    t2 = fit_t2(t2_decay(T2_PREP[:, None], 500.0, np.array([50.0])), T2_PREP)
    assert t2.residual_sd.shape == (1,) and np.all(np.isfinite(t2.residual_sd) & (t2.residual_sd < 1e-3))
