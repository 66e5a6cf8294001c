"""IO algebra against Miller & Blair's textbook example, and table validation."""

from __future__ import annotations

import numpy as np
import pytest

from stress.errors import InputError
from stress.mrio import math as iomath
from stress.mrio.tables import Mrio, validate

# Miller & Blair, Input-Output Analysis (2nd ed.), section 2.3: two sectors.
Z_MB = np.array([[150.0, 500.0], [200.0, 100.0]])
X_MB = np.array([1000.0, 2000.0])
F_MB = np.array([350.0, 1700.0])


def test_miller_blair_coefficients_and_inverse():
    A = iomath.calc_A(Z_MB, X_MB)
    np.testing.assert_allclose(A, [[0.15, 0.25], [0.20, 0.05]], rtol=0, atol=1e-15)
    L = iomath.calc_L(A)
    # The book prints L to 4 decimals: tolerance half a unit in the last digit.
    np.testing.assert_allclose(L, [[1.2541, 0.3300], [0.2640, 1.1221]], rtol=0, atol=5e-5)
    # x = L f reproduces the table's output exactly (closed form), and x = A x + f.
    np.testing.assert_allclose(L @ F_MB, X_MB, rtol=1e-12)
    np.testing.assert_allclose(A @ X_MB + F_MB, X_MB, rtol=1e-15)
    np.testing.assert_allclose(iomath.calc_x(Z_MB, F_MB[:, None]), X_MB, rtol=1e-15)


def test_miller_blair_new_final_demand():
    # The book's new final demand (600, 1500) needs output (1247.52, 1841.58), printed to 2 decimals.
    x = iomath.leontief_solve(iomath.calc_A(Z_MB, X_MB), np.array([600.0, 1500.0]))
    np.testing.assert_allclose(x, [1247.52, 1841.58], rtol=0, atol=5e-3)


def test_value_added_coefficients():
    # v = 1 - column sums of A: (1 - 0.35, 1 - 0.30).
    np.testing.assert_allclose(iomath.value_added_coefficients(Z_MB, X_MB), [0.65, 0.70], rtol=1e-15)


def _two_region(Z=None, Y=None, x=None):
    Z = np.array([[10.0, 5, 2, 1], [3, 20, 1, 4], [2, 1, 15, 6], [1, 3, 2, 12]]) if Z is None else Z
    Y = np.array([[30.0, 5], [25, 10], [8, 40], [6, 30]]) if Y is None else Y
    x = Z.sum(1) + Y.sum(1) if x is None else x
    return Mrio("toy", ("r1", "r2"), ("a", "b"), ("fd",), Z, Y, x, "USD")


def test_validate_accepts_a_productive_table():
    m = validate(_two_region())
    assert iomath.spectral_radius(m.A) < 1
    assert m.index("r2", "a") == 2


def test_validate_names_negative_rows():
    Z = _two_region().Z.copy()
    Z[2, 1] = -1.0
    with pytest.raises(InputError) as err:
        validate(_two_region(Z=Z))
    assert err.value.field == "world[toy].Z"
    assert "r2/a" in err.value.allowed


def test_validate_names_unbalanced_rows():
    m = _two_region()
    x = m.x.copy()
    x[3] *= 1.01
    with pytest.raises(InputError) as err:
        validate(_two_region(x=x))
    assert err.value.field == "world[toy].x"
    assert "r2/b" in err.value.allowed


def test_validate_rejects_unproductive_table():
    # Balanced, value added zero, but no final demand: every column of A sums to 1, so the
    # spectral radius is exactly 1 and (I - A) has no inverse.
    Z = np.array([[5.0, 6], [6, 5]])
    m = Mrio("bad", ("r",), ("a", "b"), ("fd",), Z, np.zeros((2, 1)), np.array([11.0, 11.0]), "USD")
    with pytest.raises(InputError) as err:
        validate(m)
    assert err.value.field == "world[bad].A"
    assert "spectral radius" in str(err.value)


def test_validate_rejects_shape_mismatch():
    m = _two_region()
    bad = Mrio("toy", ("r1", "r2"), ("a", "b"), ("fd",), m.Z[:3, :3], m.Y, m.x, "USD")
    with pytest.raises(InputError) as err:
        validate(bad)
    assert err.value.field == "world[toy].Z"


def test_pymrio_dir_loads_a_saved_table(tmp_path, pymrio_test):
    import pymrio

    from stress.config import WorldConfig
    from stress.mrio.io import load

    pymrio.load_test().save_all(tmp_path / "saved")
    m = load(WorldConfig(name="pymrio_dir", path=str(tmp_path / "saved")))
    assert m.regions == pymrio_test.regions and m.sectors == pymrio_test.sectors
    # Saved as text with 12 significant digits: equal to that precision.
    np.testing.assert_allclose(m.Z, pymrio_test.Z, rtol=1e-11)
    np.testing.assert_allclose(m.Y, pymrio_test.Y, rtol=1e-11)
