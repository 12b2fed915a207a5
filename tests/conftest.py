from pathlib import Path

import pytest

from myomap.phantom.cohort import SimulationConfig, simulate_cohort


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """A tiny simulated cohort shared by the tests: 3 subjects, one of them a test subject."""
    out = tmp_path_factory.mktemp("cohort") / "data"
    simulate_cohort(out, SimulationConfig(subjects=3, seed=11), workers=1)
    return out


@pytest.fixture(scope="session")
def contrast_cohort(tmp_path_factory) -> Path:
    """One subject with native and post-contrast T1 maps (known haematocrit and ECV), no artefacts."""
    out = tmp_path_factory.mktemp("contrast") / "data"
    simulate_cohort(out, SimulationConfig(subjects=1, seed=5, artefact_fraction=0.0, contrast=True), workers=1)
    return out
