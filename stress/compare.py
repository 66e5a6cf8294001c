"""``python -m stress compare``: the same Monte Carlo paths under several allied policies.

Every entry of ``policies`` is composed as Hydra would compose ``run`` with ``+policy=ENTRY``
(:func:`stress.cli.compare_entries`) and run through the engine with the same ``sampler.seed``
and ``n_paths``. A path's shocks depend only on the seed and its id, and the levers draw from
keys of their own, so path ``i`` meets the same disruption under every policy (common random
numbers) and the policies are compared path by path.

Statistics, each policy against the reference (the first entry), on the retained per-path
scalars (:meth:`stress.metrics.Metrics.scalar_names`), read by column name:

- pairs: a path that crashed in either run is dropped from that pair (``pairs_dropped``);
- ``Δ mean = mean(L_pol - L_ref)`` with the paired standard error ``sd(L_pol - L_ref) / sqrt(N)``
  (``ddof=1``) and, for contrast, the unpaired ``sqrt(var_ref / N + var_pol / N)``;
- 99 % expected shortfall: the mean of the worst ``N - ceil(0.99 N) + 1`` of the ``N`` paired
  paths' losses, of each run, and its change; standard errors from a paired bootstrap:
  ``compare.bootstrap`` resamples (default 200) of the path ids with replacement, drawn once
  per comparison by ``numpy.random.default_rng(SeedSequence([sampler.seed, BOOTSTRAP_TAG]))``
  and used for every policy and its reference (identical data give identical standard errors;
  a path dropped from a pair is left out of each resample of that pair), so the result is
  reproducible;
- halts: for each region, its most exposed industry, the sector with the highest probability
  of a first plant halt within 8 weeks (``halt_probability`` at ``week=8``, weeks numbered
  from 1) in the reference run, and that probability under every policy;
- cost: mean over paths of ``policy_cost/TOTAL`` (0 where the column is absent) with its
  standard error, and the world value added loss avoided per unit of cost,
  ``R = (mean VA loss ref - mean VA loss pol) / mean cost`` (NaN where the cost is 0), with a
  paired delta-method standard error for the ratio of means over the per-path pairs
  ``(g_i, c_i)`` = (VA loss avoided, cost): ``sd(g_i - R c_i) / (sqrt(N) |mean c|)``
  (``ddof=1``; with a cost that does not vary by path, the paired SE of Δ mean / cost);
- tariff revenue and the cost of higher delivered prices by region (``tariff_revenue/<r>``,
  ``price_cost/<r>``): paired Δ mean and standard error, where the columns exist.

A sweep (``--multirun``) writes one compare.nc per job; :class:`stress.cli.FrontierCallback`
then prints the cost / tail-risk frontier over the jobs' policies (:func:`frontier_table`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress.config import CompareConfig, Config

ES_LEVEL = 0.99
HALT_WEEKS = 8
BOOTSTRAP_TAG = 0xC0FFEE  # mixed into the bootstrap seed so it differs from the engine's streams
KEY_REGIONS = 3
SCOPE_WORLD = "WORLD"


# ----------------------------------------------------------------------------- statistics


def es_tail_count(n: int, level: float = ES_LEVEL) -> int:
    """Paths averaged in the expected shortfall: those at or beyond the value at risk's rank
    ``k = ceil(level n)``, ``n - k + 1`` (the run's own ES, :func:`stress.sketch.tail_from_sketch`)."""
    from stress.sketch import quantile_rank

    return n - quantile_rank(n, level) + 1


def expected_shortfall(values: np.ndarray, level: float = ES_LEVEL, axis: int = 0) -> np.ndarray:
    """Mean of the worst (largest) :func:`es_tail_count` values along ``axis``."""
    values = np.asarray(values, float)
    n = values.shape[axis]
    k = es_tail_count(n, level)
    top = -np.partition(-values, k - 1, axis=axis)
    return np.take(top, np.arange(k), axis=axis).mean(axis=axis)


def paired_delta(ref: np.ndarray, pol: np.ndarray) -> dict[str, np.ndarray]:
    """Δ mean of ``pol - ref`` over paired paths (axis 0), its paired standard error and the
    unpaired one. Shapes ``(N, k) -> (k,)`` (or ``(N,) -> ()``)."""
    ref, pol = np.asarray(ref, float), np.asarray(pol, float)
    n = ref.shape[0]
    d = pol - ref
    if n < 2:
        nan = np.full(d.shape[1:], np.nan)
        return {"delta": d.mean(axis=0), "se_paired": nan, "se_unpaired": nan}
    return {
        "delta": d.mean(axis=0),
        "se_paired": d.std(axis=0, ddof=1) / np.sqrt(n),
        "se_unpaired": np.sqrt(ref.var(axis=0, ddof=1) / n + pol.var(axis=0, ddof=1) / n),
    }


class bootstrap_indices:  # noqa: N801 - used like the function it replaced
    """``n_boot`` resamples of the path ids ``0..n-1`` with replacement, drawn from
    ``numpy.random.default_rng(seed)`` one resample after the other. Iterating draws them again
    from the seed (the same resamples every time), so memory holds one resample, not
    ``n_boot x n`` ids (1.6 GB for 200 resamples of 10^6 paths)."""

    def __init__(self, n: int, n_boot: int, seed: Any):
        self.n, self.n_boot, self.seed = int(n), int(n_boot), seed

    def __len__(self) -> int:
        return self.n_boot

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        for _ in range(self.n_boot):
            yield rng.integers(0, self.n, self.n)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.stack(list(self)) if self.n_boot else np.zeros((0, self.n), np.int64)
        return out if dtype is None else out.astype(dtype)


def bootstrap_es(
    ref: np.ndarray,
    pol: np.ndarray,
    *,
    n_boot: int | None = None,
    seed: Any = None,
    indices: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    level: float = ES_LEVEL,
) -> dict[str, np.ndarray]:
    """Paired bootstrap of the expected shortfall: the same resampled path ids for both runs.
    Returns the standard errors (``ddof=1`` over the resamples) of ES(ref), ES(pol) and
    ES(pol) - ES(ref); shapes ``(N, k) -> (k,)``.

    The resamples are ``indices`` (``(B, M)`` ids into the ``M`` paths of the comparison, e.g.
    :func:`bootstrap_indices`, shared by every policy), or drawn here from ``seed``. With
    ``keep`` (a mask over the ``M`` paths; ``ref`` and ``pol`` hold the kept rows only), each
    resample keeps the ids of kept paths, so every pair uses the same draws."""
    ref, pol = np.asarray(ref, float), np.asarray(pol, float)
    squeeze = ref.ndim == 1
    if squeeze:
        ref, pol = ref[:, None], pol[:, None]
    n, k = ref.shape
    if indices is None:
        indices = bootstrap_indices(n, int(n_boot or 0), seed)
    rows = None
    if keep is not None:
        keep = np.asarray(keep, bool)
        rows = np.cumsum(keep) - 1  # id among all paths -> row among the kept ones
    B = len(indices)
    es_r = np.full((B, k), np.nan)
    es_p = np.full((B, k), np.nan)
    for b, idx in enumerate(indices):
        if rows is not None:
            idx = rows[idx[keep[idx]]]
        if len(idx) == 0:
            continue
        es_r[b] = expected_shortfall(ref[idx], level)
        es_p[b] = expected_shortfall(pol[idx], level)
    ok = np.isfinite(es_r[:, 0])
    es_r, es_p = es_r[ok], es_p[ok]
    if len(es_r) < 2:
        nan = np.full(k, np.nan)
        out = {"se_ref": nan, "se_pol": nan, "se_delta": nan}
    else:
        out = {"se_ref": es_r.std(axis=0, ddof=1), "se_pol": es_p.std(axis=0, ddof=1), "se_delta": (es_p - es_r).std(axis=0, ddof=1)}
    return {key: v[0] for key, v in out.items()} if squeeze else out


def bootstrap_seed(seed: int) -> np.random.SeedSequence:
    """The seed of a comparison's bootstrap resamples (one set for every policy), from ``sampler.seed``."""
    return np.random.SeedSequence([int(seed), BOOTSTRAP_TAG])


def ratio_of_means(gain: np.ndarray, cost: np.ndarray) -> tuple[float, float]:
    """``R = mean(gain) / mean(cost)`` over paired per-path values and its delta-method standard
    error ``sd(gain - R cost) / (sqrt(N) |mean cost|)`` (``ddof=1``); NaN, NaN where the mean
    cost is 0, NaN for the error with fewer than 2 paths."""
    gain, cost = np.asarray(gain, float), np.asarray(cost, float)
    n = len(gain)
    cbar = cost.mean() if n else 0.0
    if n == 0 or cbar == 0:
        return float("nan"), float("nan")
    r = gain.mean() / cbar
    se = (gain - r * cost).std(ddof=1) / (np.sqrt(n) * abs(cbar)) if n > 1 else float("nan")
    return float(r), float(se)


def column(scalars: np.ndarray, names: list[str], name: str) -> np.ndarray:
    """A retained per-path scalar by name; zeros where the run has no such column."""
    if name in names:
        return np.asarray(scalars[:, names.index(name)], float)
    return np.zeros(scalars.shape[0])


def frontier(cost: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """Non-dominated points: no other point has cost <= and risk <= with one strictly lower.
    A point with a NaN coordinate is never on the frontier and dominates nothing."""
    cost, risk = np.asarray(cost, float), np.asarray(risk, float)
    ok = np.isfinite(cost) & np.isfinite(risk)
    out = np.zeros(cost.shape, bool)
    for i in np.flatnonzero(ok):
        other = ok & (cost <= cost[i]) & (risk <= risk[i]) & ((cost < cost[i]) | (risk < risk[i]))
        out[i] = not other.any()
    return out


# ----------------------------------------------------------------------------- the command


def run(entries: list[tuple[str, Config, str]], run_dir: Path, *, overrides: list[str] | None = None, compare: CompareConfig | None = None) -> Path:
    """Run every ``(entry, config, config_yaml)`` (the reference first) on the same paths;
    write ``run_dir/compare.nc``; print the comparison."""
    from stress import pipeline
    from stress.results.dataset import write_atomic

    compare = compare or CompareConfig()
    for _, cfg, _ in entries:
        pipeline.require_scenario(cfg)
    pipeline.check_writable(run_dir)
    t0 = time.perf_counter()
    runs = simulate_all(entries, t0=t0)
    ds = build(runs, entries, overrides=overrides or [], compare=compare)
    ds.attrs["wall_time_s"] = round(time.perf_counter() - t0, 3)
    path = write_atomic(ds, Path(run_dir) / "compare.nc")
    print_comparison(ds)
    print(f"wall time {time.perf_counter() - t0:.1f} s for {len(entries)} policies")
    print(f"comparison: {path.resolve()}")
    if entries[0][1].report:
        from stress.report import write_report

        print(f"report: {write_report(path).resolve()}")
    return path


def simulate_all(entries: list[tuple[str, Config, str]], *, t0: float | None = None) -> list[Any]:
    """Each entry's :class:`stress.pipeline.Simulated`, in order."""
    from stress import pipeline

    t0 = time.perf_counter() if t0 is None else t0
    return [pipeline.simulate_paths(cfg, yaml, t0=time.perf_counter(), label=f"stress compare [{entry}]", keep_all=True) for entry, cfg, yaml in entries]


def statistics(runs: list[Any], labels: list[str], *, seed: int, n_boot: int, regions: list[str] | None = None) -> xr.Dataset:
    """The comparison variables (dims ``policy`` and ``scope`` = regions + WORLD, or
    ``region``) of ``runs`` (:class:`stress.pipeline.Simulated`, the reference first)."""
    ref = runs[0]
    region_names = [str(r) for r in ref.ds.region.values]
    scope = region_names + [SCOPE_WORLD]
    names = [r.metrics.scalar_names(region_names) for r in runs]
    P, S, R = len(runs), len(scope), len(region_names)
    unit = ref.ds.attrs.get("money_unit", "")

    def losses(k: int, what: str) -> np.ndarray:
        return np.stack([column(runs[k].res.scalars, names[k], f"{what}/{s}") for s in scope], axis=1)

    crashed = [column(r.res.scalars, names[k], "crashed") > 0 for k, r in enumerate(runs)]
    out: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]] = {}
    arr = lambda *shape: np.full(shape, np.nan)  # noqa: E731
    counted = np.zeros(P, np.int64)
    dropped = np.zeros(P, np.int64)
    stats = {w: {key: arr(P, S) for key in ("delta", "se_paired", "se_unpaired", "es", "es_se", "es_delta", "es_delta_se", "mean")} for w in ("value_added_loss", "output_loss")}
    cost_mean, cost_se, avoided = np.zeros(P), np.zeros(P), arr(P)
    capital_mean, per_capital = np.zeros(P), arr(P)
    components = sorted({n.split("/", 1)[1] for nm in names for n in nm if n.startswith("policy_cost/") and n != "policy_cost/TOTAL"})
    comp_mean = np.zeros((P, len(components)))
    extra = {w: (arr(P, R), arr(P, R)) for w in ("tariff_revenue", "price_cost") if any(f"{w}/{r}" in nm for nm in names for r in region_names)}
    n_tail = np.zeros(P, np.int64)
    avoided_se = arr(P)
    world = scope.index(SCOPE_WORLD)
    # one set of resampled path ids for every policy: identical data, identical errors
    indices = bootstrap_indices(len(crashed[0]), n_boot, bootstrap_seed(seed)) if n_boot > 1 else None
    for k in range(P):
        keep = ~(crashed[0] | crashed[k])
        counted[k], dropped[k] = int(keep.sum()), int((~keep).sum())
        if counted[k] == 0:
            continue
        n_tail[k] = es_tail_count(int(counted[k]))
        for w, st in stats.items():
            lr, lp = losses(0, w)[keep], losses(k, w)[keep]
            d = paired_delta(lr, lp)
            st["delta"][k], st["se_paired"][k], st["se_unpaired"][k] = d["delta"], d["se_paired"], d["se_unpaired"]
            st["mean"][k] = lp.mean(axis=0)
            st["es"][k] = expected_shortfall(lp)
            st["es_delta"][k] = st["es"][k] - expected_shortfall(lr)
            if counted[k] > 1 and n_boot > 1:
                b = bootstrap_es(lr, lp, indices=indices, keep=keep)
                st["es_se"][k], st["es_delta_se"][k] = b["se_pol"], b["se_delta"]
        c = column(runs[k].res.scalars, names[k], "policy_cost/TOTAL")[keep]
        cost_mean[k] = c.mean()
        cost_se[k] = c.std(ddof=1) / np.sqrt(len(c)) if len(c) > 1 else np.nan
        for j, comp in enumerate(components):
            comp_mean[k, j] = column(runs[k].res.scalars, names[k], f"policy_cost/{comp}")[keep].mean()
        gain = losses(0, "value_added_loss")[keep][:, world] - losses(k, "value_added_loss")[keep][:, world]
        avoided[k], avoided_se[k] = ratio_of_means(gain, c)
        capital_mean[k] = column(runs[k].res.scalars, names[k], "policy_capital/TOTAL")[keep].mean()
        per_capital[k] = gain.mean() / capital_mean[k] if capital_mean[k] > 0 else np.nan
        for w, (m, se) in extra.items():
            d = paired_delta(
                np.stack([column(runs[0].res.scalars, names[0], f"{w}/{r}") for r in region_names], 1)[keep],
                np.stack([column(runs[k].res.scalars, names[k], f"{w}/{r}") for r in region_names], 1)[keep],
            )
            m[k], se[k] = d["delta"], d["se_paired"]

    # Halts: each region's most exposed industry in the reference run.
    w8 = min(HALT_WEEKS, int(ref.ds.week.max()))
    h_ref = ref.ds.halt_probability.sel(week=w8)  # (region, sector)
    exposed = [str(h_ref.sector.values[int(np.argmax(h_ref.sel(region=r).values))]) for r in region_names]
    halt = np.array([[float(r.ds.halt_probability.sel(week=w8, region=g, sector=s)) for g, s in zip(region_names, exposed, strict=True)] for r in runs])
    if regions:
        key_regions = [r for r in regions if r in region_names]
    else:
        order = np.argsort(-halt[0], kind="stable")
        key_regions = [region_names[i] for i in order[:KEY_REGIONS]]

    ps, pr = ("policy", "scope"), ("policy", "region")
    tail = f"mean of the worst N - ceil({ES_LEVEL:.2f} N) + 1 of the N paired paths (those at or beyond the VaR's rank)"
    boot = f"paired bootstrap over path ids, {n_boot} resamples, the same for every policy: numpy default_rng(SeedSequence([sampler.seed, {BOOTSTRAP_TAG:#x}]))"
    for w, st in stats.items():
        what = "lost value added" if w.startswith("value") else "lost output"
        out[f"delta_{w}_mean"] = (ps, st["delta"], {"units": unit, "long_name": f"change in expected {what} against the reference, mean over paired paths of (policy - reference); scope WORLD: world total"})
        out[f"delta_{w}_se_paired"] = (ps, st["se_paired"], {"units": unit, "long_name": f"paired standard error of the change in expected {what}: sd(policy - reference) / sqrt(N)"})
        out[f"delta_{w}_se_unpaired"] = (ps, st["se_unpaired"], {"units": unit, "long_name": f"unpaired standard error of the change in expected {what}: sqrt(var_ref / N + var_pol / N), for contrast"})
        out[f"{w}_mean_paired"] = (ps, st["mean"], {"units": unit, "long_name": f"expected {what} over the paths kept in the pair with the reference"})
        out[f"{w}_es99"] = (ps, st["es"], {"units": unit, "long_name": f"99 % expected shortfall of {what}: {tail}", "estimator": tail})
        out[f"{w}_es99_se"] = (ps, st["es_se"], {"units": unit, "long_name": f"standard error of the 99 % expected shortfall of {what} ({boot})"})
        out[f"delta_{w}_es99"] = (ps, st["es_delta"], {"units": unit, "long_name": f"change in the 99 % expected shortfall of {what} against the reference (same paired paths)"})
        out[f"delta_{w}_es99_se"] = (ps, st["es_delta_se"], {"units": unit, "long_name": f"standard error of the change in the 99 % expected shortfall of {what} ({boot})"})
    out["pairs_counted"] = (("policy",), counted, {"units": "1", "long_name": "paths in the comparison with the reference (crashed in neither run)"})
    out["pairs_dropped"] = (("policy",), dropped, {"units": "1", "long_name": "paths left out of the comparison: crashed in this run or in the reference"})
    out["es99_tail_paths"] = (("policy",), n_tail, {"units": "1", "long_name": "paths averaged in the 99 % expected shortfall, N - ceil(0.99 N) + 1"})
    out["most_exposed_sector"] = (("region",), np.array(exposed, dtype=object), {"long_name": f"each region's sector with the highest probability of a first plant halt within {w8} weeks in the reference run"})
    out["halt_probability_most_exposed"] = (pr, halt, {"units": "1", "long_name": f"probability of a first plant halt within {w8} weeks of the region's most exposed sector (most_exposed_sector)", "week": w8})
    out["total_cost_mean"] = (("policy",), cost_mean, {"units": unit, "long_name": "expected cost of the policy over the horizon: mean over the paired paths of policy_cost/TOTAL (0 where the run has no such column)"})
    out["total_cost_se"] = (("policy",), cost_se, {"units": unit, "long_name": "Monte Carlo standard error of the expected policy cost"})
    out["capital_committed_mean"] = (("policy",), capital_mean, {"units": unit, "long_name": "expected public capital committed: the stockpile's value at the start and the public share of new capacity's capex (assets, not spending)"})
    out["loss_avoided_per_capital"] = (("policy",), per_capital, {"units": "1", "long_name": "world lost value added avoided per unit of public capital committed; NaN where none is"})
    out["loss_avoided_per_dollar"] = (("policy",), avoided, {"units": "1", "long_name": "world lost value added avoided per unit of policy cost: (mean VA loss ref - mean VA loss policy) / mean cost; NaN where the cost is 0"})
    out["loss_avoided_per_dollar_se"] = (("policy",), avoided_se, {"units": "1", "long_name": "standard error of loss_avoided_per_dollar: delta method for a ratio of means over the paired paths, sd(g - R c) / (sqrt(N) |mean c|) with g the world VA loss avoided and c the cost of each path"})
    if components:
        out["total_cost_by_component"] = (("policy", "cost_component"), comp_mean, {"units": unit, "long_name": "expected policy cost by component (policy_cost/<component>; 0 where absent)"})
    for w, (m, se) in extra.items():
        what = "extra tariff revenue collected" if w == "tariff_revenue" else "extra cost of higher delivered prices to buyers"
        out[f"delta_{w}_mean"] = (pr, m, {"units": unit, "long_name": f"change in expected {what} by region against the reference (paired)"})
        out[f"delta_{w}_se_paired"] = (pr, se, {"units": unit, "long_name": f"paired standard error of the change in {what}"})
    coords: dict[str, Any] = {"policy": labels, "scope": ("scope", scope, {"long_name": "region, or WORLD for the world total"}), "region": region_names}
    if components:
        coords["cost_component"] = components
    res = xr.Dataset({k: xr.Variable(*v) for k, v in out.items()}, coords=coords)
    res.attrs["key_regions"] = ", ".join(key_regions)
    res.attrs["halt_week"] = w8
    return res


PER_RUN = ("config", "title", "created", "wall_time_s", "engine_time_s", "first_chunk_time_s", "crashed_paths", "n_paths_counted")
"""Attributes of each run kept as variables along ``policy`` (``run_<name>``), never merged."""


def build(runs: list[Any], entries: list[tuple[str, Config, str]], *, overrides: list[str], compare: CompareConfig) -> xr.Dataset:
    """compare.nc: the runs' Datasets along ``policy``, plus the comparison variables."""
    from stress.results.dataset import netcdf_attr

    labels = [e for e, _, _ in entries]
    ref_cfg = entries[0][1]
    per = []
    keys = sorted({k for r in runs for k in r.ds.attrs})
    common = {
        k: runs[0].ds.attrs[k]
        for k in keys
        if k not in PER_RUN and all(k in r.ds.attrs and _same(r.ds.attrs[k], runs[0].ds.attrs[k]) for r in runs)
    }
    varying = [k for k in keys if k not in common and k != "crashed_paths"]  # crashed_paths is a variable already
    for r in runs:
        d = r.ds.copy()
        d.attrs = {}
        per.append(d)
    ds = xr.concat(per, dim=xr.DataArray(labels, dims="policy", name="policy"), data_vars="all", coords="minimal", compat="override", join="outer", combine_attrs="drop")
    for k in varying:
        vals = [r.ds.attrs.get(k, "") for r in runs]
        if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) for v in vals):
            ds[f"run_{k}"] = ("policy", np.asarray(vals), {"long_name": f"per-policy run attribute {k}"})
        else:
            ds[f"run_{k}"] = ("policy", np.array([str(v) for v in vals], dtype=object), {"long_name": f"per-policy run attribute {k}"})
    stats = statistics(runs, labels, seed=ref_cfg.sampler.seed, n_boot=compare.bootstrap, regions=compare.regions)
    ds = xr.merge([ds, stats], combine_attrs="drop", compat="override", join="outer")
    # concat and merge drop each variable's attributes: restore units, long names and the sketch layout
    for src in (stats, *(r.ds for r in runs)):
        for k, v in src.variables.items():
            if k in ds.variables and not ds[k].attrs:
                ds[k].attrs.update(v.attrs)
    if "bucket" in ds.dims:
        from stress.sketch import Sketch

        # the runs' sketches aligned on the bucket index: a bucket a run did not use holds 0 paths
        for k in ("loss_sketch", "loss_share_sketch"):
            if k in ds:
                ds[k] = ds[k].fillna(0).astype(np.int64).assign_attrs(runs[0].ds[k].attrs)
        sk = Sketch.from_attrs(runs[0].ds["loss_sketch"].attrs)
        ds = ds.assign_coords(bucket_value=("bucket", sk.values(ds["bucket"].values), runs[0].ds["bucket_value"].attrs))
    ds.attrs.update({k: netcdf_attr(v) for k, v in common.items()})
    ds.attrs.update(
        {
            "title": f"stress policy comparison: {ref_cfg.scenario.name if ref_cfg.scenario else 'none'}",
            "reference_policy": labels[0],
            "policies": ", ".join(labels),
            "overrides": " ".join(overrides),
            "bootstrap_resamples": compare.bootstrap,
            "bootstrap_seed": f"SeedSequence([{ref_cfg.sampler.seed}, {BOOTSTRAP_TAG:#x}]), the same resamples for every policy",
            "es_estimator": f"mean of the worst N - ceil({ES_LEVEL:.2f} N) + 1 losses of the N paths crashed in neither run (as the runs' expected_shortfall)",
            "key_regions": stats.attrs["key_regions"],
            "halt_week": stats.attrs["halt_week"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "Conventions": "CF-1.10",
        }
    )
    return ds


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(a == b))
    except Exception:  # noqa: BLE001
        return False


# ----------------------------------------------------------------------------- printing


def _pm(m: float, se: float, fmt: str = ",.2f") -> str:
    if not np.isfinite(m):
        return "—"
    return f"{m:+{fmt}} ± {se:{fmt}}" if np.isfinite(se) else f"{m:+{fmt}}"


def _sig(x: float) -> str:
    """A number with 3 significant digits (a small cost is not shown as 0.00)."""
    return f"{x:,.3g}" if np.isfinite(x) else "—"


def _per_dollar(per: float, se: float, ns: bool) -> str:
    if not np.isfinite(per):
        return "—"
    txt = f"{per:,.3g} ± {se:,.3g}" if np.isfinite(se) else f"{per:,.3g}"
    return txt + " n.s." if ns else txt


MIN_TAIL_PATHS = 5
"""Fewer paths than this in the ES99 tail (N - ceil(0.99 N) + 1) and the tail risk is flagged as thin."""


def thin_tail(k: int) -> str:
    """The warning for an ES99 resting on ``k`` paths (empty when ``k`` is at least MIN_TAIL_PATHS)."""
    if k >= MIN_TAIL_PATHS:
        return ""
    need = math.ceil(round((MIN_TAIL_PATHS - 1) / (1 - ES_LEVEL), 9))  # N - ceil(0.99 N) + 1 >= 5 from N = 400
    return f"ES99 rests on {k} path{'s' if k != 1 else ''}: run more paths (at least {need} for {MIN_TAIL_PATHS} in the tail)"


def _thin_tail_note(ds: xr.Dataset) -> str:
    if "es99_tail_paths" not in ds:
        return ""
    k = int(ds.es99_tail_paths.min())
    return f"Warning: {thin_tail(k)}." if thin_tail(k) else ""


def print_comparison(ds: xr.Dataset) -> None:
    """Rows = policies: Δ world VA loss, Δ ES99, cost, loss avoided per unit cost and halts;
    then Δ expected VA loss by region."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 170))
    unit = ds.attrs.get("money_unit", "")
    ref = ds.attrs.get("reference_policy", str(ds.policy.values[0]))
    n_paths = ds.attrs.get("n_paths")
    console.print(f"Money unit: {unit}. Paths: {n_paths} per policy, the same paths under every policy (reference: {ref}).")
    w8 = int(ds.attrs.get("halt_week", HALT_WEEKS))
    key = [r for r in str(ds.attrs.get("key_regions", "")).split(", ") if r]
    t = Table(title=f"Policies against {ref}: world lost value added over {ds.attrs.get('horizon_days')} days, {unit} (± paired SE)")
    t.add_column("policy")
    t.add_column("paths (dropped)", justify="right")
    t.add_column("Δ mean VA loss ± SE", justify="right")
    t.add_column("unpaired SE", justify="right")
    t.add_column("ES99 VA loss", justify="right")
    t.add_column("Δ ES99 ± SE", justify="right")
    t.add_column("cost ± SE", justify="right")
    t.add_column("loss avoided per $", justify="right")
    for r in key:
        t.add_column(f"P(halt ≤ {w8} wk) {r}/{ds.most_exposed_sector.sel(region=r).item()}", justify="right")
    W = SCOPE_WORLD
    for p in ds.policy.values:
        s = ds.sel(policy=p, scope=W)
        cost, cse = float(s.total_cost_mean), float(s.total_cost_se)
        per = float(s.loss_avoided_per_dollar)
        per_se = float(s.loss_avoided_per_dollar_se) if "loss_avoided_per_dollar_se" in s else float("nan")
        dva, dva_se = float(s.delta_value_added_loss_mean), float(s.delta_value_added_loss_se_paired)
        ns = np.isfinite(per) and not abs(dva) >= 2 * dva_se  # Δ within 2 paired SE of 0 (or no SE)
        t.add_row(
            str(p),
            f"{int(s.pairs_counted)} ({int(s.pairs_dropped)})",
            _pm(float(s.delta_value_added_loss_mean), float(s.delta_value_added_loss_se_paired)),
            f"{float(s.delta_value_added_loss_se_unpaired):,.2f}",
            f"{float(s.value_added_loss_es99):,.2f} ± {float(s.value_added_loss_es99_se):,.2f}",
            _pm(float(s.delta_value_added_loss_es99), float(s.delta_value_added_loss_es99_se)),
            f"{_sig(cost)} ± {_sig(cse)}" if np.isfinite(cse) else _sig(cost),
            _per_dollar(per, per_se, ns),
            *(f"{float(ds.halt_probability_most_exposed.sel(policy=p, region=r)):.1%}" for r in key),
        )
    console.print(t)
    if "capital_committed_mean" in ds and float(ds.capital_committed_mean.max()) > 0:
        cells = ", ".join(
            f"{p} {_sig(float(ds.capital_committed_mean.sel(policy=p)))} ({float(ds.loss_avoided_per_capital.sel(policy=p)):,.3g} avoided per $ committed)"
            for p in ds.policy.values
            if float(ds.capital_committed_mean.sel(policy=p)) > 0
        )
        console.print(f"Public capital committed (assets: stockpile value, public share of capex), {unit}: {cells}")
    thin = _thin_tail_note(ds)
    if thin:
        console.print(thin)
    t2 = Table(title=f"Δ expected lost value added against {ref} by region, {unit} (± paired SE)")
    t2.add_column("policy")
    for sc in ds.scope.values:
        t2.add_column(str(sc), justify="right")
    for p in ds.policy.values:
        s = ds.sel(policy=p)
        t2.add_row(str(p), *(_pm(float(s.delta_value_added_loss_mean.sel(scope=sc)), float(s.delta_value_added_loss_se_paired.sel(scope=sc))) for sc in ds.scope.values))
    console.print(t2)
    for w, what in (("tariff_revenue", "extra tariff revenue"), ("price_cost", "cost of higher delivered prices")):
        if f"delta_{w}_mean" in ds:
            d = ds[f"delta_{w}_mean"]
            moved = [p for p in ds.policy.values[1:] if float(np.abs(d.sel(policy=p)).max()) > 1e-9]  # only policies that moved it
            cells = "; ".join(
                f"{p}: "
                + ", ".join(
                    f"{r} {_pm(float(d.sel(policy=p, region=r)), float(ds[f'delta_{w}_se_paired'].sel(policy=p, region=r)), ',.3f')}"
                    for r in ds.region.values
                    if abs(float(d.sel(policy=p, region=r))) > 1e-9
                )
                for p in moved
            )
            if cells:
                console.print(f"Δ {what} by region, {unit}: {cells}")
    console.print(
        f"Δ: policy minus {ref} on the same paths; a path that crashed in either run is left out of the pair. "
        f"ES99: {ds.attrs.get('es_estimator')}; its SE: paired bootstrap ({ds.attrs.get('bootstrap_resamples')} resamples, fixed seed). "
        "Loss avoided per $: (mean world VA loss of the reference - of the policy) / mean policy cost ± delta-method paired SE; "
        "— where the cost is 0; n.s.: the Δ mean world VA loss is within 2 paired SE of 0."
    )


# ----------------------------------------------------------------------------- sweeps


def _policy_override(o: str) -> bool:
    return o.split("=", 1)[0].lstrip("+~").startswith(("policy.", "policies"))


def frontier_table(files: list[Path]) -> list[dict[str, Any]]:
    """One row per (job, policy) of the jobs' compare.nc files: the job's overrides, mean cost,
    world 99 % ES of lost value added, the paths in its ES99 tail and whether the point is on
    the frontier. Points are compared within jobs that share every override but the policy
    settings (``policies``, ``policy.…``): a frontier across scenarios or seeds would compare
    unlike risks. The reference policy (which no policy setting changes) is listed once per
    group, with the group's overrides only."""
    rows = []
    seen_ref = set()
    for j, f in enumerate(files):
        with xr.open_dataset(f) as ds:
            ov = str(ds.attrs.get("overrides", "")).split()
            group = " ".join(o for o in ov if not _policy_override(o))
            ref = str(ds.attrs.get("reference_policy", ds.policy.values[0]))
            for p in ds.policy.values:
                is_ref = str(p) == ref
                if is_ref:
                    if (group, ref) in seen_ref:
                        continue
                    seen_ref.add((group, ref))
                tail = int(ds.es99_tail_paths.sel(policy=p)) if "es99_tail_paths" in ds else es_tail_count(int(ds.attrs.get("n_paths", 1)))
                rows.append(
                    {
                        "job": f.parent.name,
                        "overrides": [o for o in ov if not _policy_override(o)] if is_ref else ov,
                        "group": group,
                        "policy": str(p),
                        "reference": is_ref,
                        "cost": float(ds.total_cost_mean.sel(policy=p)),
                        "es99": float(ds.value_added_loss_es99.sel(policy=p, scope=SCOPE_WORLD)),
                        "tail_paths": tail,
                        "unit": ds.attrs.get("money_unit", ""),
                        "order": j,
                    }
                )
    for g in {r["group"] for r in rows}:
        sub = [r for r in rows if r["group"] == g]
        mark = frontier(np.array([r["cost"] for r in sub]), np.array([r["es99"] for r in sub]))
        for r, m in zip(sub, mark, strict=True):
            r["frontier"] = bool(m)
    return rows


def print_frontier(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    console = Console(width=max(Console().width, 130))
    sets = [set(r["overrides"]) for r in rows]
    shared = set.intersection(*sets)
    shared_txt = " ".join(o for o in rows[0]["overrides"] if o in shared)
    unit = rows[0]["unit"]
    t = Table(title=f"Frontier of policy cost and world 99 % ES of lost value added, {unit} (shared overrides: {shared_txt or 'none'})")
    for col in ("job", "overrides", "policy", "mean cost", "ES99 world VA loss", "frontier"):
        t.add_column(col, justify="right" if col in ("mean cost", "ES99 world VA loss") else "left")
    for r in rows:
        policy = f"{r['policy']} (reference)" if r.get("reference") else r["policy"]
        t.add_row(r["job"], " ".join(o for o in r["overrides"] if o not in shared) or "-", policy, _sig(r["cost"]), f"{r['es99']:,.2f}", "★" if r["frontier"] else "")
    console.print(t)
    console.print("★: non-dominated among the jobs with the same non-policy overrides (no other point has cost and ES both lower or equal, one strictly lower).")
    thin = min((r.get("tail_paths", MIN_TAIL_PATHS) for r in rows), default=MIN_TAIL_PATHS)
    if thin_tail(thin):
        console.print(f"Warning: {thin_tail(thin)}; the frontier's ES99 values are that noisy.")


def print_sweep_frontier(sweep_dir: Path, since: float = 0.0) -> None:
    """Print the frontier of the compare.nc files written under ``sweep_dir`` since ``since``
    (``time.time()``); nothing when there are none (e.g. after ``run --multirun``)."""
    sweep = Path(sweep_dir)
    if not sweep.is_dir():
        return
    files = sorted((f for f in sweep.rglob("compare.nc") if f.stat().st_mtime >= since), key=lambda f: (len(str(f.parent)), str(f.parent)))
    if files:
        print_frontier(frontier_table(files))
