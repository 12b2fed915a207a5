import numpy as np
import pytest

from myomap.mapping.models import look_locker_t1, molli_ideal_signal


def test_look_locker_correction_undefined_for_non_positive_a():
    assert np.isnan(look_locker_t1(0.0, 1.0, 500.0))
    assert np.isnan(look_locker_t1(-1.0, 1.0, 500.0))


def test_ideal_molli_signal_obeys_the_correction():
    t = np.array([0.0])
    # At TI = 0 the signal is |A - B| = A * T1 / T1*.
    assert molli_ideal_signal(t, 2.0, 1000.0, 500.0)[0] == pytest.approx(4.0)
