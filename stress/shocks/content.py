"""Chinese controlled content and the 0.1 % rule (host side, float64 NumPy).

China's extraterritorial rule (MOFCOM announcement 61 of October 2025) reaches foreign-made goods
that carry at least a threshold value share (0.1 %) of Chinese controlled rare-earth inputs. The
value share is measured here with total requirements (Miller & Blair, *Input-Output Analysis*,
2nd ed., sections 2.3 and 2.5): ``L = (I - A)^-1 = I + A + A^2 + ...``, and ``L_ij`` is the value of
``i``'s output needed, directly and through every tier of suppliers, per unit of ``j``'s output to
final users. ``L - I`` drops the unit of ``j``'s own output, leaving the input requirements only.
"""

from __future__ import annotations

import numpy as np

from stress.errors import InputError, check_range
from stress.mrio import math as iomath
from stress.mrio.tables import Mrio


def chinese_content(mrio: Mrio, controlled: np.ndarray) -> np.ndarray:
    """Value of controlled products embodied per unit of each industry's output.

    ``c_j = sum_{i controlled} (L - I)_ij`` with ``L = (I - A)^-1`` (Miller & Blair, eq. 2.11 and
    section 2.5 on output multipliers read by row): the direct input ``A_ij`` plus the indirect
    requirements ``(A^2 + A^3 + ...)_ij`` of the controlled industries ``i``, per unit of ``j``'s
    output. The industry's own unit of output is not counted, so a controlled industry's content
    is what it buys back from controlled industries (itself included), not 1.

    Parameters
    ----------
    mrio
        The world.
    controlled
        Which industries' products are controlled (e.g. ``CHN/ree_separation`` and
        ``CHN/magnets``), shape ``(n,)``: bool, or the controlled share of each industry's output.

    Returns
    -------
    np.ndarray
        ``c``, shape ``(n,)``, float64, >= 0, in value of controlled goods per value of output.
    """
    mask = np.asarray(controlled)
    if mask.shape != (mrio.n,) or not (mask.dtype == bool or (np.issubdtype(mask.dtype, np.floating) and np.all((mask >= 0) & (mask <= 1)))):
        raise InputError("controlled", f"{mask.dtype} array of shape {mask.shape}", f"a bool array, or shares in [0, 1], of shape {(mrio.n,)}")
    L = iomath.calc_L(mrio.A)
    # shares: only that part of an industry's output is a controlled product
    return mask.astype(float) @ (L - np.eye(mrio.n))


def subject_share(content: np.ndarray, phi: np.ndarray, threshold: float, *, field: str = "content_rule") -> np.ndarray:
    """Share of each industry's output that the extraterritorial rule reaches.

    A share ``phi_j`` of sector ``j``'s products carries all of its controlled content, so those
    products hold ``c_j / phi_j`` per unit of value and the rest hold none. The rule reaches the
    products whose content is at least ``threshold``: the subject share is ``phi_j`` where
    ``c_j / phi_j >= threshold`` and 0 otherwise (0 where ``phi_j = 0``). A threshold above every
    ``c_j / phi_j`` gives 0 everywhere (the rule is off).

    Parameters
    ----------
    content
        ``c`` from :func:`chinese_content`, shape ``(n,)``, finite, >= 0.
    phi
        Share of each industry's products that carry the content, shape ``(n,)``, in ``[0, 1]``.
    threshold
        Content share that makes a product subject, in ``(0, 1]`` (0.001 for the 0.1 % rule).
    field
        Name of the setting for error messages (``f"{field}.threshold"``, ``f"{field}.phi"``).

    Returns
    -------
    np.ndarray
        Subject share, shape ``(n,)``, float64, each entry 0 or ``phi_j``.
    """
    check_range(f"{field}.threshold", threshold, lo=0.0, hi=1.0, lo_open=True)
    c = np.asarray(content, dtype=float)
    ph = np.asarray(phi, dtype=float)
    if c.ndim != 1 or not np.all(np.isfinite(c)) or (c.size and c.min() < 0):
        raise InputError(f"{field}.content", f"shape {c.shape}", "a 1-d array of finite values >= 0")
    if ph.shape != c.shape:
        raise InputError(f"{field}.phi", f"shape {ph.shape}", f"shape {c.shape}, one share per industry")
    if not np.all(np.isfinite(ph)) or (ph.size and (ph.min() < 0 or ph.max() > 1)):
        raise InputError(f"{field}.phi", f"values in [{np.nanmin(ph):.4g}, {np.nanmax(ph):.4g}]", "shares in [0, 1]")
    # c / phi >= threshold  <=>  c >= threshold * phi (phi > 0); no division, no 0/0.
    subject = (ph > 0) & (c >= threshold * ph)
    return np.where(subject, ph, 0.0)
