"""Signal equations of the mapping sequences, as pure functions.

All times are in milliseconds.  The functions broadcast over numpy arrays, so
``times_ms`` of shape ``(n, 1, 1)`` and parameter maps of shape ``(rows, cols)``
give a stack of ``n`` weighted images.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def inversion_recovery(times_ms: ArrayLike, a: ArrayLike, b: ArrayLike, t1_ms: ArrayLike) -> np.ndarray:
    """Signed three-parameter inversion recovery ``a - b * exp(-t / t1)``.

    For a Look-Locker (MOLLI) acquisition ``t1_ms`` is the apparent T1*; for a
    spin-echo inversion recovery it is T1 itself.  Take ``np.abs`` of the
    result for magnitude images.

    Examples
    --------
    >>> float(inversion_recovery(0.0, 1.0, 2.0, 1000.0))
    -1.0
    """
    t = np.asarray(times_ms, dtype=float)
    return np.asarray(a) - np.asarray(b) * np.exp(-t / np.asarray(t1_ms, dtype=float))


def look_locker_t1(a: ArrayLike, b: ArrayLike, t1_star_ms: ArrayLike) -> np.ndarray:
    """Look-Locker corrected T1 in ms, ``T1 = T1* (B/A - 1)`` (Deichmann & Haase 1992).

    Gives NaN where ``a`` is not positive or ``b <= a`` (T1 would not be
    positive): such parameters come from fitting noise, not tissue.

    Examples
    --------
    >>> float(look_locker_t1(1.0, 2.0, 500.0))
    500.0
    """
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.asarray(t1_star_ms, dtype=float) * (np.asarray(b, dtype=float) / a - 1.0)
    return np.where((a > 0) & (t1 > 0), t1, np.nan)


def molli_ideal_signal(times_ms: ArrayLike, m0: ArrayLike, t1_ms: ArrayLike, t1_star_ms: ArrayLike) -> np.ndarray:
    """Magnitude MOLLI signal that obeys the three-parameter model exactly.

    ``A = m0`` and ``B`` is chosen so that the Look-Locker correction returns
    ``t1_ms`` exactly: ``B = A (1 + T1 / T1*)``.  Useful to test fitters; the
    phantom's realistic signal comes from :mod:`myomap.phantom.sequences`.
    """
    m0 = np.asarray(m0, dtype=float)
    b = m0 * (1.0 + np.asarray(t1_ms, dtype=float) / np.asarray(t1_star_ms, dtype=float))
    return np.abs(inversion_recovery(times_ms, m0, b, t1_star_ms))


def t2_decay(times_ms: ArrayLike, m0: ArrayLike, t2_ms: ArrayLike, offset: ArrayLike = 0.0) -> np.ndarray:
    """Mono-exponential T2 decay ``m0 * exp(-t / t2) + offset``.

    ``times_ms`` are T2-preparation durations (or echo times).

    Examples
    --------
    >>> round(float(t2_decay(50.0, 1.0, 50.0)), 4)
    0.3679
    """
    t = np.asarray(times_ms, dtype=float)
    return np.asarray(m0) * np.exp(-t / np.asarray(t2_ms, dtype=float)) + np.asarray(offset)
