"""Vectorised pixel-wise fitting of T1 and T2 maps.

Both models are separable: linear in the amplitudes, nonlinear in a single
time constant.  We therefore fit by variable projection (Golub & Pereyra
1973): for a trial time constant the amplitudes follow from a 1×1 or 2×2
least-squares solve, so the residual is a function of one scalar per pixel.
That scalar is located on a log-spaced grid shared by all pixels (one matrix
product) and refined by a golden-section search run on all pixels at once.

SciPy's optimisers work on one problem at a time, which would mean a Python
loop over ~65 000 pixels per slice; the batched search below is written by
hand for that reason.  It never raises on bad pixels: NaN input, all-zero
signals or pixels outside ``mask`` give NaN output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from myomap.mapping.models import look_locker_t1

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class T1Fit:
    """Result of an inversion-recovery fit; every field has the image shape.

    ``t1_ms`` is Look-Locker corrected for MOLLI fits and equals
    ``t1_star_ms`` for plain inversion recovery.  ``r2`` is the coefficient
    of determination on the polarity-restored signal; ``residual_sd`` the
    residual standard deviation in signal units (``sqrt(RSS / (n - 3))``)
    and ``residual_rel`` the same over the recovered amplitude ``|A|``.
    """

    t1_ms: np.ndarray
    t1_star_ms: np.ndarray
    a: np.ndarray
    b: np.ndarray
    r2: np.ndarray
    residual_sd: np.ndarray
    residual_rel: np.ndarray


@dataclass(frozen=True)
class T2Fit:
    """Result of a mono-exponential T2 fit; every field has the image shape.

    ``residual_sd`` is ``sqrt(RSS / (n - p))`` in signal units (p = 3 with
    an offset, 2 without) and ``residual_rel`` the same over ``m0``.
    """

    t2_ms: np.ndarray
    m0: np.ndarray
    offset: np.ndarray
    r2: np.ndarray
    residual_sd: np.ndarray
    residual_rel: np.ndarray


def fit_inversion_recovery(
    images: ArrayLike,
    times_ms: ArrayLike,
    *,
    look_locker: bool = True,
    mask: ArrayLike | None = None,
    noise_sd: float | None = None,
    t1_range_ms: tuple[float, float] = (10.0, 6000.0),
) -> T1Fit:
    """Fit ``|A - B exp(-t / T1*)|`` to magnitude inversion-recovery images.

    Parameters
    ----------
    images : array, shape (n, ...)
        Magnitude images, one per inversion time, in any order.
    times_ms : array, shape (n,)
        Inversion times in ms.
    look_locker : bool, keyword-only
        Apply the MOLLI correction ``T1 = T1* (B/A - 1)``; turn off for
        spin-echo inversion recovery, where ``T1 = T1*``.
    mask : bool array, optional
        Pixels to fit; the others are NaN.
    noise_sd : float, optional
        Per-channel noise SD of the magnitude images; removes the Rician
        noise floor before fitting (see :func:`rician_correct`).
    t1_range_ms : (float, float)
        Physical bounds of the fitted time constant T1*.

    Returns
    -------
    T1Fit

    Notes
    -----
    Polarity restoration: the signed signal is negative before the null and
    positive after it, so with the images sorted by time the first ``k`` are
    negated, for an unknown ``k`` < n (Barral et al. 2010).  All ``n``
    patterns are scored on the grid; the two best are refined.  Trying only
    the patterns next to the smallest magnitude is not enough for MOLLI,
    whose two interleaved inversions make the sorted magnitudes non-monotonic.
    """
    y, t, shape, fit_px = _prepare(images, times_ms, mask)
    if noise_sd:
        y = rician_correct(y, noise_sd)
    n, n_px = y.shape
    grid = np.geomspace(t1_range_ms[0], t1_range_ms[1], _N_GRID)
    e = np.exp(-t[:, None] / grid[None, :])  # (n, G)
    sums = _Sums(y)
    se, see = e.sum(0)[:, None], (e * e).sum(0)[:, None]
    sye_all = e.T @ y  # (G, P) with all signs positive
    top = [(np.full(n_px, np.inf), np.zeros(n_px, int), np.zeros(n_px, int)) for _ in range(2)]  # (rss, k, g)
    flipped_sy = sums.sy.copy()
    flipped_sye = sye_all.copy()
    det = n * see - se * se  # (G, 1): the same for every pixel
    for k in range(n):  # negating all n samples mirrors k = 0 and leaves A < 0: never physical
        if k > 0:  # negate sample k-1 as well
            flipped_sy -= 2 * y[k - 1]
            flipped_sye -= 2 * np.outer(e[k - 1], y[k - 1])
        # Residual of the 2x2 least squares, written out to keep the loop cheap.
        explained = (see * flipped_sy**2 - 2 * se * flipped_sy * flipped_sye + n * flipped_sye**2) / det
        rss = np.where(np.isfinite(explained), sums.yy - explained, np.inf)
        g = np.argmin(rss, axis=0)
        r = rss[g, np.arange(n_px)]
        (r1, k1, g1), (r2, k2, g2) = top
        first, second = r < r1, (r >= r1) & (r < r2)
        top = [
            (np.where(first, r, r1), np.where(first, k, k1), np.where(first, g, g1)),
            (
                np.where(first, r1, np.where(second, r, r2)),
                np.where(first, k1, np.where(second, k, k2)),
                np.where(first, g1, np.where(second, g, g2)),
            ),
        ]
    best_rss = np.full(n_px, np.inf)
    best = np.full((3, n_px), np.nan)
    best_ss_tot = np.zeros(n_px)
    for _, k, g in top:
        ys = y * np.where(np.arange(n)[:, None] < k[None, :], -1.0, 1.0)
        tau, (a, c), rss = _refine(ys, t, True, grid, g)
        better = rss < best_rss
        best_rss = np.where(better, rss, best_rss)
        best[:, better] = np.vstack([a, -c, tau])[:, better]
        best_ss_tot = np.where(better, _ss_tot(ys), best_ss_tot)
    a, b, t1_star = best
    t1 = look_locker_t1(a, b, t1_star) if look_locker else np.where(a > 0, t1_star, np.nan)
    r2 = _r_squared(best_ss_tot, best_rss)
    return T1Fit(
        t1_ms=_unflatten(t1, fit_px, shape),
        t1_star_ms=_unflatten(t1_star, fit_px, shape),
        a=_unflatten(a, fit_px, shape),
        b=_unflatten(b, fit_px, shape),
        r2=_unflatten(r2, fit_px, shape),
        **_residuals(best_rss, n, 3, a, fit_px, shape),
    )


def fit_t2(
    images: ArrayLike,
    times_ms: ArrayLike,
    *,
    offset: bool = False,
    mask: ArrayLike | None = None,
    noise_sd: float | None = None,
    t2_range_ms: tuple[float, float] = (2.0, 2000.0),
) -> T2Fit:
    """Fit ``M0 exp(-t / T2) (+ offset)`` to T2-prepared or multi-echo images.

    Parameters
    ----------
    images : array, shape (n, ...)
        Magnitude images, one per preparation time (or echo time).
    times_ms : array, shape (n,)
        T2-preparation durations in ms.
    offset : bool, keyword-only
        Fit a constant offset as a third parameter (needs n >= 3).
    mask : bool array, optional
        Pixels to fit; the others are NaN.
    noise_sd : float, optional
        Per-channel noise SD; removes the Rician noise floor before fitting.
    t2_range_ms : (float, float)
        Physical bounds of the fitted T2.
    """
    y, t, shape, fit_px = _prepare(images, times_ms, mask)
    if noise_sd:
        y = rician_correct(y, noise_sd)
    t2, (off, m0), rss = _varpro(y, t, offset, t2_range_ms)
    t2 = np.where(m0 > 0, t2, np.nan)
    return T2Fit(
        t2_ms=_unflatten(t2, fit_px, shape),
        m0=_unflatten(m0, fit_px, shape),
        offset=_unflatten(off, fit_px, shape),
        r2=_unflatten(_r_squared(_ss_tot(y), rss), fit_px, shape),
        **_residuals(rss, t.size, 3 if offset else 2, m0, fit_px, shape),
    )


def rician_correct(magnitude: ArrayLike, noise_sd: float) -> np.ndarray:
    """Remove the Rician noise floor: ``sqrt(max(M² - 2σ², 0))``.

    The mean of a squared Rician magnitude is ``A² + 2σ²`` (σ per channel),
    so this is an unbiased estimate of ``A²`` in the power domain
    (Gudbjartsson & Patz, MRM 1995, 34:910).  It removes the upward bias of
    dark samples (long T2-prep, MOLLI near the null) that biases the fit.
    """
    m = np.asarray(magnitude, dtype=float)
    return np.sqrt(np.maximum(m * m - 2.0 * noise_sd**2, 0.0))


def estimate_noise_sd(images: ArrayLike, background: float = 0.1) -> float | None:
    """Per-channel noise SD from the image background, which is pure (Rayleigh) noise.

    Background pixels are those whose brightest weighted value is below
    ``background`` times the 99th percentile.  Their values are pooled and
    the mode of their histogram is taken: the mode of a Rayleigh
    distribution is σ, and the mode ignores weak tissue (lung) that also
    falls below the threshold.  Returns None when the background is mostly
    exact zeros (blanked by the scanner) or too small to estimate from.
    """
    stack = np.asarray(images, dtype=float)
    peak = stack.max(axis=0)
    values = stack[:, peak < background * np.percentile(peak, 99)].ravel()
    if values.size < 500 or np.mean(values == 0) > 0.5:
        return None
    counts, edges = np.histogram(values, bins=100, range=(0.0, float(np.percentile(values, 90))))
    smooth = np.convolve(counts, np.ones(5) / 5, mode="same")
    k = int(np.argmax(smooth))
    return float((edges[k] + edges[k + 1]) / 2)


# --- variable projection ---------------------------------------------------------
#
# Every model here is linear in the amplitudes of two basis functions,
# ``exp(-t / tau)`` and optionally the constant 1:
#   inversion recovery  A - B exp(-t/T1*)   = A * 1 + c * e  with B = -c
#   T2 with offset      M0 exp(-t/T2) + C   = C * 1 + M0 * e
#   T2                  M0 exp(-t/T2)       =         M0 * e
# so one closed-form 2x2 (or 1x1) solve serves all of them.


_N_GRID = 40
_N_GOLDEN = 26


def _varpro(y: np.ndarray, t: np.ndarray, constant: bool, bounds: tuple[float, float]):
    """Minimise the projected residual over ``tau`` for every pixel.

    ``y`` has shape (n, P).  Returns ``(tau, (const, amp), rss)``, each of
    shape (P,), where the model is ``const + amp * exp(-t / tau)``.
    """
    grid = np.geomspace(bounds[0], bounds[1], _N_GRID)
    e = np.exp(-t[:, None] / grid[None, :])  # (n, G): the same for every pixel
    rss_grid = _Sums(y).rss(e.sum(0)[:, None], (e * e).sum(0)[:, None], e.T @ y, constant)  # (G, P)
    g = np.argmin(np.where(np.isfinite(rss_grid), rss_grid, np.inf), axis=0)
    return _refine(y, t, constant, grid, g)


def _refine(y: np.ndarray, t: np.ndarray, constant: bool, grid: np.ndarray, g: np.ndarray):
    """Golden-section search in log(tau) between the grid neighbours of index ``g`` (per pixel)."""
    tcol = t[:, None]
    sums = _Sums(y)
    log_lo = np.log(grid[np.clip(g - 1, 0, grid.size - 1)])
    log_hi = np.log(grid[np.clip(g + 1, 0, grid.size - 1)])

    def rss_at(log_tau: np.ndarray) -> np.ndarray:
        ex = np.exp(-tcol / np.exp(log_tau)[None, :])
        r = sums.rss(ex.sum(0), np.einsum("np,np->p", ex, ex), np.einsum("np,np->p", ex, y), constant)
        return np.where(np.isfinite(r), r, np.inf)

    x1 = log_hi - _GOLDEN * (log_hi - log_lo)
    x2 = log_lo + _GOLDEN * (log_hi - log_lo)
    f1, f2 = rss_at(x1), rss_at(x2)
    for _ in range(_N_GOLDEN):
        left = f1 < f2
        log_hi = np.where(left, x2, log_hi)
        log_lo = np.where(left, log_lo, x1)
        x_new = np.where(left, log_hi - _GOLDEN * (log_hi - log_lo), log_lo + _GOLDEN * (log_hi - log_lo))
        f_new = rss_at(x_new)
        x2, f2, x1, f1 = np.where(left, x1, x_new), np.where(left, f1, f_new), np.where(left, x_new, x2), np.where(left, f_new, f2)
    tau = np.exp(np.where(f1 < f2, x1, x2))
    ex = np.exp(-tcol / tau[None, :])
    const, amp, rss = sums.solve(ex.sum(0), np.einsum("np,np->p", ex, ex), np.einsum("np,np->p", ex, y), constant)
    return tau, (const, amp), rss


class _Sums:
    """Pixel-wise sums of the data that do not depend on ``tau``."""

    def __init__(self, y: np.ndarray):
        self.n = y.shape[0]
        self.sy = y.sum(0)
        self.yy = np.einsum("np,np->p", y, y)

    def solve(self, se, see, sye, constant: bool):
        """Closed-form least squares for the amplitudes; returns (const, amp, rss)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if not constant:
                amp = sye / see
                return np.zeros_like(amp), amp, self.yy - amp * sye
            det = self.n * see - se * se
            const = (see * self.sy - se * sye) / det
            amp = (self.n * sye - se * self.sy) / det
        return const, amp, self.yy - const * self.sy - amp * sye

    def rss(self, se, see, sye, constant: bool) -> np.ndarray:
        return self.solve(se, see, sye, constant)[2]


# --- shapes and masks ----------------------------------------------------------


def _prepare(images: ArrayLike, times_ms: ArrayLike, mask: ArrayLike | None):
    images = np.asarray(images, dtype=float)
    t = np.asarray(times_ms, dtype=float).ravel()
    if images.ndim < 1 or images.shape[0] != t.size:
        raise ValueError(f"{t.size} times given for {images.shape[0] if images.ndim else 0} images")
    order = np.argsort(t, kind="stable")
    t, images = t[order], images[order]
    shape = images.shape[1:]
    y = images.reshape(t.size, -1)
    fit_px = np.all(np.isfinite(y), axis=0)
    if mask is not None:
        fit_px &= np.broadcast_to(np.asarray(mask, dtype=bool), shape).ravel()
    return y[:, fit_px], t, shape, fit_px


def _unflatten(values: np.ndarray, fit_px: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.full(fit_px.size, np.nan)
    out[fit_px] = values
    return out.reshape(shape)


def _ss_tot(y: np.ndarray) -> np.ndarray:
    return np.sum((y - y.mean(axis=0)) ** 2, axis=0)


def _residuals(rss: np.ndarray, n: int, n_params: int, amplitude: np.ndarray, fit_px: np.ndarray, shape) -> dict[str, np.ndarray]:
    """Residual SD in signal units and relative to the fitted amplitude (NaN with no degree of freedom left)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.maximum(rss, 0.0) / (n - n_params)) if n > n_params else np.full(rss.shape, np.nan)
        rel = np.where(np.abs(amplitude) > 0, sd / np.abs(amplitude), np.nan)
    return {"residual_sd": _unflatten(sd, fit_px, shape), "residual_rel": _unflatten(rel, fit_px, shape)}


def _r_squared(ss_tot: np.ndarray, rss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - rss / ss_tot, np.nan)
