"""Synthetic Datasets for the report tests: the full variable contract of results.nc (and of
compare.nc with a ``policy`` dimension), made from random but self-consistent per-path losses,
and the partial Dataset that today's runs write (the NOW variables only)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

REGIONS = ["CHN", "USA", "EU", "JPN", "KOR", "ALLY", "ROW"]
SECTORS = [
    "ree_mining", "ree_separation", "magnets", "batteries", "semiconductors", "automotive",
    "defence_aerospace", "wind_electrical", "electronics", "machinery", "other_manufacturing", "services",
]
QUANTILES = [0.9, 0.95, 0.99, 0.995]
HALT_WEEKS = [4, 8, 13, 26]
FAN_Q = [0.05, 0.25, 0.5, 0.75, 0.95]
UNIT = "billion USD (2024)"
DRIVERS = [("cutoff_days", "day"), ("approval_rate", "1/week"), ("ree_cover_EU", "day"), ("ree_cover_JPN", "day"), ("psi", "1"), ("regime_escalation", "1")]
W = 52

#: Variables that today's main writes (the rest of the contract arrives with the new metrics).
LATER = [
    "world_value_added_loss_expected_shortfall_lower", "world_value_added_loss_expected_shortfall_upper",
    "world_output_loss_expected_shortfall_lower", "world_output_loss_expected_shortfall_upper",
    "region_value_added_loss_expected_shortfall_lower", "region_value_added_loss_expected_shortfall_upper",
    "region_output_loss_expected_shortfall_lower", "region_output_loss_expected_shortfall_upper",
    "loss_sketch", "halt_probability_within", "time_to_survive_distribution", "time_to_recover_distribution",
    "tts_before_ttr_probability", "supply_recovery_distribution", "production_fan", "production_mean",
    "driver_mean", "driver_sd", "driver_tail_mean", "driver_tail_mean_se", "driver_sensitivity", "driver_sensitivity_conf",
    "convergence_mean", "convergence_se", "convergence_quantile", "convergence_quantile_lower",
    "convergence_quantile_upper", "convergence_expected_shortfall",
]


def _v(dims, data, units, long_name):
    return xr.Variable(dims, np.asarray(data), attrs={"units": units, "long_name": long_name})


def _stats(x: np.ndarray, q: list[float]) -> dict[str, np.ndarray]:
    """mean, se, VaR with order-statistic bounds (NaN where unsupported), ES with bounds."""
    x = np.sort(np.asarray(x, float), axis=0)
    n = x.shape[0]
    out = {"mean": x.mean(0), "se": x.std(0, ddof=1) / math.sqrt(n)}
    var, lo, hi, es, elo, ehi = [], [], [], [], [], []
    for qk in q:
        var.append(np.quantile(x, qk, axis=0, method="inverted_cdf"))
        half = 1.96 * math.sqrt(n * qk * (1 - qk))
        i_lo, i_hi = int(math.floor(n * qk - half)), int(math.ceil(n * qk + half))
        lo.append(x[i_lo] if i_lo >= 0 else np.full(x.shape[1:], np.nan))
        hi.append(x[i_hi] if i_hi < n else np.full(x.shape[1:], np.nan))
        tail = x[int(math.ceil(n * qk)) - 1 :]
        e = tail.mean(0)
        es.append(e)
        s = tail.std(0, ddof=1) / math.sqrt(max(len(tail), 1)) if len(tail) > 1 else np.full(x.shape[1:], np.nan)
        elo.append(e - 1.96 * s)
        ehi.append(e + 1.96 * s)
    out.update(quantile=np.array(var), lower=np.array(lo), upper=np.array(hi), es=np.array(es), es_lower=np.array(elo), es_upper=np.array(ehi))
    return out


def full_dataset(n_paths: int = 4000, seed: int = 0) -> xr.Dataset:
    """A results.nc with every variable of the report's contract."""
    rng = np.random.default_rng(seed)
    R, S = len(REGIONS), len(SECTORS)
    # drivers and per-path losses that depend on them
    z = rng.standard_normal((n_paths, len(DRIVERS)))
    drivers = np.stack([60 * np.exp(0.7 * z[:, 0]), 0.1 + 0.03 * z[:, 1], 90 + 20 * z[:, 2], 80 + 20 * z[:, 3], 0.8 + 0.05 * z[:, 4], (z[:, 5] > 1).astype(float)], 1)
    scale = np.exp(0.9 * z[:, 0] - 0.4 * z[:, 1] - 0.2 * z[:, 2] - 0.15 * z[:, 3] + 0.3 * rng.standard_normal(n_paths))
    region_w = np.array([0.04, 0.15, 0.3, 0.14, 0.04, 0.04, 0.29])
    va_reg = 300 * scale[:, None] * region_w[None, :] * np.exp(0.3 * rng.standard_normal((n_paths, R)))
    va_reg[rng.random(n_paths) < 0.03] = 0.0  # a few paths with no loss at all
    out_reg = 2.5 * va_reg
    va_world, out_world = va_reg.sum(1), out_reg.sum(1)
    data = {}
    for name, x, w in (("value_added", va_world, "lost value added"), ("output", out_world, "lost output")):
        st = _stats(x[:, None], QUANTILES)
        data[f"world_{name}_loss_mean"] = _v((), st["mean"][0], UNIT, f"expected world {w}")
        data[f"world_{name}_loss_se"] = _v((), st["se"][0], UNIT, f"standard error of expected world {w}")
        for key, var in (("quantile", "quantile"), ("lower", "quantile_lower"), ("upper", "quantile_upper"), ("es", "expected_shortfall"), ("es_lower", "expected_shortfall_lower"), ("es_upper", "expected_shortfall_upper")):
            data[f"world_{name}_loss_{var}"] = _v(("quantile",), st[key][:, 0], UNIT, f"{var} of world {w}")
    for name, x, w in (("value_added", va_reg, "lost value added"), ("output", out_reg, "lost output")):
        st = _stats(x, QUANTILES)
        data[f"region_{name}_loss_mean"] = _v(("region",), st["mean"], UNIT, f"expected {w} by region")
        data[f"region_{name}_loss_se"] = _v(("region",), st["se"], UNIT, f"standard error of expected {w} by region")
        for key, var in (("quantile", "quantile"), ("lower", "quantile_lower"), ("upper", "quantile_upper"), ("es", "expected_shortfall"), ("es_lower", "expected_shortfall_lower"), ("es_upper", "expected_shortfall_upper")):
            data[f"region_{name}_loss_{var}"] = _v(("quantile", "region"), st[key], UNIT, f"{var} of {w} by region")
    # region x sector
    sector_w = rng.dirichlet(np.full(S, 0.6), size=R)
    va_mean = data["region_value_added_loss_mean"].values[:, None] * sector_w
    base = 50 + 500 * rng.random((R, S))
    share = np.clip(2.5 * va_mean / base, 0, 0.6)
    rs = ("region", "sector")
    data["value_added_loss_mean"] = _v(rs, va_mean, UNIT, "expected lost value added over the horizon")
    data["output_loss_mean"] = _v(rs, 2.5 * va_mean, UNIT, "expected lost output over the horizon")
    data["output_loss_share_mean"] = _v(rs, share, "1", "expected lost output as a share of baseline output")
    # halts: a weekly hazard per industry
    hazard = np.clip(share * 0.25 + 0.002, 0, 0.4)
    weeks = np.arange(1, W + 1)
    first = hazard[None] * (1 - hazard[None]) ** (weeks[:, None, None] - 1)  # P(first halt in week w)
    cum = np.cumsum(first, axis=0)
    data["halt_probability"] = _v(("week", *rs), cum, "1", "probability of a first plant halt within N weeks")
    data["halt_probability_within"] = _v(("halt_weeks", *rs), cum[np.array(HALT_WEEKS) - 1], "1", "probability of a first plant halt within N weeks")
    data["time_to_survive_distribution"] = _v(("week", *rs), first, "1", "probability that the first halt is in week w")
    rec_rate = 0.05 + 0.1 * rng.random((R, S))
    ttr = rec_rate[None] * (1 - rec_rate[None]) ** (weeks[:, None, None] - 1)
    data["time_to_recover_distribution"] = _v(("week", *rs), ttr, "1", "among paths with a halt, probability that recovery takes w weeks")
    med_tts = np.where(cum[-1] >= 0.5, (cum >= 0.5).argmax(0) + 1.0, np.inf)
    data["weeks_to_first_halt_median"] = _v(rs, med_tts, "week", "median weeks to the first plant halt")
    med_ttr = np.where(cum[-1] > 0.01, (np.cumsum(ttr, 0) >= 0.5).argmax(0) + 1.0, np.nan)
    data["weeks_to_recover_median"] = _v(rs, med_ttr, "week", "median weeks to recover")
    data["recovered_probability"] = _v(rs, np.where(np.isfinite(med_ttr), np.cumsum(ttr, 0)[-1], np.nan), "1", "share of halted paths recovered by the end")
    data["tts_before_ttr_probability"] = _v(rs, np.clip(cum[-1] * 0.8, 0, 1), "1", "P(time to survive < time to recover of the supply)")
    data["supply_recovery_distribution"] = _v(("week",), np.diff(np.concatenate([[0], 1 - np.exp(-weeks / 10)])), "1", "probability the supply recovers in week w")
    # production fan
    mw = np.arange(W + 1)
    depth = share * 4
    shape = np.exp(-(((mw[:, None, None] - 10) / 8.0) ** 2))
    fan = np.stack([1 - depth[None] * shape * f for f in (2.2, 1.4, 1.0, 0.6, 0.15)])
    data["production_fan"] = _v(("fan_quantile", "model_week", *rs), np.clip(fan, 0, 1.2), "1", "weekly production as a share of baseline")
    data["production_mean"] = _v(("model_week", *rs), np.clip(1 - depth[None] * shape * 1.1, 0, 1.2), "1", "expected weekly production as a share of baseline")
    # loss sketch (log buckets, relative accuracy 1 %)
    gamma = 1.02
    measures = ["value_added_loss/WORLD", "output_loss/WORLD", *[f"output_loss/{r}" for r in REGIONS]]
    cols = [va_world, out_world, *out_reg.T]
    kmin, kmax = int(np.floor(np.log(0.01) / np.log(gamma))), int(np.ceil(np.log(1e5) / np.log(gamma)))
    bucket_value = np.concatenate([[0.0], gamma ** np.arange(kmin, kmax + 1)])
    sketch = np.zeros((len(measures), len(bucket_value)), np.int64)
    for m, x in enumerate(cols):
        k = np.where(x > 0, np.clip(np.round(np.log(np.maximum(x, 1e-300)) / np.log(gamma)).astype(int) - kmin + 1, 1, len(bucket_value) - 1), 0)
        np.add.at(sketch[m], k, 1)
    data["loss_sketch"] = xr.Variable(("measure", "bucket"), sketch, attrs={"units": "1", "long_name": "paths per loss bucket", "relative_accuracy": 0.01})
    # drivers
    tail_q = np.array(QUANTILES)
    d_tail = np.stack([drivers[va_world >= np.quantile(va_world, q)].mean(0) for q in tail_q])
    d_tail_se = np.stack([drivers[va_world >= np.quantile(va_world, q)].std(0, ddof=1) / math.sqrt(max((va_world >= np.quantile(va_world, q)).sum(), 2)) for q in tail_q])
    data["driver_mean"] = _v(("driver",), drivers.mean(0), "", "mean of the sampled driver")
    data["driver_sd"] = _v(("driver",), drivers.std(0, ddof=1), "", "standard deviation of the sampled driver")
    data["driver_tail_mean"] = _v(("quantile", "driver"), d_tail, "", "mean of the driver given a world VA loss at or beyond the quantile")
    data["driver_tail_mean_se"] = _v(("quantile", "driver"), d_tail_se, "", "standard error of driver_tail_mean")
    data["driver_sensitivity"] = _v(("driver",), [0.55, 0.08, 0.03, 0.02, 0.01, 0.0], "1", "first-order sensitivity index of world VA loss")
    data["driver_sensitivity_conf"] = _v(("driver",), [0.05, 0.03, 0.02, 0.02, 0.01, 0.01], "1", "95 % confidence of the sensitivity index")
    # convergence
    checkpoints = np.array([c for c in (64, 128, 256, 512, 1024, 2048, 4096, 8192) if c <= n_paths] + ([n_paths] if n_paths not in (64, 128, 256, 512, 1024, 2048, 4096, 8192) else []))
    heads = ["value_added_loss/WORLD", "output_loss/WORLD"]
    cm = np.zeros((len(checkpoints), 2))
    cs = np.zeros_like(cm)
    cq, clo, chi, ces = (np.zeros((len(checkpoints), len(QUANTILES), 2)) for _ in range(4))
    for i, c in enumerate(checkpoints):
        for h, x in enumerate((va_world, out_world)):
            st = _stats(x[:c, None], QUANTILES)
            cm[i, h], cs[i, h] = st["mean"][0], st["se"][0]
            cq[i, :, h], clo[i, :, h], chi[i, :, h], ces[i, :, h] = st["quantile"][:, 0], st["lower"][:, 0], st["upper"][:, 0], st["es"][:, 0]
    data["convergence_mean"] = _v(("checkpoint", "headline"), cm, UNIT, "running mean")
    data["convergence_se"] = _v(("checkpoint", "headline"), cs, UNIT, "running standard error")
    for name, arr in (("quantile", cq), ("quantile_lower", clo), ("quantile_upper", chi), ("expected_shortfall", ces)):
        data[f"convergence_{name}"] = _v(("checkpoint", "quantile", "headline"), arr, UNIT, f"running {name}")
    # shock channels and the rest of today's variables
    data["price_rise_mean"] = _v(rs, 0.1 * share, "1", "expected producer price rise")
    data["crashed_paths"] = _v((), np.int64(0), "1", "crashed paths")
    coords = {
        "region": REGIONS,
        "sector": SECTORS,
        "quantile": ("quantile", QUANTILES, {"units": "1", "long_name": "probability level"}),
        "week": ("week", weeks, {"units": "week"}),
        "model_week": ("model_week", mw, {"units": "week"}),
        "halt_weeks": ("halt_weeks", HALT_WEEKS, {"units": "week"}),
        "fan_quantile": ("fan_quantile", FAN_Q),
        "driver": [d for d, _ in DRIVERS],
        "driver_units": ("driver", [u for _, u in DRIVERS]),
        "checkpoint": checkpoints,
        "headline": heads,
        "measure": measures,
        "bucket": np.arange(len(bucket_value)),
        "bucket_value": ("bucket", bucket_value),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        {
            "title": "stress Monte Carlo results: full_cutoff",
            "scenario": "full_cutoff",
            "world": "ree_world",
            "money_unit": UNIT,
            "seed": 0,
            "n_paths": n_paths,
            "n_paths_counted": n_paths,
            "crashed_paths": 0,
            "horizon_days": 365,
            "constraint_threshold": 0.01,
            "posterior": "bundled (2000 draws; each path uses one)",
            "precision": "float64",
            "device": "cpu (cpu)",
            "stress_version": "0.1.0",
            "jax_version": "0.0.0",
            "python_version": "3.11",
            "wall_time_s": 12.5,
            "created": "2026-01-01T00:00:00+0000",
            "frequency_per_year": 0.1,
            "config": CONFIG_YAML,
        }
    )
    return ds


CONFIG_YAML = """world:
  name: ree_world
sampler:
  n_paths: 4000
  seed: 0
scenario:
  name: full_cutoff
  description: full cut-off of Chinese exports of separated rare earths and magnets, then licensing
  kind: export_cutoff
  exporter: CHN
  products:
  - ree_separation
  - magnets
  destinations: null
  cutoff:
    median_days: 60.0
    sigma: 0.7
shocks:
  takeover:
    enabled: true
policy:
  joint_stockpile:
    enabled: false
"""


def partial_dataset(n_paths: int = 512, seed: int = 1) -> xr.Dataset:
    """What today's runs write: the full contract less the LATER variables and their coords."""
    ds = full_dataset(n_paths, seed)
    ds = ds.drop_vars([v for v in LATER if v in ds])
    ds = ds.drop_vars([c for c in ("halt_weeks", "fan_quantile", "driver", "driver_units", "checkpoint", "headline", "measure", "bucket", "bucket_value") if c in ds.coords])
    ds.attrs.pop("frequency_per_year", None)
    return ds


def compare_dataset(n_paths: int = 2000) -> xr.Dataset:
    """A compare.nc: three policies along ``policy`` (the reference first) plus the comparison variables."""
    base = full_dataset(n_paths)
    policies = ["none", "joint_stockpile", "price_floor"]
    factor = [1.0, 0.8, 0.97]
    per = []
    for f in factor:
        d = base.copy(deep=True)
        for v in d.data_vars:
            if d[v].attrs.get("units") == UNIT:
                d[v] = d[v] * f
        d.attrs = {}
        per.append(d)
    ds = xr.concat(per, dim=xr.DataArray(policies, dims="policy", name="policy"), data_vars="all", coords="minimal", compat="override")
    scope = [*REGIONS, "WORLD"]
    m = float(base.world_value_added_loss_mean)
    delta = np.array([[0.0] * len(scope), [-0.2 * m / 8] * (len(scope) - 1) + [-0.2 * m], [-0.03 * m / 8] * (len(scope) - 1) + [-0.03 * m]])
    se = np.abs(delta) * 0.3 + np.array([[0.0], [1.0], [1.0]]) * 0.02 * m
    ds["delta_value_added_loss_mean"] = (("policy", "scope"), delta, {"units": UNIT})
    ds["delta_value_added_loss_se_paired"] = (("policy", "scope"), se, {"units": UNIT})
    ds["delta_value_added_loss_es99"] = (("policy", "scope"), delta * 2, {"units": UNIT})
    ds["delta_value_added_loss_es99_se"] = (("policy", "scope"), se * 2, {"units": UNIT})
    ds["total_cost_mean"] = ("policy", [0.0, 12.5, 3.2], {"units": UNIT})
    ds["total_cost_se"] = ("policy", [np.nan, 0.4, 0.9], {"units": UNIT})
    ds["capital_committed_mean"] = ("policy", [0.0, 40.0, 0.0], {"units": UNIT})
    ds["loss_avoided_per_dollar"] = ("policy", [np.nan, 0.2 * m / 12.5, 0.03 * m / 3.2], {"units": "1"})
    ds["pairs_counted"] = ("policy", [n_paths] * 3)
    ds = ds.assign_coords(scope=scope)
    ds["run_config"] = ("policy", np.array([CONFIG_YAML] * 3, dtype=object))
    ds.attrs.update({k: v for k, v in base.attrs.items() if k != "config"})
    ds.attrs.update({"title": "stress policy comparison: full_cutoff", "reference_policy": "none", "policies": ", ".join(policies)})
    return ds
