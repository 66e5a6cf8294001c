"""Input-output algebra in float64 NumPy, named after pymrio's ``iomath``.

Notation (Miller & Blair, *Input-Output Analysis*, ch. 2): ``Z`` intermediate flows, ``x`` gross
output, ``y`` final demand, ``A = Z diag(x)^-1`` technical coefficients, ``L = (I - A)^-1`` the
Leontief inverse, so that ``x = A x + y  =>  x = L y``.
"""

from __future__ import annotations

import numpy as np


def calc_A(Z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Technical coefficients ``a_ij = z_ij / x_j`` (0 where ``x_j = 0``). Shapes: ``(n, n), (n,) -> (n, n)``."""
    inv = np.divide(1.0, x, out=np.zeros_like(x, dtype=float), where=x != 0)
    return Z * inv[None, :]


def calc_x(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Gross output as row sums ``x = Z 1 + Y 1``."""
    return Z.sum(axis=1) + Y.reshape(Y.shape[0], -1).sum(axis=1)


def calc_L(A: np.ndarray) -> np.ndarray:
    """Leontief inverse ``(I - A)^-1``; raises if the residual ``||(I-A)L - I||`` exceeds 1e-8."""
    eye = np.eye(A.shape[0])
    L = np.linalg.inv(eye - A)
    resid = np.abs((eye - A) @ L - eye).max()
    if resid > 1e-8:
        raise np.linalg.LinAlgError(f"Leontief inverse inaccurate: residual {resid:.3g}")
    return L


def leontief_solve(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Output that meets final demand ``y``: solve ``(I - A) x = y``."""
    return np.linalg.solve(np.eye(A.shape[0]) - A, y)


def spectral_radius(A: np.ndarray) -> float:
    """Largest absolute eigenvalue of ``A``."""
    return float(np.max(np.abs(np.linalg.eigvals(A)))) if A.size else 0.0


def value_added_coefficients(Z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``v_j = (x_j - sum_i z_ij) / x_j`` (0 where ``x_j = 0``)."""
    va = x - Z.sum(axis=0)
    return np.divide(va, x, out=np.zeros_like(x, dtype=float), where=x != 0)
