"""Signal generation by the mapping sequences: MOLLI 5(3)3 and T2-prep bSSFP.

MOLLI is simulated along its timeline rather than drawn from the fitting
model: two inversions, single-shot bSSFP readouts one per heartbeat, free T1
recovery in between.  During a readout the magnetisation approaches the
bSSFP steady state with the apparent rate ``R1* = R1 cos²(α/2) + R2 sin²(α/2)``
(Schmitt et al., MRM 2004, 51:661); between readouts it recovers with R1.
The sampled signal is the magnetisation at the centre of k-space.  Fitting
the three-parameter model to these samples reproduces MOLLI's known
behaviour: T1 read low, more so for short T2 and for long T1 at high heart
rate (Kellman & Hansen, JCMR 2014, 16:2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from myomap.mapping.models import t2_decay


@dataclass(frozen=True)
class MolliProtocol:
    """MOLLI 5(3)3 timing and readout.

    Parameters
    ----------
    heart_rate_bpm : float
        Sets the RR interval; one image per heartbeat.
    first_ti_ms : float
        Inversion time of the first image after the first inversion.
    ti_increment_ms : float
        How much later the second Look-Locker set starts after its inversion.
    flip_angle_deg, readout_ms : float
        bSSFP flip angle and duration of one single-shot readout, whose
        k-space centre is in its middle.
    inversion_efficiency : float
        Fraction of Mz inverted by the adiabatic pulse.
    """

    heart_rate_bpm: float = 70.0
    first_ti_ms: float = 110.0
    ti_increment_ms: float = 80.0
    flip_angle_deg: float = 35.0
    readout_ms: float = 100.0
    inversion_efficiency: float = 0.98

    @property
    def rr_ms(self) -> float:
        return 60000.0 / self.heart_rate_bpm

    def _events(self) -> list[tuple[float, str, float]]:
        """(absolute time, kind, inversion time) of inversions and readout centres, in order."""
        rr = self.rr_ms
        first = [(self.first_ti_ms + k * rr, "read", self.first_ti_ms + k * rr) for k in range(5)]
        # Beats 6-8 recover; the second set is read in beats 9-11.
        second_ti = self.first_ti_ms + self.ti_increment_ms
        second_start = self.first_ti_ms + 8 * rr
        inversion2 = second_start - second_ti
        second = [(second_start + k * rr, "read", second_ti + k * rr) for k in range(3)]
        return sorted([(0.0, "invert", 0.0), (inversion2, "invert", 0.0), *first, *second])

    def inversion_times_ms(self) -> np.ndarray:
        """The eight inversion times, sorted."""
        return np.sort([ti for _, kind, ti in self._events() if kind == "read"])


def molli_signal(protocol: MolliProtocol, t1_ms: ArrayLike, t2_ms: ArrayLike, pd: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Signed MOLLI signals for tissue parameter arrays of any (equal) shape.

    Returns ``(times_ms, signals)`` with ``signals`` of shape ``(8, *shape)``
    sorted by inversion time.  Take the magnitude after any partial-volume
    mixing: voxels add signed signals.
    """
    t1 = np.asarray(t1_ms, dtype=float)
    t2 = np.asarray(t2_ms, dtype=float)
    m0 = np.asarray(pd, dtype=float)
    half = np.deg2rad(protocol.flip_angle_deg) / 2.0
    r1, r2 = 1.0 / t1, 1.0 / t2
    r1_star = np.cos(half) ** 2 * r1 + np.sin(half) ** 2 * r2
    ratio = t1 / t2
    steady = m0 * np.sin(2 * half) / ((ratio + 1.0) - np.cos(2 * half) * (ratio - 1.0)) / np.sin(half)
    window = protocol.readout_ms
    decay_half = np.exp(-0.5 * window * r1_star)

    mz = np.broadcast_to(m0, np.broadcast_shapes(t1.shape, t2.shape, m0.shape)).copy()
    now = 0.0
    times: list[float] = []
    signals: list[np.ndarray] = []
    for at, kind, ti in protocol._events():
        start = at if kind == "invert" else at - window / 2
        mz = m0 - (m0 - mz) * np.exp(-(start - now) * r1)
        if kind == "invert":
            mz = -protocol.inversion_efficiency * mz
            now = at
            continue
        centre = steady + (mz - steady) * decay_half
        signals.append(np.sin(half) * centre)
        times.append(ti)
        mz = steady + (centre - steady) * decay_half  # tipped back to z at the end of the readout
        now = at + window / 2
    order = np.argsort(times)
    return np.asarray(times)[order], np.stack(signals)[order]


T2_PREP_TIMES_MS = (0.0, 25.0, 55.0)


def t2prep_signal(t2_ms: ArrayLike, pd: ArrayLike, prep_times_ms: ArrayLike = T2_PREP_TIMES_MS) -> tuple[np.ndarray, np.ndarray]:
    """T2-prepared bSSFP signals ``pd * exp(-TE_prep / T2)``; returns ``(times_ms, signals)``."""
    te = np.asarray(prep_times_ms, dtype=float)
    t2 = np.asarray(t2_ms, dtype=float)
    return te, t2_decay(te.reshape((-1,) + (1,) * t2.ndim), pd, t2)
