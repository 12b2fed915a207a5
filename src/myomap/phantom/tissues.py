"""Tissue relaxation properties and disease phenotypes of the phantom.

Values are population means and between-subject standard deviations of
native (pre-contrast) T1 and T2 in ms, and a relative proton density.  They
follow the ranges reported in the literature for MOLLI / T2-prep bSSFP at
1.5 T and 3 T (e.g. Messroghli et al., JCMR 2017, 19:75, the SCMR/EACVI
mapping consensus; von Knobelsdorff-Brenkenhoff et al., JCMR 2013, 15:53;
Stanisz et al., MRM 2005, 54:507 for non-cardiac tissue).  Phenotype effects
are sized after the same consensus paper and the disease studies it cites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myomap.conventions import Tissue


@dataclass(frozen=True)
class TissueProperties:
    """Mean and between-subject SD of T1 and T2 (ms), and proton density."""

    t1_ms: float
    t1_sd_ms: float
    t2_ms: float
    t2_sd_ms: float
    pd: float


_MYO_15 = TissueProperties(1000.0, 25.0, 50.0, 2.5, 0.75)
_BLOOD_15 = TissueProperties(1575.0, 38.0, 225.0, 12.0, 0.95)
_MYO_3 = TissueProperties(1200.0, 25.0, 44.0, 2.0, 0.75)
_BLOOD_3 = TissueProperties(1875.0, 38.0, 190.0, 12.0, 0.95)

# Pericardium (fibrous), stomach (fluid contents) and spleen are rough values after Stanisz et al.
# and de Bazelaire et al. (Radiology 2004;230:652); they only shape the surroundings of the heart.
TISSUES: dict[float, dict[Tissue, TissueProperties]] = {
    1.5: {
        Tissue.AIR: TissueProperties(1.0, 0.0, 1.0, 0.0, 0.0),
        Tissue.LUNG: TissueProperties(1200.0, 60.0, 40.0, 4.0, 0.08),
        Tissue.SUBCUTANEOUS_FAT: TissueProperties(280.0, 15.0, 70.0, 5.0, 0.9),
        Tissue.MUSCLE: TissueProperties(1030.0, 30.0, 35.0, 2.0, 0.7),
        Tissue.LIVER: TissueProperties(580.0, 30.0, 46.0, 3.0, 0.7),
        Tissue.BONE_MARROW: TissueProperties(380.0, 30.0, 60.0, 5.0, 0.55),
        Tissue.AORTA_BLOOD: _BLOOD_15,
        Tissue.EPICARDIAL_FAT: TissueProperties(280.0, 15.0, 70.0, 5.0, 0.9),
        Tissue.RV_BLOOD: _BLOOD_15,
        Tissue.RV_WALL: _MYO_15,
        Tissue.LV_BLOOD: _BLOOD_15,
        Tissue.LV_MYOCARDIUM: _MYO_15,
        Tissue.PAPILLARY: _MYO_15,
        Tissue.PERICARDIUM: TissueProperties(850.0, 40.0, 30.0, 3.0, 0.35),
        Tissue.STOMACH: TissueProperties(1600.0, 80.0, 110.0, 10.0, 0.85),
        Tissue.SPLEEN: TissueProperties(1060.0, 35.0, 65.0, 4.0, 0.8),
        Tissue.OUTFLOW_BLOOD: _BLOOD_15,
    },
    3.0: {
        Tissue.AIR: TissueProperties(1.0, 0.0, 1.0, 0.0, 0.0),
        Tissue.LUNG: TissueProperties(1300.0, 60.0, 32.0, 3.0, 0.08),
        Tissue.SUBCUTANEOUS_FAT: TissueProperties(380.0, 20.0, 60.0, 5.0, 0.9),
        Tissue.MUSCLE: TissueProperties(1400.0, 40.0, 31.0, 2.0, 0.7),
        Tissue.LIVER: TissueProperties(810.0, 40.0, 36.0, 3.0, 0.7),
        Tissue.BONE_MARROW: TissueProperties(450.0, 30.0, 50.0, 5.0, 0.55),
        Tissue.AORTA_BLOOD: _BLOOD_3,
        Tissue.EPICARDIAL_FAT: TissueProperties(380.0, 20.0, 60.0, 5.0, 0.9),
        Tissue.RV_BLOOD: _BLOOD_3,
        Tissue.RV_WALL: _MYO_3,
        Tissue.LV_BLOOD: _BLOOD_3,
        Tissue.LV_MYOCARDIUM: _MYO_3,
        Tissue.PAPILLARY: _MYO_3,
        Tissue.PERICARDIUM: TissueProperties(1000.0, 45.0, 27.0, 3.0, 0.35),
        Tissue.STOMACH: TissueProperties(1900.0, 90.0, 95.0, 10.0, 0.85),
        Tissue.SPLEEN: TissueProperties(1330.0, 40.0, 58.0, 4.0, 0.8),
        Tissue.OUTFLOW_BLOOD: _BLOOD_3,
    },
}


@dataclass(frozen=True)
class Phenotype:
    """A disease pattern and how it changes anatomy and myocardial T1/T2.

    ``diffuse_*`` shift the whole myocardium, ``focal_*`` the lesion only,
    both as a fraction of the subject's healthy value (same relative size at
    both fields).  ``lesion`` names where focal change sits (see
    :mod:`myomap.phantom.anatomy`).  ``wall_scale`` and ``cavity_scale``
    multiply wall thickness and cavity radius; ``septal_extra_mm`` thickens
    the septum (asymmetric hypertrophy); ``thinning`` is the fractional wall
    loss inside an ischaemic scar.
    """

    name: str
    weight: float
    diffuse_t1: float = 0.0
    diffuse_t2: float = 0.0
    focal_t1: float = 0.0
    focal_t2: float = 0.0
    lesion: str = "none"
    wall_scale: float = 1.0
    cavity_scale: float = 1.0
    septal_extra_mm: float = 0.0
    thinning: float = 0.0


PHENOTYPES: tuple[Phenotype, ...] = (
    Phenotype("healthy", 0.30),
    # Hypertrophic cardiomyopathy: asymmetric septal hypertrophy, patchy fibrosis at the RV insertions.
    Phenotype(
        "hcm",
        0.15,
        diffuse_t1=0.02,
        focal_t1=0.10,
        focal_t2=0.04,
        lesion="insertion",
        wall_scale=1.25,
        cavity_scale=0.85,
        septal_extra_mm=6.0,
    ),
    # Dilated cardiomyopathy: large cavity, thin wall, diffuse fibrosis, mid-wall septal stripe.
    Phenotype("dcm", 0.10, diffuse_t1=0.04, focal_t1=0.08, lesion="midwall_septal", wall_scale=0.75, cavity_scale=1.35),
    # Chronic ischaemic scar: subendocardial-to-transmural in one coronary territory, thinned wall.
    Phenotype("ischaemic_scar", 0.15, focal_t1=0.25, focal_t2=0.06, lesion="territory", thinning=0.45),
    # Acute myocarditis: subepicardial inferolateral oedema, high T2 and T1.
    Phenotype("myocarditis", 0.15, diffuse_t2=0.04, focal_t1=0.12, focal_t2=0.25, lesion="subepicardial_lateral"),
    # Cardiac amyloidosis: diffuse, strongly raised native T1, concentric thickening.
    Phenotype("amyloidosis", 0.075, diffuse_t1=0.15, diffuse_t2=0.06, wall_scale=1.35, cavity_scale=0.85),
    # Anderson-Fabry disease: low native T1 (lipid), basal inferolateral fibrosis with pseudonormal/high T1.
    Phenotype("fabry", 0.075, diffuse_t1=-0.10, focal_t1=0.22, focal_t2=0.08, lesion="basal_inferolateral", wall_scale=1.2),
)


def phenotype_by_name(name: str) -> Phenotype:
    """Look up a phenotype; the error lists the valid names."""
    for p in PHENOTYPES:
        if p.name == name:
            return p
    raise KeyError(f"unknown phenotype {name!r}; choose one of {', '.join(p.name for p in PHENOTYPES)}")


def draw_phenotype(rng: np.random.Generator) -> Phenotype:
    """Draw a phenotype with the cohort mix given by the weights."""
    w = np.array([p.weight for p in PHENOTYPES])
    return PHENOTYPES[int(rng.choice(len(PHENOTYPES), p=w / w.sum()))]


def draw_subject_tissues(field_t: float, rng: np.random.Generator) -> dict[Tissue, tuple[float, float, float]]:
    """Draw one subject's healthy (T1 ms, T2 ms, PD) per tissue at ``field_t`` tesla.

    Blood pools (LV, RV, aorta, outflow tract) share one draw, as do the muscle walls of
    LV, RV and papillary muscles.
    """
    table = TISSUES[field_t]
    drawn: dict[int, tuple[float, float, float]] = {}
    out: dict[Tissue, tuple[float, float, float]] = {}
    for tissue, p in table.items():
        key = id(p)
        if key not in drawn:
            t1 = max(p.t1_ms + p.t1_sd_ms * rng.standard_normal(), 1.0)
            t2 = max(p.t2_ms + p.t2_sd_ms * rng.standard_normal(), 1.0)
            drawn[key] = (t1, t2, p.pd)
        out[tissue] = drawn[key]
    return out


# --- post-contrast -----------------------------------------------------------------

ECV_BY_PHENOTYPE = {
    "healthy": (0.25, 0.02),
    "hcm": (0.29, 0.03),
    "dcm": (0.30, 0.03),
    "ischaemic_scar": (0.27, 0.02),
    "myocarditis": (0.31, 0.03),
    "amyloidosis": (0.45, 0.05),
    "fabry": (0.26, 0.02),
}
"""Mean and between-subject SD of myocardial ECV per phenotype (healthy 0.25 +- 0.04 in Dabir et al.,
JCMR 2014;16:69; amyloidosis far higher, the other cardiomyopathies mildly raised)."""

EXTRACELLULAR_FRACTION = {
    Tissue.AIR: 0.0,
    Tissue.LUNG: 0.3,
    Tissue.SUBCUTANEOUS_FAT: 0.1,
    Tissue.MUSCLE: 0.15,
    Tissue.LIVER: 0.3,
    Tissue.BONE_MARROW: 0.2,
    Tissue.EPICARDIAL_FAT: 0.1,
    Tissue.RV_WALL: None,  # myocardium: the subject's ECV
    Tissue.LV_MYOCARDIUM: None,
    Tissue.PAPILLARY: None,
    Tissue.PERICARDIUM: 0.35,
    Tissue.STOMACH: 0.1,
    Tissue.SPLEEN: 0.35,
}
"""Rough extracellular volume fractions of the tissues around the heart (they only shape the background)."""


BLOOD_POOLS = (Tissue.LV_BLOOD, Tissue.RV_BLOOD, Tissue.AORTA_BLOOD, Tissue.OUTFLOW_BLOOD)


@dataclass(frozen=True)
class PostContrast:
    """A subject's post-contrast state: haematocrit, myocardial ECV and the blood's R1 rise (1/ms).

    An extracellular agent raises a tissue's R1 by ``partition * delta_r1_blood_per_ms``
    (fast water exchange), the partition coefficient being ``ECV / (1 - Hct)``
    for tissue and 1 for blood; so ECV = (1 - Hct) * dR1_myo / dR1_blood
    holds exactly for the true T1.  ECV is uniform across the myocardium
    (focal lesions change native T1 only), so every AHA segment's true ECV
    is the subject's.  Gadolinium's T2 shortening is not modelled.
    """

    hematocrit: float
    ecv: float
    delta_r1_blood_per_ms: float

    def partition(self, tissue: Tissue) -> float:
        if tissue in BLOOD_POOLS:
            return 1.0
        fraction = EXTRACELLULAR_FRACTION[tissue]
        return (self.ecv if fraction is None else fraction) / (1.0 - self.hematocrit)


def draw_post_contrast(phenotype: Phenotype, native_blood_t1_ms: float, rng: np.random.Generator) -> PostContrast:
    """Haematocrit U(0.36, 0.48), ECV from :data:`ECV_BY_PHENOTYPE`, post-contrast blood T1 U(280, 380) ms (15 min after 0.15 mmol/kg)."""
    mean, sd = ECV_BY_PHENOTYPE[phenotype.name]
    ecv = float(np.clip(rng.normal(mean, sd), 0.15, 0.65))
    hematocrit = float(rng.uniform(0.36, 0.48))
    post_blood_ms = float(rng.uniform(280.0, 380.0))
    return PostContrast(hematocrit, ecv, 1.0 / post_blood_ms - 1.0 / native_blood_t1_ms)


def post_contrast_t1(t1_ms: np.ndarray, labels: np.ndarray, contrast: PostContrast) -> np.ndarray:
    """Post-contrast T1 (ms) of native ``t1_ms`` on tissues ``labels`` (same shape)."""
    partition = np.array([contrast.partition(Tissue(i)) for i in range(len(Tissue))])[labels]
    return 1.0 / (1.0 / t1_ms + partition * contrast.delta_r1_blood_per_ms)
