"""The settings of a simulated cohort (``simulate.yaml``) and the error a bad one raises."""

from __future__ import annotations

from dataclasses import dataclass

from myomap.config import ConfigError, from_yaml, to_yaml

#: Field strengths (T) per ``--field`` choice; ``mixed`` alternates between them.
FIELDS = {"1.5T": (1.5,), "3T": (3.0,), "mixed": (1.5, 3.0)}


class SimulationError(RuntimeError):
    """The cohort cannot be written (bad arguments or output folder)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated cohort; saved as ``simulate.yaml``.

    Attributes
    ----------
    subjects : int
        Number of subjects.
    seed : int
        Cohort seed; the same seed gives byte-identical output.
    field : str
        ``"1.5T"`` (the paper's field), ``"3T"`` or ``"mixed"`` (half each).
    artefact_fraction : float
        Share of images with a motion or off-resonance artefact.
    snr_t1, snr_t2 : (float, float)
        Range of the myocardial SNR of the last MOLLI image and of the
        first T2-prep image: the myocardial signal over the per-channel
        noise SD, which is the SD of the magnitude noise at high SNR.
    misregistration_px : float
        SD of the in-plane shift between weighted images, in pixels.
    split : (float, float, float)
        Train / validation / test shares of the patient-level split.
    supersample : int
        Sub-pixels per pixel side for partial volume (odd).
    contrast : bool
        Also simulate post-contrast MOLLI T1 maps (``T1post_<slice>``
        folders, SeriesDescription ``..._post_...``) with a known
        haematocrit and myocardial ECV per subject (subjects.csv), the
        same slice placement and tissue texture as the native T1 maps and
        their own noise.  They
        are not in the manifest (the segmentation data set); the native
        images are byte-identical to a run without it.
    """

    subjects: int = 10
    seed: int = 0
    field: str = "1.5T"
    artefact_fraction: float = 0.15
    snr_t1: tuple[float, float] = (25.0, 45.0)
    snr_t2: tuple[float, float] = (35.0, 57.0)
    misregistration_px: float = 0.3
    split: tuple[float, float, float] = (0.65, 0.20, 0.15)
    supersample: int = 3
    contrast: bool = False

    def validate(self) -> None:
        if self.subjects < 1:
            raise SimulationError(f"--subjects must be at least 1, got {self.subjects}")
        if self.field not in FIELDS:
            raise SimulationError(f"--field must be one of {', '.join(FIELDS)}, got {self.field!r}")
        if not 0.0 <= self.artefact_fraction <= 1.0:
            raise SimulationError(f"artefact fraction must be within [0, 1], got {self.artefact_fraction}")
        if len(self.split) != 3 or min(self.split) < 0 or sum(self.split) <= 0:
            raise SimulationError(f"split must be three non-negative shares, got {self.split}")

    def to_yaml(self) -> str:
        return to_yaml(self)

    @classmethod
    def from_yaml(cls, text: str) -> SimulationConfig:
        try:
            return from_yaml(cls, text)
        except ConfigError as exc:
            raise SimulationError(f"simulation settings: {exc}") from None
