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
    of determination on the polarity-restored signal.
    """

    t1_ms: np.ndarray
    t1_star_ms: np.ndarray
    a: np.ndarray
    b: np.ndarray
    r2: np.ndarray


@dataclass(frozen=True)
class T2Fit:
    """Result of a mono-exponential T2 fit; every field has the image shape."""

    t2_ms: np.ndarray
    m0: np.ndarray
    offset: np.ndarray
    r2: np.ndarray


def fit_inversion_recovery(
    images: ArrayLike,
    times_ms: ArrayLike,
    *,
    look_locker: bool = True,
    mask: ArrayLike | None = None,
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
    t1_range_ms : (float, float)
        Physical bounds of the fitted time constant T1*.

    Returns
    -------
    T1Fit

    Notes
    -----
    Polarity restoration: the signed signal is negative before the null and
    positive after it.  The null lies next to the smallest magnitude, so the
    two sign patterns "negative up to, excluding / including, the smallest
    sample" are both fitted and the better one kept (Barral et al. 2010).
    """
    y, t, shape, fit_px = _prepare(images, times_ms, mask)
    n = t.size
    k_min = np.argmin(y, axis=0)
    best_rss = np.full(y.shape[1], np.inf)
    best = np.full((3, y.shape[1]), np.nan)
    best_ss_tot = np.zeros(y.shape[1])
    for extra in (0, 1):
        n_negative = k_min + extra
        signs = np.where(np.arange(n)[:, None] < n_negative[None, :], -1.0, 1.0)
        ys = y * signs
        tau, coef, rss = _varpro(ys, t, _ir_basis, t1_range_ms)
        better = rss < best_rss
        best_rss = np.where(better, rss, best_rss)
        best[:, better] = np.vstack([coef, tau[None, :]])[:, better]
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
    )


def fit_t2(
    images: ArrayLike,
    times_ms: ArrayLike,
    *,
    offset: bool = False,
    mask: ArrayLike | None = None,
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
    t2_range_ms : (float, float)
        Physical bounds of the fitted T2.
    """
    y, t, shape, fit_px = _prepare(images, times_ms, mask)
    basis = _t2_offset_basis if offset else _t2_basis
    t2, coef, rss = _varpro(y, t, basis, t2_range_ms)
    m0 = coef[0]
    off = coef[1] if offset else np.zeros_like(m0)
    t2 = np.where(m0 > 0, t2, np.nan)
    return T2Fit(
        t2_ms=_unflatten(t2, fit_px, shape),
        m0=_unflatten(m0, fit_px, shape),
        offset=_unflatten(off, fit_px, shape),
        r2=_unflatten(_r_squared(_ss_tot(y), rss), fit_px, shape),
    )


# --- basis functions: shape (m, n, ...) for times t of shape (n, 1) -------------


def _ir_basis(t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    e = np.exp(-t / tau)
    return np.stack([np.ones_like(e), -e])


def _t2_basis(t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    return np.exp(-t / tau)[None]


def _t2_offset_basis(t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    e = np.exp(-t / tau)
    return np.stack([e, np.ones_like(e)])


# --- variable projection -------------------------------------------------------


def _varpro(y: np.ndarray, t: np.ndarray, basis, bounds: tuple[float, float], n_grid: int = 40, n_golden: int = 26):
    """Minimise the projected residual over one time constant per pixel.

    ``y`` has shape (n, P).  Returns ``(tau, coef, rss)`` with shapes (P,),
    (m, P), (P,).
    """
    tcol = t[:, None]
    grid = np.geomspace(bounds[0], bounds[1], n_grid)
    # Grid stage: the basis does not depend on the pixel, so one product per basis function.
    b_grid = basis(tcol, grid[None, :])  # (m, n, G)
    rss_grid = _grid_rss(b_grid, y)  # (G, P)
    rss_grid = np.where(np.isfinite(rss_grid), rss_grid, np.inf)
    g = np.argmin(rss_grid, axis=0)
    log_lo = np.log(grid[np.clip(g - 1, 0, n_grid - 1)])
    log_hi = np.log(grid[np.clip(g + 1, 0, n_grid - 1)])

    def rss_at(log_tau: np.ndarray) -> np.ndarray:
        r = _projected_rss(basis(tcol, np.exp(log_tau)[None, :]), y)
        return np.where(np.isfinite(r), r, np.inf)

    # Golden-section search in log(tau) inside the grid bracket.
    x1 = log_hi - _GOLDEN * (log_hi - log_lo)
    x2 = log_lo + _GOLDEN * (log_hi - log_lo)
    f1, f2 = rss_at(x1), rss_at(x2)
    for _ in range(n_golden):
        left = f1 < f2
        log_hi = np.where(left, x2, log_hi)
        log_lo = np.where(left, log_lo, x1)
        x_new = np.where(left, log_hi - _GOLDEN * (log_hi - log_lo), log_lo + _GOLDEN * (log_hi - log_lo))
        f_new = rss_at(x_new)
        x2, f2, x1, f1 = np.where(left, x1, x_new), np.where(left, f1, f_new), np.where(left, x_new, x2), np.where(left, f_new, f2)
    tau = np.exp(np.where(f1 < f2, x1, x2))
    coef, rss = _linear_ls(basis(tcol, tau[None, :]), y)
    return tau, coef, rss


def _projected_rss(b: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _linear_ls(b, y)[1]


def _grid_rss(b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Residual for every grid value (columns of ``b``, shape (m, n, G)) and pixel: (G, P)."""
    gram = np.einsum("ing,jng->ijg", b, b)[:, :, :, None]
    h = np.einsum("ing,np->igp", b, y, optimize=True)
    return _solve_normal(gram, h, np.sum(y * y, axis=0))[1]


def _linear_ls(b: np.ndarray, y: np.ndarray):
    """Least squares of ``y ≈ Σ_m coef_m b_m`` along axis 0, batched over pixels.

    ``b`` has shape (m, n, P) and ``y`` shape (n, P).  Returns coef (m, P)
    and the residual sum of squares (P,).
    """
    gram = np.einsum("inp,jnp->ijp", b, b)
    h = np.einsum("inp,np->ip", b, y)
    return _solve_normal(gram, h, np.sum(y * y, axis=0))


def _solve_normal(gram: np.ndarray, h: np.ndarray, yy: np.ndarray):
    """Closed-form solve of 1×1 or 2×2 normal equations, batched; returns (coef, rss)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if h.shape[0] == 1:
            c1 = h[0] / gram[0, 0]
            return c1[None], yy - c1 * h[0]
        det = gram[0, 0] * gram[1, 1] - gram[0, 1] ** 2
        c1 = (gram[1, 1] * h[0] - gram[0, 1] * h[1]) / det
        c2 = (gram[0, 0] * h[1] - gram[0, 1] * h[0]) / det
    return np.stack([c1, c2]), yy - c1 * h[0] - c2 * h[1]


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


def _r_squared(ss_tot: np.ndarray, rss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - rss / ss_tot, np.nan)
