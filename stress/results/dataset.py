"""Engine results -> one ``xarray.Dataset`` with CF-style attributes, written atomically.

Dimensions: ``region``, ``sector``, ``quantile``, ``week`` (and ``day`` for trajectories).
Every variable has ``units`` and ``long_name``; ``ds.attrs`` hold the provenance (resolved
config, seed, number of paths, versions, device, wall time).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress.errors import InputError
from stress.metrics import FIXED_POINT, Accumulator, histogram_quantiles
from stress.mrio.tables import Mrio



def tail_stats(values: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    """Monte Carlo statistics of per-path losses. Shapes: ``(N, k), (Q,) -> (k,) or (Q, k)``.

    Returns the mean and its standard error, empirical quantiles (``method="inverted_cdf"``,
    the value-at-risk), distribution-free 95 % confidence bounds of each quantile, and the
    expected shortfall ``E[L | L >= VaR_q]``. Statistics are taken in float64 whatever the
    kernel's precision.

    The bounds are exact binomial order-statistic intervals: with ``B ~ Binomial(N, q)`` the
    number of paths at or below the true quantile, the ``l``-th and ``u``-th smallest values
    (1-based) cover it with probability ``P(l <= B <= u - 1) >= 0.95``; ``l`` is the largest rank
    with ``P(B <= l - 1) <= 0.025`` and ``u`` the smallest with ``P(B <= u - 1) >= 0.975``. A bound
    that no rank in ``1..N`` can give (too few paths beyond the quantile) is NaN: the sample
    cannot support it.
    """
    from scipy.stats import binom

    values = np.asarray(values, np.float64)
    N = values.shape[0]
    srt = np.sort(values, axis=0)
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(N) if N > 1 else np.full(values.shape[1], np.nan)
    var = np.quantile(values, q, axis=0, method="inverted_cdf")
    ranks = np.arange(1, N + 1)
    lower = np.full(var.shape, np.nan)
    upper = np.full(var.shape, np.nan)
    es = np.empty_like(var)
    for k, qk in enumerate(q):
        cdf = binom.cdf(ranks - 1, N, qk)  # P(B <= rank - 1)
        lo_ok = np.flatnonzero(cdf <= 0.025)
        hi_ok = np.flatnonzero(cdf >= 0.975)
        if lo_ok.size:
            lower[k] = srt[lo_ok[-1]]
        if hi_ok.size:
            upper[k] = srt[hi_ok[0]]
        start = min(int(np.ceil(N * qk)) - 1, N - 1) if qk > 0 else 0
        es[k] = srt[max(start, 0) :].mean(axis=0)
    return {"mean": mean, "se": se, "quantile": var, "lower": lower, "upper": upper, "es": es}


def _var(dims: tuple[str, ...], data: np.ndarray, units: str, long_name: str, **extra: Any) -> xr.Variable:
    return xr.Variable(dims, np.asarray(data), attrs={"units": units, "long_name": long_name, **extra})


def to_dataset(
    acc: Accumulator,
    scalars: np.ndarray,
    mrio: Mrio,
    *,
    horizon: int,
    quantiles: list[float],
    hist_range: tuple[float, float],
    year_to_day: float,
    attrs: dict[str, Any],
    flow_base: np.ndarray | None = None,
    month_labels: list[str] | None = None,
    direct: tuple[int, ...] = (),
    labels: Any = None,
    policy_labels: Any = None,
) -> xr.Dataset:
    """Build the run's Dataset from the engine's accumulators and retained per-path scalars.

    Crashed paths (a stock went negative or NaN) are left out of every statistic and counted in
    ``crashed_paths``; the statistics use the ``n_paths_counted`` others. ``labels``
    (:class:`stress.shocks.assemble.ModuleLabels`) names the shock modules' regimes, tariff
    levels and predatory-pricing targets when modules ran; ``policy_labels`` the allied levers
    that ran (``{"enabled": names, "members": regions}``), whose costs, reserve releases and
    coalition participation are then reported.
    """
    R, p = len(mrio.regions), len(mrio.sectors)
    q = np.asarray(quantiles, float)
    unit = mrio.unit
    count = int(acc.count)
    if count == 0:
        raise InputError("sampler.n_paths", scalars.shape[0], "a run in which at least one path did not crash (every path crashed)")
    base = (mrio.x / year_to_day) * horizon  # (n,) output over the horizon
    share_mean = acc.share_sum / FIXED_POINT / count
    share_sq = acc.share_sq / FIXED_POINT / count
    share_se = np.sqrt(np.maximum(share_sq - share_mean**2, 0) * count / max(count - 1, 1) / count)
    v = mrio.value_added_coefficients
    share_q = histogram_quantiles(acc.hist, q, *hist_range)
    deep = np.cumsum(acc.halt_week[:, :-1], axis=1) / max(count, 1)  # (n, W): output < h X0 within N weeks
    halt = np.cumsum(acc.constrained_week[:, :-1], axis=1) / max(count, 1)  # (n, W): first plant halt within N weeks
    grid = lambda a: a.reshape(*a.shape[:-1], R, p)  # noqa: E731
    rs = ("region", "sector")

    good = scalars[:, 2 * R + 3] == 0
    kept = scalars[good]
    if kept.shape[0] == 0:
        raise InputError("sampler.n_paths", scalars.shape[0], "a run in which at least one path did not crash")
    out = tail_stats(kept[:, : 2 * R + 3], q)
    reg = lambda k, sl: out[k][..., sl]  # noqa: E731
    o_sl, va_sl = slice(0, R), slice(R, 2 * R)
    data = {
        "baseline_output": _var(rs, grid(base), unit, "output over the horizon without disruption"),
        "value_added_baseline": _var(rs, grid(base * v), unit, "value added over the horizon without disruption"),
        "output_loss_mean": _var(rs, grid(share_mean * base), unit, "expected lost output over the horizon"),
        "output_loss_se": _var(rs, grid(share_se * base), unit, "Monte Carlo standard error of the expected lost output"),
        "output_loss_share_mean": _var(rs, grid(share_mean), "1", "expected lost output as a share of baseline output"),
        "output_loss_share_quantile": _var(
            ("quantile", *rs),
            grid(share_q),
            "1",
            "quantile of lost output as a share of baseline output",
            method=f"histogram sketch, exact to one bin width {(hist_range[1] - hist_range[0]) / acc.hist.shape[1]:g}",
        ),
        "value_added_loss_mean": _var(rs, grid(share_mean * base * v), unit, "expected lost value added over the horizon"),
        "halt_probability": _var(
            ("week", *rs),
            grid(halt.T),
            "1",
            "probability of a first plant halt within N weeks: output cut by missing inputs by more than the constraint threshold",
        ),
        "deep_cut_probability": _var(
            ("week", *rs), grid(deep.T), "1", "probability that output falls below the halt threshold share of baseline within N weeks"
        ),
        "weeks_to_first_halt_median": _var(
            rs,
            grid(_median_week(acc.constrained_week)),
            "week",
            "median number of weeks to the first plant halt (time to survive; inf: in fewer than half of the paths)",
        ),
        "crashed_paths": _var((), np.int64(acc.crashed), "1", "paths in which a stock went negative or NaN (left out of every statistic)"),
    }
    data.update(_shock_outputs(acc, mrio, count, q, horizon, labels, grid, rs))
    levers = policy_labels is not None and bool(policy_labels.get("enabled"))
    if levers:
        data.update(_policy_outputs(acc, mrio, count, policy_labels))
    wl, dl = kept[:, 2 * R], kept[:, 2 * R + 2]
    if direct and dl.mean() > 0:
        amp = wl.mean() / dl.mean()
        # delta method for a ratio of means
        n_k = len(wl)
        cov = np.cov(np.stack([wl, dl]), ddof=1) if n_k > 1 else np.zeros((2, 2))
        g = np.array([1 / dl.mean(), -wl.mean() / dl.mean() ** 2])
        amp_se = float(np.sqrt(max(g @ cov @ g, 0) / n_k))
    else:
        amp, amp_se = np.nan, np.nan
    data["direct_output_loss_mean"] = _var((), dl.mean(), unit, "expected lost output of the directly hit industries")
    data["amplification"] = _var(
        (),
        amp,
        "1",
        "expected world lost output / expected lost output of the directly hit industries",
        standard_error=amp_se,
        directly_hit=", ".join(f"{mrio.regions[i // p]}/{mrio.sectors[i % p]}" for i in direct),
    )
    if flow_base is not None and acc.flow_sum.size:
        months = month_labels or [str(k) for k in range(acc.flow_sum.shape[0])]
        data["controlled_flow_baseline"] = _var(
            ("month", "region"), flow_base, unit, "undisturbed deliveries of the restricted supplier industries by month and buyer region"
        )
        data["controlled_flow_ratio_mean"] = _var(
            ("month", "region"),
            acc.flow_sum / FIXED_POINT / max(count, 1),
            "1",
            "expected deliveries of the restricted supplier industries as a share of undisturbed, by month and buyer region",
        )
    for prefix, sl, what in (("region_output_loss", o_sl, "lost output"), ("region_value_added_loss", va_sl, "lost value added")):
        data[f"{prefix}_mean"] = _var(("region",), reg("mean", sl), unit, f"expected {what} by region")
        data[f"{prefix}_se"] = _var(("region",), reg("se", sl), unit, f"Monte Carlo standard error of expected {what} by region")
        data[f"{prefix}_quantile"] = _var(
            ("quantile", "region"), reg("quantile", sl), unit, f"quantile (value at risk) of {what} by region"
        )
        data[f"{prefix}_quantile_lower"] = _var(
            ("quantile", "region"), reg("lower", sl), unit, f"lower 95 % confidence bound of the quantile of {what} (exact binomial order statistic; NaN: the sample cannot support it)"
        )
        data[f"{prefix}_quantile_upper"] = _var(
            ("quantile", "region"), reg("upper", sl), unit, f"upper 95 % confidence bound of the quantile of {what} (exact binomial order statistic; NaN: the sample cannot support it)"
        )
        data[f"{prefix}_expected_shortfall"] = _var(
            ("quantile", "region"), reg("es", sl), unit, f"expected shortfall of {what} beyond the quantile"
        )
    for prefix, col, what in (("world_output_loss", 2 * R, "lost output"), ("world_value_added_loss", 2 * R + 1, "lost value added")):
        data[f"{prefix}_mean"] = _var((), out["mean"][col], unit, f"expected world {what}")
        data[f"{prefix}_se"] = _var((), out["se"][col], unit, f"Monte Carlo standard error of expected world {what}")
        data[f"{prefix}_quantile"] = _var(("quantile",), out["quantile"][:, col], unit, f"quantile of world {what}")
        data[f"{prefix}_quantile_lower"] = _var(
            ("quantile",), out["lower"][:, col], unit, f"lower 95 % confidence bound of the quantile of world {what} (exact binomial order statistic; NaN: the sample cannot support it)"
        )
        data[f"{prefix}_quantile_upper"] = _var(
            ("quantile",), out["upper"][:, col], unit, f"upper 95 % confidence bound of the quantile of world {what} (exact binomial order statistic; NaN: the sample cannot support it)"
        )
        data[f"{prefix}_expected_shortfall"] = _var(("quantile",), out["es"][:, col], unit, f"expected shortfall of world {what}")
    coords = {
        **({"month": ("month", months, {"long_name": "calendar month (or 30-day period) from day 0"})} if "controlled_flow_ratio_mean" in data else {}),
        "region": ("region", list(mrio.regions)),
        "sector": ("sector", list(mrio.sectors)),
        "quantile": ("quantile", q, {"units": "1", "long_name": "probability level"}),
        "week": ("week", np.arange(1, halt.shape[1] + 1), {"units": "week", "long_name": "weeks since day 0"}),
    }
    if labels is not None and labels.enabled:
        coords["regime"] = ("regime", list(labels.regimes), {"long_name": "state of China's export-control regime"})
        coords["tariff_level"] = ("tariff_level", list(labels.tariff_levels), {"long_name": "US-China tariff level"})
        coords["model_week"] = ("model_week", np.arange(acc.regime_weeks.shape[0]), {"units": "week", "long_name": "week index from day 0 (days 7w .. 7w + 6)"})
        if labels.predatory_targets:
            coords["closable"] = ("closable", [f"{mrio.regions[i // p]}/{mrio.sectors[i % p]}" for i in labels.predatory_targets])
    if levers:
        from stress.metrics import COST_COMPONENTS

        coords["cost_component"] = ("cost_component", list(COST_COMPONENTS), {"long_name": "component of the allied levers' public cost"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({k: netcdf_attr(v) for k, v in attrs.items()})
    if levers:
        ds.attrs["policies"] = ",".join(policy_labels["enabled"])
        ds.attrs["coalition_members"] = ",".join(policy_labels["members"])
    ds.attrs["crashed_paths"] = int(acc.crashed)
    ds.attrs["n_paths_counted"] = count
    ds.attrs["Conventions"] = "CF-1.10"
    return ds


def _shock_outputs(acc: Accumulator, mrio: Mrio, count: int, q: np.ndarray, horizon: int, labels: Any, grid: Any, rs: tuple[str, str]) -> dict[str, xr.Variable]:
    """Prices, time to recover, tariff revenue, price costs, regime occupancy and closures."""
    from stress.metrics import PRICE_BINS, PRICE_HI, PRICE_LO

    unit = mrio.unit
    n_ = max(count, 1)
    W = acc.recover_week.shape[1] - 2
    rec = acc.recover_week
    halted = rec[:, :W].sum(axis=1) + rec[:, W + 1]  # paths with a halt
    # among the paths with a halt: weeks to recover, last column not recovered
    ttr_median = np.where(halted == 0, np.nan, _median_week(np.delete(rec, W, axis=1)))
    out = {
        "price_rise_mean": _var(rs, grid(acc.price_sum / FIXED_POINT / n_), "1", "expected mean producer price index over the horizon, minus 1"),
        "price_rise_quantile": _var(
            ("quantile", *rs),
            grid(histogram_quantiles(acc.price_hist, q, PRICE_LO, PRICE_HI)),
            "1",
            "quantile of the path's mean producer price rise over the horizon",
            method=f"histogram sketch, exact to one bin width {(PRICE_HI - PRICE_LO) / PRICE_BINS:g}",
        ),
        "weeks_to_recover_median": _var(
            rs,
            grid(ttr_median),
            "week",
            "median weeks from the first plant halt to the end of the last input-constrained day (time to recover), "
            "among paths with a halt; inf: most are not recovered by the horizon; NaN: no halt",
        ),
        "recovered_probability": _var(
            rs,
            grid(np.where(halted > 0, rec[:, :W].sum(axis=1) / np.maximum(halted, 1), np.nan)),
            "1",
            "share of the paths with a plant halt whose output is no longer input-constrained by the horizon's end",
        ),
        "tariff_revenue_mean": _var(("region",), acc.revenue_sum / FIXED_POINT / n_, unit, "expected extra tariff revenue collected by each importing region"),
        "price_cost_mean": _var(
            ("region",), acc.price_cost_sum / FIXED_POINT / n_, unit, "expected extra cost of higher delivered prices (tariffs included) to each region's buyers"
        ),
    }
    if labels is not None and labels.enabled:
        out["regime_occupancy"] = _var(("model_week", "regime"), acc.regime_weeks / n_, "1", "share of paths in each export-control regime, by week")
        out["tariff_occupancy"] = _var(("model_week", "tariff_level"), acc.tariff_weeks / n_, "1", "share of paths at each tariff level, by week")
        if labels.predatory_targets:
            out["closure_probability"] = _var(
                ("closable",), acc.closed / n_, "1", "probability that the industry outside China closes capacity under predatory pricing within the horizon"
            )
    return out


def _policy_outputs(acc: Accumulator, mrio: Mrio, count: int, policy_labels: Any) -> dict[str, xr.Variable]:
    """The allied levers' costs, reserve releases and coalition participation."""
    unit = mrio.unit
    n_ = max(count, 1)
    members = set(policy_labels["members"])
    return {
        "policy_cost_mean": _var(
            ("cost_component",),
            acc.cost_sum / FIXED_POINT / n_,
            unit,
            "expected public cost of the allied levers over the horizon, by component (stress.policy.levers)",
        ),
        "released_mean": _var(("region",), acc.released_sum / FIXED_POINT / n_, unit, "expected public reserves released into each region's stocks"),
        "joined_probability": _var(
            ("region",),
            np.where([r in members for r in mrio.regions], acc.joined / n_, np.nan),
            "1",
            "share of paths in which the coalition member joined the joint levers (NaN: not a member)",
        ),
    }


def _median_week(counts: np.ndarray) -> np.ndarray:
    """Median week (1-based) of the first event from per-week counts ``(n, W + 1)`` (last column:
    no event); inf where fewer than half the paths have one."""
    total = counts.sum(axis=1, keepdims=True)
    cdf = np.cumsum(counts[:, :-1], axis=1) / np.maximum(total, 1)
    reached = cdf >= 0.5
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + 1.0, np.inf)


def netcdf_attr(value: Any) -> Any:
    """netCDF attributes take strings and numbers only."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    return str(value)


def write_atomic(ds: xr.Dataset | xr.DataTree, path: Path, *, encoding: dict | None = None, field: str = "output directory") -> Path:
    """Write ``ds`` (a Dataset or a DataTree) to netCDF under a temporary name in the same
    folder, then rename. ``field`` names the setting behind ``path`` in an error.

    A killed run leaves either the complete file or none (plus, at worst, a stray temporary).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(field, str(path.parent), f"a writable folder ({exc.strerror})") from None
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="netcdf4", **({} if encoding is None else {"encoding": encoding}))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
