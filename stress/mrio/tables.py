"""The MRIO on the host: a validated float64 table with its labels.

``Mrio`` holds a multi-regional input-output table exactly as published (yearly flows in the
table's money unit) together with its region, sector and final-demand labels. Industries are
ordered region-major: industry ``i`` is ``(regions[i // p], sectors[i % p])``. Labels never enter
JAX; :mod:`stress.propagation` receives only the arrays derived from a validated ``Mrio``.

Shapes: ``n = R * p`` industries, ``F`` final-demand categories per region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stress.errors import InputError
from stress.mrio import math as iomath


@dataclass(frozen=True)
class Mrio:
    """A multi-regional input-output table (host side, float64).

    Parameters
    ----------
    name
        Short identifier of the world, e.g. ``"ree_world"``.
    regions, sectors
        Labels; industries are ``(region, sector)`` pairs in region-major order.
    final_demand
        Final-demand category labels, the same for every region; the columns of ``Y`` are
        ``(region, category)`` pairs in region-major order.
    Z
        Intermediate flows, supplier industry x buying industry, money per year. Shape ``(n, n)``.
    Y
        Final demand, supplier industry x (region, category), money per year. Shape ``(n, R*F)``.
    x
        Gross output, money per year. Shape ``(n,)``.
    unit
        Money unit of ``Z``, ``Y`` and ``x`` (e.g. ``"billion USD (2024)"``).
    criticality
        Optional share of each buying industry's output that needs each product in fixed
        proportion, in ``[0, 1]``. Shape ``(p, n)``. ``None`` means 1 everywhere (pure ARIO).
    inventory_days
        Optional target stock of each product held by each buying industry, days of use,
        shape ``(p, n)``; NaN (or ``None`` for the whole table) means the model's default.
    psi
        Optional share of the target stock below which output is cut, by product and buyer,
        shape ``(p, n)``; NaN (or ``None``) means the model's default.
    stockpile_days
        Optional part of ``inventory_days`` held in national stockpiles, shape ``(p, n)``; a
        calibrated company cover (posterior draws) is added to it.
    meta
        Free-form provenance (source files, description).
    """

    name: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    final_demand: tuple[str, ...]
    Z: np.ndarray
    Y: np.ndarray
    x: np.ndarray
    unit: str
    criticality: np.ndarray | None = None
    inventory_days: np.ndarray | None = None
    psi: np.ndarray | None = None
    stockpile_days: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of industries ``R * p``."""
        return len(self.regions) * len(self.sectors)

    @property
    def A(self) -> np.ndarray:
        """Technical coefficients ``Z diag(x)^-1`` (0 where ``x = 0``)."""
        return iomath.calc_A(self.Z, self.x)

    @property
    def value_added(self) -> np.ndarray:
        """Value added per industry, ``x - 1'Z``, money per year. Shape ``(n,)``."""
        return self.x - self.Z.sum(axis=0)

    @property
    def value_added_coefficients(self) -> np.ndarray:
        """Value added per unit of output ``v_j`` (0 where ``x_j = 0``). Shape ``(n,)``."""
        return iomath.value_added_coefficients(self.Z, self.x)

    @property
    def industry_labels(self) -> list[tuple[str, str]]:
        """``(region, sector)`` of each industry, in table order."""
        return [(r, s) for r in self.regions for s in self.sectors]

    def index(self, region: str, sector: str) -> int:
        """Position of industry ``(region, sector)``."""
        return self.regions.index(region) * len(self.sectors) + self.sectors.index(sector)


def _rows(mrio: Mrio, mask: np.ndarray, limit: int = 5) -> str:
    labels = mrio.industry_labels
    idx = np.flatnonzero(mask)
    named = [f"{labels[i][0]}/{labels[i][1]}" for i in idx[:limit]]
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return ", ".join(named) + more


def validate(mrio: Mrio, *, rtol: float = 1e-6) -> Mrio:
    """Check that ``mrio`` is a usable input-output table; return it unchanged.

    Checks, in float64: shapes agree with the labels; every entry is finite and non-negative;
    the table balances (``x = Z 1 + Y 1`` within ``rtol`` of each row's output); value added is
    non-negative; the spectral radius of ``A`` is below 1 (so the Leontief inverse exists).

    Raises
    ------
    InputError
        Naming the world, the check that failed and the offending rows.
    """
    field_ = f"world[{mrio.name}]"
    R, p, F = len(mrio.regions), len(mrio.sectors), len(mrio.final_demand)
    n = R * p
    for label, arr, shape in (("Z", mrio.Z, (n, n)), ("Y", mrio.Y, (n, R * F)), ("x", mrio.x, (n,))):
        if np.shape(arr) != shape:
            raise InputError(f"{field_}.{label}", f"shape {np.shape(arr)}", f"shape {shape} for {R} regions x {p} sectors")
    for label, dup in (("regions", mrio.regions), ("sectors", mrio.sectors)):
        if len(set(dup)) != len(dup):
            raise InputError(f"{field_}.{label}", list(dup), "unique labels")
    for label, arr in (("Z", mrio.Z), ("Y", mrio.Y), ("x", mrio.x)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = bad if bad.ndim == 1 else bad.any(axis=1)
            raise InputError(f"{field_}.{label}", "non-finite entries", f"finite numbers (rows {_rows(mrio, rows)})")
        neg = arr < 0
        if neg.any():
            rows = neg if neg.ndim == 1 else neg.any(axis=1)
            raise InputError(
                f"{field_}.{label}",
                f"negative entries (min {arr.min():.4g})",
                f"non-negative flows (rows {_rows(mrio, rows)})",
            )
    total = mrio.Z.sum(axis=1) + mrio.Y.sum(axis=1)
    unbalanced = np.abs(total - mrio.x) > rtol * np.maximum(mrio.x, 1e-12)
    if unbalanced.any():
        worst = int(np.argmax(np.abs(total - mrio.x)))
        raise InputError(
            f"{field_}.x",
            f"row sums differ from output (worst {mrio.industry_labels[worst]}: Z1+Y1={total[worst]:.6g}, x={mrio.x[worst]:.6g})",
            f"a balanced table, x = Z 1 + Y 1 within {rtol:g} (rows {_rows(mrio, unbalanced)})",
        )
    if mrio.criticality is not None:
        c = mrio.criticality
        if np.shape(c) != (p, n):
            raise InputError(f"{field_}.criticality", f"shape {np.shape(c)}", f"shape {(p, n)} (products x buying industries)")
        if not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1:
            raise InputError(f"{field_}.criticality", f"values in [{np.nanmin(c):.3g}, {np.nanmax(c):.3g}]", "shares in [0, 1]")
    for name, lo, hi in (("inventory_days", 1.0, np.inf), ("psi", 0.0, 1.0)):
        a = getattr(mrio, name)
        if a is None:
            continue
        if np.shape(a) != (p, n):
            raise InputError(f"{field_}.{name}", f"shape {np.shape(a)}", f"shape {(p, n)} (products x buying industries)")
        given = a[~np.isnan(a)]
        if given.size and (given.min() < lo or given.max() > hi or not np.all(np.isfinite(given))):
            raise InputError(f"{field_}.{name}", f"values in [{given.min():.3g}, {given.max():.3g}]", f"numbers in [{lo:g}, {hi:g}] or empty")
    va = mrio.value_added
    neg_va = va < -rtol * np.maximum(mrio.x, 1e-12)
    if neg_va.any():
        raise InputError(
            f"{field_}.Z",
            "column sums above output (negative value added)",
            f"inputs no larger than output (columns {_rows(mrio, neg_va)})",
        )
    rho = iomath.spectral_radius(mrio.A)
    if not rho < 1.0:
        colsum = mrio.A.sum(axis=0)
        raise InputError(
            f"{field_}.A",
            f"spectral radius {rho:.6g}",
            f"a productive table, spectral radius < 1 (largest input shares in columns {_rows(mrio, colsum >= 1.0)})",
        )
    return mrio
