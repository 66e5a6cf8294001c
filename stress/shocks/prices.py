"""Tariff matrices and Leontief cost-push prices (host side, float64 NumPy).

A tariff level is a list of rules; each rule puts an extra ad valorem tariff (above the table's
year) on the deliveries of some supplier industries of the exporting regions to the importing
regions::

    {importer: NAME | [NAMES], exporter: NAME | [NAMES], sectors: null | NAME | [NAMES], rate: 1.45}

``sectors`` are the supplier's sectors (the products tariffed); null or absent means every sector.
Rules add up where they overlap. A region never tariffs itself: a rule whose importers and
exporters share a region is refused.

Prices (Miller & Blair, *Input-Output Analysis*, 2nd ed., section 2.6, the Leontief price model)
are producer price indices, 1 in the table's year. With full pass-through of the tariffs on
intermediate inputs, each industry's unit cost is its inputs at delivered prices plus its value
added per unit of output, which is held fixed::

    p_j = sum_i A_ij p_i (1 + tariff_{i, r(j)}) + v_j,   i.e.   p = (I - Atilde')^-1 v,
    Atilde_ij = A_ij (1 + tariff_{i, r(j)}).

Tariffs on final demand raise the delivered price ``p_i (1 + tariff_ir)`` paid by final buyers in
region ``r`` but not any producer price: they enter the kernel through the delivered price, not
through ``p``.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np

from stress.errors import InputError, check_names, check_range
from stress.mrio import math as iomath
from stress.mrio.tables import Mrio

RULE_KEYS = ("importer", "exporter", "sectors", "rate")
REQUIRED_KEYS = ("importer", "exporter", "rate")

BASELINE_TOL = 1e-9
"""Largest allowed deviation of the no-tariff price from 1. Balance makes ``1'A + v' = 1'`` hold
to rounding (about 1e-16 per column), and ``p = 1`` then solves the price equation; the solve
adds a few units of rounding times the condition number of ``I - A`` (below 1e3 for productive
tables like ours), far below 1e-9. A larger deviation means ``v`` is inconsistent with ``A``."""


def _names(field: str, value, allowed: tuple[str, ...], *, null_means_all: bool = False) -> list[str]:
    """A name or a list of names, checked against ``allowed``; null is every name if allowed."""
    if value is None and null_means_all:
        return list(allowed)
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        names = list(value)
    else:
        what = "a name or a non-empty list of names" + (", or null for all" if null_means_all else "")
        raise InputError(field, value, f"{what}, from {', '.join(allowed)}")
    check_names(field, names, list(allowed))
    if len(set(names)) != len(names):
        raise InputError(field, names, "each name once")
    return names


def region_of_industry(mrio: Mrio) -> np.ndarray:
    """Region index of each industry (region-major order). Shape ``(n,)``, int."""
    return np.repeat(np.arange(len(mrio.regions)), len(mrio.sectors))


def tariff_matrix(rules: list[dict], mrio: Mrio, field: str) -> np.ndarray:
    """Extra ad valorem tariff on each supplier industry's deliveries to each buyer region.

    Parameters
    ----------
    rules
        List of ``{importer, exporter, sectors, rate}`` mappings (see the module docstring);
        an empty list is no extra tariff.
    mrio
        The world whose regions and sectors the names refer to.
    field
        Name of the setting for error messages; rule ``k``'s rate is ``f"{field}[{k}].rate"``.

    Returns
    -------
    np.ndarray
        ``tariff[i, r]``, shape ``(n, R)``, float64, >= 0; zero where ``i`` is in region ``r``.

    Raises
    ------
    InputError
        On a rule that is not a mapping, misses or adds keys, names an unknown region or sector,
        has an importer that is also an exporter, or a rate that is not a finite number >= 0.
    """
    if not isinstance(rules, list | tuple):
        raise InputError(field, rules, "a list of tariff rules {importer, exporter, sectors, rate}")
    R, p = len(mrio.regions), len(mrio.sectors)
    T = np.zeros((mrio.n, R))
    for k, rule in enumerate(rules):
        f = f"{field}[{k}]"
        if not isinstance(rule, Mapping):
            raise InputError(f, rule, "a mapping {importer, exporter, sectors, rate}")
        unknown = [key for key in rule if key not in RULE_KEYS]
        if unknown:
            raise InputError(f"{f}.{unknown[0]}", rule[unknown[0]], "no such key: a rule has " + ", ".join(RULE_KEYS))
        missing = [key for key in REQUIRED_KEYS if key not in rule]
        if missing:
            raise InputError(f"{f}.{missing[0]}", None, f"required: a rule has {', '.join(REQUIRED_KEYS)} (and optionally sectors)")
        importers = _names(f"{f}.importer", rule["importer"], mrio.regions)
        exporters = _names(f"{f}.exporter", rule["exporter"], mrio.regions)
        sectors = _names(f"{f}.sectors", rule.get("sectors"), mrio.sectors, null_means_all=True)
        both = [r for r in importers if r in exporters]
        if both:
            value = both[0] if len(both) == 1 else both
            raise InputError(f"{f}.importer", value, "regions other than the exporters: a region never tariffs itself")
        rate = rule["rate"]
        if isinstance(rate, bool) or not isinstance(rate, Real):
            raise InputError(f"{f}.rate", rate, "a rate >= 0, e.g. 1.45 for 145 %")
        check_range(f"{f}.rate", float(rate), lo=0.0, finite=True)
        rows = [mrio.regions.index(e) * p + mrio.sectors.index(s) for e in exporters for s in sectors]
        cols = [mrio.regions.index(r) for r in importers]
        T[np.ix_(rows, cols)] += float(rate)
    return T


def _check_tariff(mrio: Mrio, tariff: np.ndarray, field: str) -> np.ndarray:
    R = len(mrio.regions)
    T = np.asarray(tariff, dtype=float)
    if T.shape != (mrio.n, R):
        raise InputError(field, f"shape {T.shape}", f"shape {(mrio.n, R)} (supplier industries x buyer regions)")
    if not np.all(np.isfinite(T)) or T.min() < 0:
        raise InputError(field, f"values in [{np.nanmin(T):.4g}, {np.nanmax(T):.4g}]", "finite rates >= 0")
    own = T[np.arange(mrio.n), region_of_industry(mrio)]
    if np.any(own != 0):
        i = int(np.flatnonzero(own)[0])
        r, s = mrio.industry_labels[i]
        raise InputError(field, f"{own[i]:g} on {r}/{s} to {r}", "0 on deliveries inside a region: a region never tariffs itself")
    return T


def unit_cost_value_added(mrio: Mrio) -> np.ndarray:
    """Value added per unit of output ``v``, with ``v_j = 1`` for industries without output.

    An industry with ``x_j = 0`` has no inputs in ``A`` and no value added in the table, so the
    price equation would give it price 0; it sells nothing, and the convention ``v_j = 1`` gives it
    price 1 at any tariff (its column of ``A`` is zero), so delivered-price factors stay finite.
    """
    v = mrio.value_added_coefficients.copy()
    v[mrio.x == 0] = 1.0
    return v


def leontief_prices(mrio: Mrio, tariff: np.ndarray, *, field: str = "tariff") -> np.ndarray:
    """Producer price index of each industry under extra tariffs, with full cost pass-through.

    Solves ``p = Atilde' p + v`` with ``Atilde_ij = A_ij (1 + tariff_{i, r(j)})`` (see the module
    docstring). Without tariffs ``p = 1`` (checked to :data:`BASELINE_TOL`). Only tariffs on
    intermediate deliveries move producer prices; tariffs on final demand act through the
    delivered price ``p_i (1 + tariff_ir)`` in the kernel.

    Parameters
    ----------
    mrio
        The world (``A`` and ``v`` are taken from it).
    tariff
        Extra ad valorem tariff of supplier industry ``i`` on deliveries to region ``r``,
        shape ``(n, R)``, finite, >= 0, zero inside a region (as built by :func:`tariff_matrix`).
    field
        Name of the setting for error messages.

    Returns
    -------
    np.ndarray
        ``p``, shape ``(n,)``, float64, ``>= 1`` for non-negative tariffs.

    Raises
    ------
    InputError
        On a tariff of the wrong shape or with bad values, or tariffs so high that the priced
        input coefficients are no longer productive (spectral radius of ``Atilde`` >= 1: costs
        would grow without bound); ``ValueError`` if the table's own baseline price is not 1.
    """
    T = _check_tariff(mrio, tariff, field)
    A = mrio.A
    v = unit_cost_value_added(mrio)
    eye = np.eye(mrio.n)
    p0 = np.linalg.solve(eye - A.T, v)
    dev = float(np.abs(p0 - 1.0).max()) if p0.size else 0.0
    if not dev <= BASELINE_TOL:
        worst = int(np.argmax(np.abs(p0 - 1.0)))
        raise ValueError(
            f"world[{mrio.name}]: the no-tariff price of {mrio.industry_labels[worst]} is {p0[worst]:.12g}, not 1 "
            f"(deviation {dev:.3g} > {BASELINE_TOL:g}): value added per unit is inconsistent with the input coefficients"
        )
    At = A * (1.0 + T[:, region_of_industry(mrio)])
    if not np.any(T):
        return p0
    rho = iomath.spectral_radius(At)
    if not rho < 1.0:
        raise InputError(
            field,
            f"tariffs giving priced input coefficients with spectral radius {rho:.6g}",
            "tariffs low enough that input costs stay finite (spectral radius of A(1 + tariff) below 1)",
        )
    return np.linalg.solve(eye - At.T, v)


def price_table(levels: list[list[dict]], mrio: Mrio, field: str, names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Producer prices and tariff matrices of every tariff level.

    Parameters
    ----------
    levels
        One list of rules per tariff level (an empty list: no extra tariff).
    mrio
        The world.
    field
        Name of the setting; level ``k``'s rule ``j`` is ``f"{field}[{k}][{j}]"``, or
        ``f"{field}.{names[k]}.rules[{j}]"`` with ``names``.

    Returns
    -------
    (price, tariff)
        ``price[k]`` shape ``(K, n)`` and ``tariff[k]`` shape ``(K, n, R)``, float64.
    """
    if not isinstance(levels, list | tuple) or not levels:
        raise InputError(field, levels, "a non-empty list of tariff levels, each a list of rules")
    where = [f"{field}[{k}]" if names is None else f"{field}.{names[k]}.rules" for k in range(len(levels))]
    tariffs = np.stack([tariff_matrix(rules, mrio, where[k]) for k, rules in enumerate(levels)])
    prices = np.stack([leontief_prices(mrio, T, field=where[k]) for k, T in enumerate(tariffs)])
    return prices, tariffs
