"""Engine results -> one ``xarray.Dataset`` with CF-style attributes, written atomically.

Dimensions: ``region``, ``sector``, ``quantile``, ``week`` (and ``day`` for trajectories).
Every variable has ``units`` and ``long_name``; ``ds.attrs`` hold the provenance (resolved
config, seed, number of paths, versions, device, wall time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress.errors import InputError
from stress.files import replace_atomic
from stress.metrics import FIXED_POINT, Accumulator
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


HALT_WEEKS = (4, 8, 13, 26)
"""Weeks of the halt-within-N-weeks table (one month, two months, a quarter, half a year)."""
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles of the production fan charts."""


def sketch_quantiles(counts: np.ndarray, values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles (inverted empirical CDF) of sketches ``(..., width)`` that each hold the same
    number of values. Shape ``(Q, ...)``."""
    from stress.sketch import quantile_rank, rank_values

    N = int(np.asarray(counts).reshape(-1, counts.shape[-1])[0].sum())
    return rank_values(counts, values, np.array([quantile_rank(N, float(qk)) for qk in q]))


def _hist_quantiles(hist: np.ndarray, q: tuple[float, ...], hi: float) -> np.ndarray:
    """Quantiles of histograms ``(..., bins + 1)``: ``bins`` equal bins on ``[0, hi]`` and a last
    column of values exactly 1 (an atom), linear within a bin (exact to one bin width; exactly 1
    in the atom). Shape ``(Q, ...)``."""
    bins = hist.shape[-1] - 1
    width = hi / bins
    at = int(round(1.0 / width))  # the first bin at or above 1
    order = np.r_[np.arange(at), bins, np.arange(at, bins)]  # bins below 1, the atom, bins from 1
    left = np.r_[np.arange(at) * width, 1.0, np.arange(at, bins) * width]
    span = np.r_[np.full(at, width), 0.0, np.full(bins - at, width)]
    flat = hist.reshape(-1, bins + 1)[:, order].astype(np.float64)
    cdf = np.cumsum(flat, axis=1)
    total = cdf[:, -1]
    out = np.full((len(q), flat.shape[0]), np.nan)
    rows = np.arange(flat.shape[0])
    for k, qk in enumerate(q):
        target = qk * total
        b = np.array([np.searchsorted(cdf[r], target[r], side="left") for r in rows]).clip(0, bins)
        below = np.where(b > 0, cdf[rows, b - 1], 0)
        inbin = flat[rows, b]
        frac = np.divide(target - below, inbin, out=np.zeros(len(rows)), where=inbin > 0)
        out[k] = np.where(total > 0, left[b] + frac.clip(0, 1) * span[b], np.nan)
    return out.reshape((len(q), *hist.shape[:-1]))


def to_dataset(
    acc: Accumulator,
    scalars: np.ndarray,
    mrio: Mrio,
    *,
    horizon: int,
    quantiles: list[float],
    metrics: Any,
    year_to_day: float,
    attrs: dict[str, Any],
    drivers: np.ndarray | None = None,
    flow_base: np.ndarray | None = None,
    month_labels: list[str] | None = None,
    direct: tuple[int, ...] = (),
    labels: Any = None,
    policy_labels: Any = None,
) -> xr.Dataset:
    """Build the run's Dataset from the engine's streaming accumulators (:mod:`stress.metrics`),
    and, for the attribution, the retained scalars and drivers of the first paths.

    Crashed paths (a stock went negative or NaN) are left out of every statistic and counted in
    ``crashed_paths``; the statistics use the ``n_paths_counted`` others. ``labels``
    (:class:`stress.shocks.assemble.ModuleLabels`) names the shock modules' regimes, tariff
    levels and predatory-pricing targets when modules ran; ``policy_labels`` the allied levers
    that ran (``{"enabled": names, "members": regions}``), whose costs, reserve releases and
    coalition participation are then reported.
    """
    from stress.metrics import COST_COMPONENTS, FAN_HI, HEADLINE, checkpoints
    from stress.sketch import exact_total, mean_se, tail_from_sketch, to_xarray

    R, p = len(mrio.regions), len(mrio.sectors)
    n = R * p
    q = np.asarray(quantiles, float)
    unit = mrio.unit
    count = int(acc.count)
    if count == 0:
        raise InputError("sampler.n_paths", int(acc.crashed), "a run in which at least one path did not crash (every path crashed)")
    sk = metrics.sketch
    vals = sk.values()
    base = (mrio.x / year_to_day) * horizon  # (n,) output over the horizon
    share_tot = exact_total(acc.share_sums)
    share_ms = np.array([mean_se(share_tot[j], share_tot[n + j], count) for j in range(n)])
    share_mean, share_se = share_ms[:, 0], share_ms[:, 1]
    v = mrio.value_added_coefficients
    share_q = sketch_quantiles(acc.share_sketch, vals, q)
    deep = np.cumsum(acc.halt_week[:, :-1], axis=1) / count  # (n, W): output < h X0 within N weeks
    halt = np.cumsum(acc.constrained_week[:, :-1], axis=1) / count  # (n, W): first plant halt within N weeks
    W = halt.shape[1]
    grid = lambda a: a.reshape(*a.shape[:-1], R, p)  # noqa: E731
    rs = ("region", "sector")
    accuracy = f"log-bucketed sketch: within a relative {sk.relative_accuracy:g} of the sample's own order statistic; exactly 0 where it is 0"
    data = {
        "baseline_output": _var(rs, grid(base), unit, "output over the horizon without disruption"),
        "value_added_baseline": _var(rs, grid(base * v), unit, "value added over the horizon without disruption"),
        "output_loss_mean": _var(rs, grid(share_mean * base), unit, "expected lost output over the horizon"),
        "output_loss_se": _var(rs, grid(share_se * base), unit, "Monte Carlo standard error of the expected lost output (exact sums)"),
        "output_loss_share_mean": _var(rs, grid(share_mean), "1", "expected lost output as a share of baseline output"),
        "output_loss_share_se": _var(rs, grid(share_se), "1", "Monte Carlo standard error of the expected lost output share (exact sums)"),
        "output_loss_share_quantile": _var(("quantile", *rs), grid(share_q), "1", "quantile of lost output as a share of baseline output", method=accuracy),
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
    hw = [w for w in HALT_WEEKS if 7 * w <= horizon]  # whole weeks inside the horizon
    # region x sector: VaR with bounds and ES of the lost output share (the sketch), and in money
    # (lost output = share x baseline output; lost value added = share x baseline value added)
    ind = [tail_from_sketch(acc.share_sketch[j], vals, q, accuracy=sk.relative_accuracy) for j in range(n)]
    ind_f = {f: np.stack([getattr(t, f) for t in ind], axis=1) for f in ("lower", "upper", "es", "es_lower", "es_upper")}  # (Q, n)
    share_sd = share_se * np.sqrt(count)
    data["output_loss_share_sd"] = _var(rs, grid(share_sd), "1", "standard deviation over the paths of the lost output share")
    data["output_loss_share_quantile_lower"] = _var(("quantile", *rs), grid(ind_f["lower"]), "1", "lower 95 % bound of the lost output share's quantile (exact order statistic; NaN: unsupported)")
    data["output_loss_share_quantile_upper"] = _var(("quantile", *rs), grid(ind_f["upper"]), "1", "upper 95 % bound of the lost output share's quantile (exact order statistic; NaN: unsupported)")
    data["output_loss_share_expected_shortfall"] = _var(("quantile", *rs), grid(ind_f["es"]), "1", "expected shortfall of the lost output share beyond the quantile", method=accuracy)
    data["output_loss_share_expected_shortfall_lower"] = _var(("quantile", *rs), grid(ind_f["es_lower"]), "1", "lower 95 % bound of the expected shortfall of the lost output share (asymptotic normal; NaN: fewer than 10 tail paths)")
    data["output_loss_share_expected_shortfall_upper"] = _var(("quantile", *rs), grid(ind_f["es_upper"]), "1", "upper 95 % bound of the expected shortfall of the lost output share (asymptotic normal; NaN: fewer than 10 tail paths)")
    data["output_loss_quantile"] = _var(("quantile", *rs), grid(share_q * base), unit, "quantile (value at risk) of the industry's lost output", method=accuracy)
    data["output_loss_expected_shortfall"] = _var(("quantile", *rs), grid(ind_f["es"] * base), unit, "expected shortfall of the industry's lost output", method=accuracy)
    data["value_added_loss_quantile"] = _var(("quantile", *rs), grid(share_q * base * v), unit, "quantile (value at risk) of the industry's lost value added", method=accuracy)
    data["value_added_loss_expected_shortfall"] = _var(("quantile", *rs), grid(ind_f["es"] * base * v), unit, "expected shortfall of the industry's lost value added", method=accuracy)
    data["value_added_loss_se"] = _var(rs, grid(share_se * base * v), unit, "Monte Carlo standard error of the expected lost value added (exact sums)")
    data["halt_probability_within"] = _var(
        ("halt_weeks", *rs), grid(halt[:, [w - 1 for w in hw]].T), "1", "probability of a first plant halt within 4, 8, 13 and 26 weeks"
    )
    data.update(_survival_outputs(acc, count, W, grid, rs))
    data.update(_shock_outputs(acc, mrio, count, q, horizon, labels, grid, rs, sk))
    levers = policy_labels is not None and bool(policy_labels.get("enabled"))
    money = exact_total(acc.money_sums)
    money_mean = np.array([float(m / count) for m in money])
    if levers:
        data.update(_policy_outputs(acc, mrio, count, policy_labels, money_mean[3 * R :], money_mean[2 * R : 3 * R]))
    data["tariff_revenue_mean"] = _var(("region",), money_mean[:R], unit, "expected extra tariff revenue collected by each importing region")
    data["price_cost_mean"] = _var(
        ("region",), money_mean[R : 2 * R], unit, "expected extra cost of higher delivered prices (tariffs included) to each region's buyers"
    )
    # The loss scalars: exact sums for means, the sketch for quantiles and tails.
    K = 2 * R + 3 + 2 * p
    names = (
        [f"output_loss/{r}" for r in mrio.regions]
        + [f"value_added_loss/{r}" for r in mrio.regions]
        + ["output_loss/WORLD", "value_added_loss/WORLD", "output_loss/DIRECT"]
        + [f"output_loss/sector:{s}" for s in mrio.sectors]
        + [f"value_added_loss/sector:{s}" for s in mrio.sectors]
    )
    lt = exact_total(acc.loss_sums)
    ms = np.array([mean_se(lt[k], lt[K + k], count) for k in range(K)])
    tails = [tail_from_sketch(acc.loss_sketch[k], vals, q, accuracy=sk.relative_accuracy) for k in range(K)]
    out = {
        "mean": ms[:, 0],
        "se": ms[:, 1],
        "sd": ms[:, 1] * np.sqrt(count),
        **{f: np.stack([getattr(t, f) for t in tails], axis=1) for f in ("quantile", "lower", "upper", "es", "es_lower", "es_upper")},
    }
    data["loss_mean"] = _var(("measure",), out["mean"], unit, "expected loss over the horizon (exact sums)")
    data["loss_se"] = _var(("measure",), out["se"], unit, "Monte Carlo standard error of the expected loss (exact sums)")
    data["loss_sd"] = _var(("measure",), out["sd"], unit, "standard deviation of the loss over the paths (exact sums)")
    from stress.sketch import covariance, sketch_overflow

    wi, di = 2 * R, 2 * R + 2
    wl, dl = out["mean"][wi], out["mean"][di]
    if direct and dl > 0:
        amp = wl / dl
        cov = np.array([[float(ms[wi, 1] ** 2 * count), covariance(lt[wi], lt[di], lt[2 * K], count)], [covariance(lt[wi], lt[di], lt[2 * K], count), float(ms[di, 1] ** 2 * count)]])
        g = np.array([1 / dl, -wl / dl**2])
        amp_se = float(np.sqrt(max(g @ cov @ g, 0) / count))  # delta method for a ratio of means
    else:
        amp, amp_se = np.nan, np.nan
    data["direct_output_loss_mean"] = _var((), dl, unit, "expected lost output of the directly hit industries")
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
            acc.flow_sum / FIXED_POINT / count,
            "1",
            "expected deliveries of the restricted supplier industries as a share of undisturbed, by month and buyer region",
        )
    bound = "95 % confidence bound of the {} (exact binomial order statistic, the outer edge of its sketch bucket; NaN: the sample cannot support it)"
    es_bound = (
        "95 % confidence bound of the expected shortfall of {} (asymptotic interval of the tail mean with a t quantile; "
        "undercovers heavy tails with few tail paths; NaN: fewer than 10 paths in the tail)"
    )
    reg = lambda k, sl: out[k][..., sl]  # noqa: E731
    o_sl, va_sl = slice(0, R), slice(R, 2 * R)
    so_sl, sva_sl = slice(2 * R + 3, 2 * R + 3 + p), slice(2 * R + 3 + p, K)
    for prefix, sl, what, dim in (
        ("region_output_loss", o_sl, "lost output", "region"),
        ("region_value_added_loss", va_sl, "lost value added", "region"),
        ("sector_output_loss", so_sl, "lost output", "sector"),
        ("sector_value_added_loss", sva_sl, "lost value added", "sector"),
    ):
        by = f"by {dim}" + (" (all regions)" if dim == "sector" else "")
        data[f"{prefix}_mean"] = _var((dim,), reg("mean", sl), unit, f"expected {what} {by}")
        data[f"{prefix}_se"] = _var((dim,), reg("se", sl), unit, f"Monte Carlo standard error of expected {what} {by}")
        data[f"{prefix}_sd"] = _var((dim,), reg("sd", sl), unit, f"standard deviation over the paths of {what} {by}")
        data[f"{prefix}_quantile"] = _var(("quantile", dim), reg("quantile", sl), unit, f"quantile (value at risk) of {what} {by}", method=accuracy)
        data[f"{prefix}_quantile_lower"] = _var(("quantile", dim), reg("lower", sl), unit, "lower " + bound.format(f"quantile of {what}"))
        data[f"{prefix}_quantile_upper"] = _var(("quantile", dim), reg("upper", sl), unit, "upper " + bound.format(f"quantile of {what}"))
        data[f"{prefix}_expected_shortfall"] = _var(("quantile", dim), reg("es", sl), unit, f"expected shortfall of {what} {by} beyond the quantile", method=accuracy)
        data[f"{prefix}_expected_shortfall_lower"] = _var(("quantile", dim), reg("es_lower", sl), unit, "lower " + es_bound.format(what))
        data[f"{prefix}_expected_shortfall_upper"] = _var(("quantile", dim), reg("es_upper", sl), unit, "upper " + es_bound.format(what))
    for prefix, col, what in (("world_output_loss", 2 * R, "lost output"), ("world_value_added_loss", 2 * R + 1, "lost value added")):
        data[f"{prefix}_mean"] = _var((), out["mean"][col], unit, f"expected world {what}")
        data[f"{prefix}_se"] = _var((), out["se"][col], unit, f"Monte Carlo standard error of expected world {what}")
        data[f"{prefix}_sd"] = _var((), out["sd"][col], unit, f"standard deviation over the paths of world {what}")
        data[f"{prefix}_quantile"] = _var(("quantile",), out["quantile"][:, col], unit, f"quantile (value at risk) of world {what}", method=accuracy)
        data[f"{prefix}_quantile_lower"] = _var(("quantile",), out["lower"][:, col], unit, "lower " + bound.format(f"quantile of world {what}"))
        data[f"{prefix}_quantile_upper"] = _var(("quantile",), out["upper"][:, col], unit, "upper " + bound.format(f"quantile of world {what}"))
        data[f"{prefix}_expected_shortfall"] = _var(("quantile",), out["es"][:, col], unit, f"expected shortfall of world {what}", method=accuracy)
        data[f"{prefix}_expected_shortfall_lower"] = _var(("quantile",), out["es_lower"][:, col], unit, "lower " + es_bound.format(f"world {what}"))
        data[f"{prefix}_expected_shortfall_upper"] = _var(("quantile",), out["es_upper"][:, col], unit, "upper " + es_bound.format(f"world {what}"))
    data.update(_convergence_outputs(acc, metrics, q, unit))
    data.update(_fan_outputs(acc, grid, FAN_HI, horizon))
    if drivers is not None:
        from stress.results.attribution import attribution_outputs

        attribution, driver_coords = attribution_outputs(scalars, drivers, 2 * R + 1, 2 * R + 3, q, unit)
        data.update(attribution)
    else:
        driver_coords = {}
    coords = {
        **({"month": ("month", months, {"long_name": "calendar month (or 30-day period) from day 0"})} if "controlled_flow_ratio_mean" in data else {}),
        "region": ("region", list(mrio.regions)),
        "sector": ("sector", list(mrio.sectors)),
        "quantile": ("quantile", q, {"units": "1", "long_name": "probability level"}),
        "week": ("week", np.arange(1, W + 1), {"units": "week", "long_name": "weeks since day 0"}),
        "halt_weeks": ("halt_weeks", np.array(hw), {"units": "week", "long_name": "weeks since day 0"}),
        "measure": ("measure", names, {"long_name": "loss measure: lost output or value added of a region, the world, or the directly hit industries"}),
        "headline": ("headline", list(HEADLINE), {"long_name": "headline loss whose convergence is tracked"}),
        "checkpoint": ("checkpoint", np.asarray(checkpoints(count + int(acc.crashed))), {"units": "1", "long_name": "paths simulated (ids below it)"}),
        "model_week": ("model_week", np.arange(acc.fan.shape[0]), {"units": "week", "long_name": "week index from day 0 (days 7w .. 7w + 6)"}),
        "fan_quantile": ("fan_quantile", np.asarray(FAN_QUANTILES), {"units": "1", "long_name": "probability level of the production fan"}),
    }
    coords.update(driver_coords)
    if labels is not None and labels.enabled:
        coords["regime"] = ("regime", list(labels.regimes), {"long_name": "state of China's export-control regime"})
        coords["tariff_level"] = ("tariff_level", list(labels.tariff_levels), {"long_name": "US-China tariff level"})
        if labels.predatory_targets:
            coords["closable"] = ("closable", [f"{mrio.regions[i // p]}/{mrio.sectors[i % p]}" for i in labels.predatory_targets])
    if levers:
        coords["cost_component"] = ("cost_component", list(COST_COMPONENTS), {"long_name": "component of the allied levers' public cost"})
    ds = xr.Dataset(data, coords=coords)
    lsk = to_xarray(acc.loss_sketch, sk, ("measure",), long_name="paths by bucket of each loss measure (quantile sketch; money)")
    ssk = to_xarray(
        np.asarray(acc.share_sketch).reshape(R, p, -1), sk, rs, long_name="paths by bucket of each industry's lost output as a share of its baseline output (quantile sketch)"
    )
    lsk, ssk = xr.align(lsk.drop_vars("bucket_value"), ssk.drop_vars("bucket_value"), join="outer", fill_value=0)
    ds = ds.assign(loss_sketch=lsk.astype(np.int64), loss_share_sketch=ssk.astype(np.int64))
    ds = ds.assign_coords(bucket_value=("bucket", sk.values(ds["bucket"].values), {"long_name": "representative value of the sketch bucket"}))
    ds.attrs.update({k: netcdf_attr(v) for k, v in attrs.items()})
    if levers:
        ds.attrs["policies"] = ",".join(policy_labels["enabled"])
        ds.attrs["coalition_members"] = ",".join(policy_labels["members"])
    ds.attrs["crashed_paths"] = int(acc.crashed)
    ds.attrs["n_paths_counted"] = count
    ds.attrs["sketch_overflow"] = int(sketch_overflow(sk, acc.loss_sketch) or sketch_overflow(sk, acc.share_sketch))
    ds.attrs["Conventions"] = "CF-1.10"
    return ds


def _survival_outputs(acc: Accumulator, count: int, W: int, grid: Any, rs: tuple[str, str]) -> dict[str, xr.Variable]:
    """Time to survive (weeks to the first halt), time to recover, the restricted supply's time
    to recover, and ``P(TTS < TTR)``."""
    rec = acc.recover_week
    halted = rec[:, :W].sum(axis=1) + rec[:, W + 1]
    supply = acc.supply_week
    short = supply[:W].sum() + supply[W + 1]
    return {
        "time_to_survive_distribution": _var(
            ("week", *rs), grid((acc.constrained_week[:, :W] / count).T), "1", "probability that the first plant halt comes in week w (time to survive); the rest: no halt"
        ),
        "time_to_recover_distribution": _var(
            ("week", *rs),
            grid((rec[:, :W] / np.maximum(halted, 1)[:, None]).T) * np.where(grid(halted) > 0, 1, np.nan),
            "1",
            "among paths with a plant halt, probability that output is no longer input-constrained w weeks after the first halt; the rest: not recovered",
        ),
        "supply_recovery_distribution": _var(
            ("week",),
            supply[:W] / count,
            "1",
            "probability that the restricted supply (deliveries of the export-controlled industries) is restored in week w; the rest: never short or not restored",
        ),
        "supply_short_probability": _var((), short / count, "1", "probability that the restricted supply falls short of its undisturbed level by more than the constraint threshold"),
        "supply_not_restored_probability": _var((), supply[W + 1] / count, "1", "probability that the restricted supply is still short on the horizon's last day"),
        "tts_before_ttr_probability": _var(
            rs,
            grid(acc.halt_before_supply / count) * (1.0 if short > 0 else np.nan),
            "1",
            "probability that the industry's first plant halt comes before the restricted supply is restored (time to survive < time to recover; NaN: the supply was never short)",
        ),
    }


def _convergence_outputs(acc: Accumulator, metrics: Any, q: np.ndarray, unit: str) -> dict[str, xr.Variable]:
    """The headline estimates over the paths below each checkpoint."""
    from stress.sketch import exact_total, mean_se, tail_from_sketch

    from stress.metrics import checkpoints

    # checkpoint k holds the paths with ids below it: segments 0 .. k (the last: every segment)
    P = len(checkpoints(int(acc.count) + int(acc.crashed)))
    vals = metrics.sketch.values()
    sums = np.cumsum(np.asarray(acc.conv_sums), axis=0)[:P]  # exact: integer bins
    sums[-1] = np.asarray(acc.conv_sums).sum(axis=0)
    sketches = np.cumsum(np.asarray(acc.conv_sketch), axis=0)[:P]
    sketches[-1] = np.asarray(acc.conv_sketch).sum(axis=0)
    mean = np.full((P, 2), np.nan)
    se = np.full((P, 2), np.nan)
    fields = {f: np.full((P, len(q), 2), np.nan) for f in ("quantile", "lower", "upper", "es")}
    for c in range(P):
        t = exact_total(sums[c])
        n = int(sketches[c, 0].sum())
        for h in range(2):
            mean[c, h], se[c, h] = mean_se(t[h], t[2 + h], n)
            ts = tail_from_sketch(sketches[c, h], vals, q, accuracy=metrics.sketch.relative_accuracy)
            for f in fields:
                fields[f][c, :, h] = getattr(ts, f)
    ch = ("checkpoint", "headline")
    cqh = ("checkpoint", "quantile", "headline")
    return {
        "convergence_mean": _var(ch, mean, unit, "expected loss from the paths below each checkpoint"),
        "convergence_se": _var(ch, se, unit, "its Monte Carlo standard error"),
        "convergence_quantile": _var(cqh, fields["quantile"], unit, "quantile (value at risk) from the paths below each checkpoint"),
        "convergence_quantile_lower": _var(cqh, fields["lower"], unit, "lower 95 % bound of the quantile (exact order statistic; NaN: unsupported)"),
        "convergence_quantile_upper": _var(cqh, fields["upper"], unit, "upper 95 % bound of the quantile (exact order statistic; NaN: unsupported)"),
        "convergence_expected_shortfall": _var(cqh, fields["es"], unit, "expected shortfall from the paths below each checkpoint"),
        "convergence_paths_counted": _var(("checkpoint",), sketches[:, 0].sum(axis=-1), "1", "paths below each checkpoint that did not crash"),
    }


def _fan_outputs(acc: Accumulator, grid: Any, hi: float, horizon: int) -> dict[str, xr.Variable]:
    """Weekly production as a share of baseline: quantiles (fan charts) and mean (NaN for a
    week with no day in the horizon)."""
    count = int(acc.count)
    empty = np.arange(acc.fan.shape[0]) * 7 >= horizon
    fq = _hist_quantiles(np.asarray(acc.fan), FAN_QUANTILES, hi)  # (Q, W', n)
    fq[:, empty] = np.nan
    bins = acc.fan.shape[-1] - 1
    return {
        "production_fan": _var(
            ("fan_quantile", "model_week", "region", "sector"),
            grid(fq),
            "1",
            "quantile of the week's mean production as a share of baseline output",
            method=f"histogram on [0, {hi:g}], linear within a bin: exact to one bin width {hi / bins:g}; weeks exactly at baseline read 1",
        ),
        "production_mean": _var(
            ("model_week", "region", "sector"), grid(np.where(empty[:, None], np.nan, acc.fan_sum / FIXED_POINT / count)), "1", "expected mean production over the week as a share of baseline output"
        ),
    }


def _shock_outputs(
    acc: Accumulator, mrio: Mrio, count: int, q: np.ndarray, horizon: int, labels: Any, grid: Any, rs: tuple[str, str], sk: Any
) -> dict[str, xr.Variable]:
    """Prices, time to recover, regime occupancy and closures."""

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
            grid(sketch_quantiles(acc.price_sketch, sk.values(), q)),
            "1",
            "quantile of the path's mean producer price rise over the horizon",
            method=f"log-bucketed sketch: within a relative {sk.relative_accuracy:g} of the sample's own order statistic",
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
    }
    if labels is not None and labels.enabled:
        out["regime_occupancy"] = _var(("model_week", "regime"), acc.regime_weeks / n_, "1", "share of paths in each export-control regime, by week")
        out["tariff_occupancy"] = _var(("model_week", "tariff_level"), acc.tariff_weeks / n_, "1", "share of paths at each tariff level, by week")
        if labels.predatory_targets:
            out["closure_probability"] = _var(
                ("closable",), acc.closed / n_, "1", "probability that the industry outside China closes capacity under predatory pricing within the horizon"
            )
    return out


def _policy_outputs(acc: Accumulator, mrio: Mrio, count: int, policy_labels: Any, cost_mean: np.ndarray, released_mean: np.ndarray) -> dict[str, xr.Variable]:
    """The allied levers' costs, reserve releases and coalition participation."""
    unit = mrio.unit
    n_ = max(count, 1)
    members = set(policy_labels["members"])
    return {
        "policy_cost_mean": _var(
            ("cost_component",),
            cost_mean,
            unit,
            "expected public cost of the allied levers over the horizon, by component (stress.policy.levers)",
        ),
        "released_mean": _var(("region",), released_mean, unit, "expected public reserves released into each region's stocks"),
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
    if encoding is None and isinstance(ds, xr.Dataset):
        # compressed: the sketches are mostly zeros
        encoding = {k: {"zlib": True, "complevel": 4} for k, v in ds.data_vars.items() if v.dtype.kind in "iuf" and v.size > 1000}
    path = Path(path)
    return replace_atomic(
        path,
        lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", **({} if encoding is None else {"encoding": encoding})),
        field=field,
        value=str(path.parent),
        allowed="a writable folder",
    )
