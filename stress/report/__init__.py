"""``python -m stress report RUN_DIR``: one self-contained HTML risk report from a run's Dataset.

The report is built from ``results.nc`` (``python -m stress run``) or ``compare.nc``
(``python -m stress compare``) alone: figures are PNGs embedded as ``data:`` URIs, the CSS is
inline, and nothing is fetched when the page is opened. Every section whose variables are in
the Dataset is drawn; a section whose variables are absent says so in one line. For a
``compare.nc`` the sections on the run show the reference policy (the first) and a policy
section shows the comparison.

:func:`write_report` is the entry point; the figures are in :mod:`stress.report.figures`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress.errors import InputError

RESULT_FILES = ("results.nc", "compare.nc")
WHAT_IS_ALLOWED = "a folder written by python -m stress run (holding results.nc) or python -m stress compare (holding compare.nc), or one of those files"
HALT_WEEKS = (4, 8, 13, 26)
MAIN_HALT_WEEK = 8
TOP_HALTS = 10
FAN_PANELS = 6
TAIL_Q = 0.99
TOO_FEW = "n/a (too few paths)"
NOT_IN = "Not in this Dataset"

#: Sections of the page, in order: (id, heading).
SECTIONS = (
    ("summary", "Summary"),
    ("assumptions", "Scenario and assumptions"),
    ("distribution", "Loss distribution"),
    ("regions", "Where the loss falls"),
    ("production", "Production over time"),
    ("halts", "Plant halts: time to survive and time to recover"),
    ("drivers", "What drives the tail"),
    ("convergence", "Did the run use enough paths?"),
    ("policy", "Policy comparison"),
    ("provenance", "Provenance"),
)


# ----------------------------------------------------------------------------- input


def find_input(path_in: str | os.PathLike) -> Path:
    """The netCDF file behind ``path_in``: the file itself, or a run folder's compare.nc
    (preferred: it holds the reference run too) or results.nc."""
    p = Path(path_in).expanduser()
    if not p.exists():
        raise InputError("RUN_DIR", str(path_in), f"{WHAT_IS_ALLOWED}; no such file or folder")
    if p.is_dir():
        for name in reversed(RESULT_FILES):
            if (p / name).is_file():
                return p / name
        raise InputError("RUN_DIR", str(path_in), f"{WHAT_IS_ALLOWED}; this folder has neither {' nor '.join(RESULT_FILES)}")
    return p


def load(path: Path) -> xr.Dataset:
    """Open and fully read a result file; a file that is not netCDF, or not one of ours, is an
    :class:`InputError` naming what is missing."""
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input here
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError("RUN_DIR", str(path), f"{WHAT_IS_ALLOWED}; this file could not be read as netCDF ({first[:200]})") from None
    needed = ("world_value_added_loss_mean", "world_value_added_loss_quantile")
    missing = [v for v in needed if v not in ds.data_vars]
    if missing or "quantile" not in ds.coords:
        what = missing[0] if missing else "the coordinate quantile"
        raise InputError(
            "RUN_DIR", str(path), f"{WHAT_IS_ALLOWED}; this netCDF file has no variable {what}, so it is not a stress result"
        )
    return ds


# ----------------------------------------------------------------------------- helpers


def _f(x: Any) -> float:
    try:
        return float(np.asarray(x).item())
    except (TypeError, ValueError):
        return float("nan")


def _has(ds: xr.Dataset, *names: str) -> bool:
    return all(n in ds.data_vars for n in names)


def money(x: float) -> str:
    from stress.report.figures import money as m

    return m(x)


def interval(lo: float, hi: float) -> str:
    """A 95 % interval; a NaN bound (the sample cannot support it) as n/a."""
    if not np.isfinite(lo) and not np.isfinite(hi):
        return TOO_FEW
    return f"{money(lo) if np.isfinite(lo) else TOO_FEW} – {money(hi) if np.isfinite(hi) else TOO_FEW}"


def pct(x: float, digits: int = 0) -> str:
    return f"{100 * x:.{digits}f} %" if np.isfinite(x) else "n/a"


def weeks(x: float) -> str:
    if np.isnan(x):
        return "no halt"
    if np.isinf(x):
        return "beyond horizon"
    return f"{x:.0f}"


def tail_level(qs: list[float]) -> float:
    """The probability level nearest 0.99 below 1 (the largest level where every one is 1 or more)."""
    below = [q for q in qs if q < 1]
    return min(below, key=lambda q: abs(q - TAIL_Q)) if below else max(qs)


def one_in(q: float) -> str:
    if q >= 0.5 and q < 1:
        n = 1 / (1 - q)
        return "median" if abs(q - 0.5) < 1e-9 else f"1 in {n:,.0f}" if abs(n - round(n)) < 1e-6 else f"1 in {n:,.1f}"
    return ""


def level(q: float) -> str:
    return f"{100 * q:g} %"


def industry(region: str, sector: str) -> str:
    return f"{region}/{sector}"


def _attr(ds: xr.Dataset, key: str, default: Any = "") -> Any:
    v = ds.attrs.get(key, default)
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _config_yaml(ds: xr.Dataset) -> str:
    cfg = ds.attrs.get("config")
    if not cfg and "run_config" in ds:
        cfg = str(ds["run_config"].values.ravel()[0])
    return str(cfg or "")


def _parse_config(text: str) -> dict:
    if not text:
        return {}
    try:
        import yaml

        out = yaml.safe_load(text)
        return out if isinstance(out, dict) else {}
    except Exception:  # noqa: BLE001 - a config we cannot parse is shown as text only
        return {}


def halt_within(ds: xr.Dataset, n: int) -> xr.DataArray | None:
    """P(first plant halt within ``n`` weeks) by (region, sector), from
    ``halt_probability_within`` or from ``halt_probability`` at week ``n``."""
    if "halt_probability_within" in ds and "halt_weeks" in ds.coords and n in [int(w) for w in ds["halt_weeks"].values]:
        return ds["halt_probability_within"].sel(halt_weeks=n)
    if "halt_probability" in ds and "week" in ds.coords and int(ds["week"].min()) <= n <= int(ds["week"].max()):
        return ds["halt_probability"].sel(week=n)
    return None


def _industries(da: xr.DataArray, n: int) -> list[tuple[str, str]]:
    """The ``n`` (region, sector) cells with the largest finite values of ``da``."""
    s = da.stack(cell=("region", "sector"))
    vals = np.nan_to_num(np.asarray(s.values, float), nan=-np.inf, posinf=-np.inf)
    order = np.argsort(-vals, kind="stable")[:n]
    return [(str(s["region"].values[i]), str(s["sector"].values[i])) for i in order if np.isfinite(vals[i])]


# ----------------------------------------------------------------------------- sections


def _headline(ds: xr.Dataset, unit: str) -> dict:
    rows = []
    measures = [("value_added", "world value added lost"), ("output", "world output lost")]
    present = [(k, w) for k, w in measures if _has(ds, f"world_{k}_loss_mean")]
    mean_row = {"label": "Expected loss (mean ± standard error)", "cells": []}
    for k, _ in present:
        m, se = _f(ds[f"world_{k}_loss_mean"]), _f(ds.get(f"world_{k}_loss_se", np.nan))
        mean_row["cells"].append((f"{money(m)} ± {money(se)}" if np.isfinite(se) else money(m), f"{money(m - 1.96 * se)} – {money(m + 1.96 * se)}" if np.isfinite(se) else TOO_FEW))
    rows.append(mean_row)
    for q in ds["quantile"].values:
        q = float(q)
        tag = one_in(q)
        var_row = {"label": f"Value at risk {level(q)}" + (f" ({tag})" if tag else ""), "cells": []}
        es_row = {"label": f"Expected shortfall {level(q)} (average beyond the VaR)", "cells": []}
        for k, _ in present:
            base = f"world_{k}_loss"
            sel = {"quantile": q}
            v = _f(ds[f"{base}_quantile"].sel(sel)) if f"{base}_quantile" in ds else np.nan
            lo = _f(ds[f"{base}_quantile_lower"].sel(sel)) if f"{base}_quantile_lower" in ds else np.nan
            hi = _f(ds[f"{base}_quantile_upper"].sel(sel)) if f"{base}_quantile_upper" in ds else np.nan
            var_row["cells"].append((money(v), interval(lo, hi)))
            e = _f(ds[f"{base}_expected_shortfall"].sel(sel)) if f"{base}_expected_shortfall" in ds else np.nan
            if f"{base}_expected_shortfall_lower" in ds:
                elo = _f(ds[f"{base}_expected_shortfall_lower"].sel(sel))
                ehi = _f(ds[f"{base}_expected_shortfall_upper"].sel(sel)) if f"{base}_expected_shortfall_upper" in ds else np.nan
                es_iv = interval(elo, ehi)
            else:
                es_iv = "—"
            es_row["cells"].append((money(e), es_iv))
        rows += [var_row, es_row] if q >= 0.9 else [var_row]
    es_bounds = any(f"world_{k}_loss_expected_shortfall_lower" in ds for k, _ in present)
    return {"columns": [w for _, w in present], "rows": rows, "unit": unit, "es_bounds": es_bounds}


def _findings(ds: xr.Dataset, unit: str, horizon: Any) -> list[str]:
    out = []
    m, se = _f(ds["world_value_added_loss_mean"]), _f(ds.get("world_value_added_loss_se", np.nan))
    days = f" over {horizon} days" if horizon else ""
    out.append(
        f"On average the disruption costs the world economy {money(m)} {unit} of value added{days}"
        + (f" (95 % interval of the mean {money(m - 1.96 * se)} – {money(m + 1.96 * se)})." if np.isfinite(se) else ".")
    )
    qs = [float(q) for q in ds["quantile"].values]
    tail_q = tail_level(qs)
    v = _f(ds["world_value_added_loss_quantile"].sel(quantile=tail_q))
    txt = f"{one_in(tail_q).capitalize()} world value-added loss (VaR {level(tail_q)}): {money(v)} {unit}"
    if _has(ds, "world_value_added_loss_quantile_lower", "world_value_added_loss_quantile_upper"):
        lo = _f(ds["world_value_added_loss_quantile_lower"].sel(quantile=tail_q))
        hi = _f(ds["world_value_added_loss_quantile_upper"].sel(quantile=tail_q))
        txt += f" (95 % interval {interval(lo, hi)})"
    if "world_value_added_loss_expected_shortfall" in ds:
        txt += f"; when it is exceeded the loss averages {money(_f(ds['world_value_added_loss_expected_shortfall'].sel(quantile=tail_q)))} {unit} (expected shortfall)"
    out.append(txt + ".")
    if m > 0 and np.isfinite(v) and tail_q < 1:
        out.append(f"The 1-in-{1 / (1 - tail_q):,.0f} loss is {v / m:,.1f} times the average loss: the risk sits in the tail, not in the typical path.")
    h8 = halt_within(ds, MAIN_HALT_WEEK)
    if h8 is not None:
        top = _industries(h8, 1)
        if top:
            r, s = top[0]
            p = _f(h8.sel(region=r, sector=s))
            txt = f"Most exposed industry: {industry(r, s)}: a plant halt within {MAIN_HALT_WEEK} weeks with probability {pct(p)}"
            if "weeks_to_first_halt_median" in ds:
                w = _f(ds["weeks_to_first_halt_median"].sel(region=r, sector=s))
                txt += f"; median time to the first halt {weeks(w)} weeks" if np.isfinite(w) else ""
            if "weeks_to_recover_median" in ds:
                w = _f(ds["weeks_to_recover_median"].sel(region=r, sector=s))
                txt += f"; once halted, a median {weeks(w)} weeks to recover" if np.isfinite(w) else ""
            out.append(txt + ".")
    if "value_added_loss_mean" in ds:
        top = _industries(ds["value_added_loss_mean"], 1)
        if top:
            r, s = top[0]
            txt = f"Largest expected value-added loss: {industry(r, s)}, {money(_f(ds['value_added_loss_mean'].sel(region=r, sector=s)))} {unit}"
            if "output_loss_share_mean" in ds:
                txt += f" ({pct(_f(ds['output_loss_share_mean'].sel(region=r, sector=s)), 1)} of its output lost)"
            out.append(txt + ".")
    if "region_value_added_loss_mean" in ds:
        rv = ds["region_value_added_loss_mean"]
        i = int(np.nanargmax(rv.values))
        share = _f(rv[i]) / m if m else np.nan
        out.append(f"Hardest-hit region: {rv['region'].values[i]}, {money(_f(rv[i]))} {unit} expected value-added loss ({pct(share)} of the world total).")
    d = _drivers(ds)
    if d and d["rows"]:
        top = d["rows"][0]
        out.append(f"The worst paths are above all those where {top['name']} is {'high' if top['shift'] > 0 else 'low'}: {top['text']}.")
    return out


def _warnings(ds: xr.Dataset) -> list[str]:
    out = []
    n = int(_f(ds.attrs.get("n_paths_counted", ds.attrs.get("n_paths", np.nan)))) if np.isfinite(_f(ds.attrs.get("n_paths_counted", ds.attrs.get("n_paths", np.nan)))) else None
    crashed = _f(ds.attrs.get("crashed_paths", ds["crashed_paths"] if "crashed_paths" in ds else 0))
    if int(_f(ds.attrs.get("partial", 0)) or 0):
        out.append(
            f"PARTIAL RESULT: the run was stopped after {_attr(ds, 'chunks_finished')} of {_attr(ds, 'n_chunks')} chunks; "
            f"every figure comes from its {int(_f(ds.attrs.get('n_paths', 0))):,} finished paths of the "
            f"{int(_f(ds.attrs.get('n_paths_requested', 0))):,} requested. Continue it with python -m stress run resume=RUN_DIR."
        )
    if np.isfinite(crashed) and crashed > 0:
        out.append(f"{int(crashed):,} paths crashed (a stock went negative or NaN) and are left out of every statistic.")
    if n:
        from stress.sketch import quantile_rank

        for q in ds["quantile"].values:
            q = float(q)
            if not 0.9 <= q < 1:
                continue
            k = n - quantile_rank(n, q) + 1  # the paths at or beyond the VaR's rank: the ES's tail
            if k < 5:
                out.append(
                    f"The {level(q)} level rests on {k} path{'s' if k != 1 else ''} at or beyond it: treat its VaR and expected shortfall as rough; "
                    f"run at least {math.ceil(round(4 / (1 - q), 9)):,} paths for 5."
                )
                break
    return out


def _assumptions(ds: xr.Dataset, cfg: dict, cfg_text: str) -> dict:
    sc = cfg.get("scenario") or {}
    desc = sc.get("description") or ""
    on_shocks = [k for k, v in (cfg.get("shocks") or {}).items() if isinstance(v, dict) and v.get("enabled")]
    on_levers = [k for k, v in (cfg.get("policy") or {}).items() if isinstance(v, dict) and v.get("enabled")]
    items = []
    if desc:
        items.append(("Scenario", f"{sc.get('name', _attr(ds, 'scenario'))}: {desc}"))
    if sc.get("kind"):
        items.append(("Kind of shock", str(sc["kind"]).replace("_", " ")))
    if sc.get("exporter"):
        dest = sc.get("destinations") or "every other region"
        items.append(("Who restricts what", f"{sc['exporter']} restricts {', '.join(map(str, sc.get('products') or [])) or 'exports'} to {dest if isinstance(dest, str) else ', '.join(dest)}"))
    if isinstance(sc.get("cutoff"), dict) and "median_days" in sc["cutoff"]:
        items.append(("Length of the cut-off", f"log-normal, median {sc['cutoff']['median_days']:g} days, sigma {sc['cutoff'].get('sigma', float('nan')):g} (hand-set prior)"))
    items.append(("Where the uncertain parameters come from", str(_attr(ds, "posterior", "")) or "not recorded"))
    items.append(("World (input-output table)", str(_attr(ds, "world", "")) or "not recorded"))
    items.append(("Horizon", f"{_attr(ds, 'horizon_days', '?')} days"))
    items.append(("Other shock channels switched on", ", ".join(on_shocks) or "none"))
    if "policy" in ds.coords:  # the reference of a comparison
        items.append(("Policies compared", str(_attr(ds, "policies", "")) or ", ".join(map(str, np.atleast_1d(ds["policy"].values)))))
    else:
        items.append(("Allied levers switched on", ", ".join(on_levers) or str(_attr(ds, "policies", "")) or "none"))
    items.append(
        ("Halt", f"a plant halt is output cut by missing inputs by more than {pct(_f(_attr(ds, 'constraint_threshold', np.nan)), 0)} of what demand and capacity allow")
    )
    sc_yaml = ""
    if sc:
        import yaml

        sc_yaml = yaml.safe_dump({"scenario": sc}, sort_keys=False, width=100)
    return {"items": items, "scenario_yaml": sc_yaml, "config_yaml": cfg_text}


def _regions_table(ds: xr.Dataset, unit: str) -> list[dict] | None:
    if not _has(ds, "region_value_added_loss_mean"):
        return None
    qs = [float(q) for q in ds["quantile"].values]
    tq = tail_level(qs)
    rows = []
    for r in ds["region"].values:
        g = lambda name: _f(ds[name].sel(region=r, **({"quantile": tq} if "quantile" in ds[name].dims else {}))) if name in ds else np.nan  # noqa: E731
        m, se = g("region_value_added_loss_mean"), g("region_value_added_loss_se")
        rows.append(
            {
                "region": str(r),
                "mean": f"{money(m)} ± {money(se)}" if np.isfinite(se) else money(m),
                "var": money(g("region_value_added_loss_quantile")),
                "var_iv": interval(g("region_value_added_loss_quantile_lower"), g("region_value_added_loss_quantile_upper")),
                "es": money(g("region_value_added_loss_expected_shortfall")),
                "out": money(g("region_output_loss_mean")),
            }
        )
    return [{"level": level(tq), "rows": rows}]


def _halts(ds: xr.Dataset) -> dict | None:
    h8 = halt_within(ds, MAIN_HALT_WEEK)
    if h8 is None:
        return None
    top = _industries(h8, TOP_HALTS)
    cols = [w for w in HALT_WEEKS if halt_within(ds, w) is not None]
    rows = []
    for r, s in top:
        row = {"industry": industry(r, s), "p": [pct(_f(halt_within(ds, w).sel(region=r, sector=s))) for w in cols]}
        row["tts"] = weeks(_f(ds["weeks_to_first_halt_median"].sel(region=r, sector=s))) if "weeks_to_first_halt_median" in ds else "—"
        row["ttr"] = weeks(_f(ds["weeks_to_recover_median"].sel(region=r, sector=s))) if "weeks_to_recover_median" in ds else "—"
        row["rec"] = pct(_f(ds["recovered_probability"].sel(region=r, sector=s))) if "recovered_probability" in ds else "—"
        row["tts_ttr"] = pct(_f(ds["tts_before_ttr_probability"].sel(region=r, sector=s))) if "tts_before_ttr_probability" in ds else "—"
        rows.append(row)
    return {"cols": cols, "rows": rows, "top": top, "has_tts_ttr": "tts_before_ttr_probability" in ds}


def _drivers(ds: xr.Dataset) -> dict | None:
    if not _has(ds, "driver_mean", "driver_tail_mean") or "driver" not in ds.coords:
        return None
    qs = [float(q) for q in ds["driver_tail_mean"]["quantile"].values]
    q = tail_level(qs)
    mean = np.asarray(ds["driver_mean"].values, float)
    tail = np.asarray(ds["driver_tail_mean"].sel(quantile=q).values, float)
    tail_se = np.asarray(ds["driver_tail_mean_se"].sel(quantile=q).values, float) if "driver_tail_mean_se" in ds else None
    scaled = "driver_sd" in ds
    scale = np.asarray(ds["driver_sd"].values, float) if scaled else np.abs(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(scale > 0, (tail - mean) / scale, np.nan)
        err = None if tail_se is None else np.where(scale > 0, 1.96 * tail_se / scale, np.nan)
    names = [str(d) for d in ds["driver"].values]
    units = [str(u) for u in ds["driver_units"].values] if "driver_units" in ds.coords else [""] * len(names)
    about = [str(u) for u in ds["driver_description"].values] if "driver_description" in ds.coords else [""] * len(names)
    s1 = np.asarray(ds["driver_sensitivity"].values, float) if "driver_sensitivity" in ds else None
    s1c = np.asarray(ds["driver_sensitivity_conf"].values, float) if "driver_sensitivity_conf" in ds else None
    # a driver that does not vary in this scenario explains nothing: listed apart, not charted
    varies = np.isfinite(scale) & (scale > 0)
    constant = [n for n, v in zip(names, varies, strict=True) if not v]
    keep = np.flatnonzero(varies)
    if keep.size == 0:
        return None
    names, units, about = [names[i] for i in keep], [units[i] for i in keep], [about[i] for i in keep]
    mean, tail, shift = mean[keep], tail[keep], shift[keep]
    err = None if err is None else err[keep]
    s1 = None if s1 is None else s1[keep]
    s1c = None if s1c is None else s1c[keep]
    labels = [f"{n} ({u})" if u and u != "1" else n for n, u in zip(names, units, strict=True)]
    order = np.argsort(-np.abs(np.nan_to_num(shift)), kind="stable")
    rows = []
    for i in order:
        u = "" if units[i] in ("", "1") else f" {units[i]}"
        how = f"{shift[i]:+.2f} standard deviations" if scaled else f"{100 * shift[i]:+.0f} % of its mean"
        rows.append(
            {
                "name": names[i],
                "about": about[i],
                "shift": float(np.nan_to_num(shift[i])),
                "mean": f"{mean[i]:,.3g}{u}",
                "tail": f"{tail[i]:,.3g}{u}",
                "how": how,
                "s1": "—" if s1 is None else (f"{s1[i]:.2f}" + (f" ± {s1c[i]:.2f}" if s1c is not None and np.isfinite(s1c[i]) else "")),
                "text": f"its mean moves from {mean[i]:,.3g}{u} over all paths to {tail[i]:,.3g}{u} in the worst {100 * (1 - q):.3g} % ({how})",
            }
        )
    n_tail = int(ds["driver_tail_paths"].sel(quantile=q)) if "driver_tail_paths" in ds else None
    n_sample = int(ds["attribution_paths"]) if "attribution_paths" in ds else None
    return {"q": q, "labels": labels, "shift": shift, "err": err, "s1": s1, "s1c": s1c, "scaled": scaled, "rows": rows, "constant": constant, "n_tail": n_tail, "n_sample": n_sample}


def _policy(ds: xr.Dataset, unit: str) -> dict | None:
    if "policy" not in ds.dims or not _has(ds, "delta_value_added_loss_mean", "delta_value_added_loss_se_paired"):
        return None
    pols = [str(p) for p in ds["policy"].values]
    world = "WORLD" if "scope" in ds.coords and "WORLD" in [str(s) for s in ds["scope"].values] else None
    sel = lambda v: v.sel(scope=world) if world and "scope" in v.dims else v  # noqa: E731
    d, se = sel(ds["delta_value_added_loss_mean"]), sel(ds["delta_value_added_loss_se_paired"])
    g = lambda name, p: _f(sel(ds[name]).sel(policy=p)) if name in ds else np.nan  # noqa: E731
    rows = []
    for p in pols:
        dv, ds_ = _f(d.sel(policy=p)), _f(se.sel(policy=p))
        es, es_se = g("delta_value_added_loss_es99", p), g("delta_value_added_loss_es99_se", p)
        cost, cost_se = g("total_cost_mean", p), g("total_cost_se", p)
        per, per_se = g("loss_avoided_per_dollar", p), g("loss_avoided_per_dollar_se", p)
        signif = np.isfinite(ds_) and ds_ > 0 and abs(dv) >= 1.96 * ds_
        if p == pols[0]:
            rows.append({"policy": p, "delta": "—", "delta_iv": "—", "es": "—", "cost": money(cost) if np.isfinite(cost) else "—", "capital": "—", "per": "—", "verdict": "reference", "dv": 0.0, "se": np.nan})
            continue
        rows.append(
            {
                "policy": p,
                "delta": f"{'+' if dv > 0 else ''}{money(dv)}",
                "delta_iv": f"{money(dv - 1.96 * ds_)} – {money(dv + 1.96 * ds_)}" if np.isfinite(ds_) else TOO_FEW,
                "es": (f"{'+' if es > 0 else ''}{money(es)}" + (f" ± {money(1.96 * es_se)}" if np.isfinite(es_se) else "")) if np.isfinite(es) else "—",
                "cost": (money(cost) + (f" ± {money(cost_se)}" if np.isfinite(cost_se) and cost_se > 1e-6 * abs(cost) else "")) if np.isfinite(cost) else "—",
                "capital": money(g("capital_committed_mean", p)) if "capital_committed_mean" in ds else "—",
                "per": (f"{per:,.3g}" + (f" ± {per_se:,.2g}" if np.isfinite(per_se) else "")) if np.isfinite(per) else "—",
                "verdict": "no change" if dv == 0 else "reduces the loss" if signif and dv < 0 else "increases the loss" if signif else "no clear change",
                "dv": dv,
                "se": ds_,
            }
        )
    best = min(rows[1:], key=lambda r: r["dv"], default=None)
    finding = None
    if best is not None and np.isfinite(best["dv"]):
        finding = (
            f"Of the {len(pols) - 1} polic{'ies' if len(pols) > 2 else 'y'} compared with {pols[0]}, {best['policy']} changes the expected world value-added loss most: "
            f"{best['delta']} {unit} (95 % paired interval {best['delta_iv']}; {best['verdict']}) at an expected cost of {best['cost']} {unit}."
        )
    return {"rows": rows, "reference": pols[0], "finding": finding, "policies": pols, "d": d, "se": se}


def _provenance(ds: xr.Dataset, source: Path) -> list[tuple[str, str]]:
    keys = [
        ("scenario", "scenario"),
        ("title", "title"),
        ("seed", "random seed (sampler.seed)"),
        ("n_paths", "paths simulated"),
        ("n_paths_requested", "paths requested"),
        ("partial", "partial result (1: stopped early)"),
        ("chunks_finished", "chunks finished"),
        ("n_chunks", "chunks"),
        ("chunks_resumed", "chunks taken from the store on resume"),
        ("n_paths_counted", "paths counted"),
        ("crashed_paths", "paths crashed"),
        ("horizon_days", "horizon, days"),
        ("money_unit", "money unit"),
        ("world", "world"),
        ("posterior", "parameters from"),
        ("precision", "floating-point precision"),
        ("policies", "policies"),
        ("overrides", "overrides"),
        ("device", "device"),
        ("device_count", "devices"),
        ("devices", "devices used"),
        ("workers", "worker processes"),
        ("cluster", "cluster"),
        ("stress_version", "stress version"),
        ("git_commit", "git commit"),
        ("jax_version", "JAX version"),
        ("jaxlib_version", "jaxlib version"),
        ("python_version", "Python version"),
        ("host", "host"),
        ("wall_time_s", "wall time, s"),
        ("created", "results written"),
    ]
    def show(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)

    rows = [(label, show(_attr(ds, k))) for k, label in keys if k in ds.attrs]
    rows.append(("results file", str(source.resolve())))
    rows.append(("report written", time.strftime("%Y-%m-%dT%H:%M:%S%z")))
    return rows


# ----------------------------------------------------------------------------- figures


def _figures(ds: xr.Dataset, unit: str, halts: dict | None, drivers: dict | None, policy: dict | None) -> dict[str, Any]:
    from stress.report import figures as F

    out: dict[str, Any] = {}
    qs = [float(q) for q in ds["quantile"].values]
    what = "world value-added loss"
    var_pts = {
        q: (
            _f(ds["world_value_added_loss_quantile"].sel(quantile=q)),
            _f(ds["world_value_added_loss_quantile_lower"].sel(quantile=q)) if "world_value_added_loss_quantile_lower" in ds else np.nan,
            _f(ds["world_value_added_loss_quantile_upper"].sel(quantile=q)) if "world_value_added_loss_quantile_upper" in ds else np.nan,
        )
        for q in qs
    }
    sketch = None
    if "loss_sketch" in ds and "measure" in ds.coords and "bucket_value" in ds.coords:
        measures = [str(m) for m in ds["measure"].values]
        if "value_added_loss/WORLD" in measures:
            sketch = ds["loss_sketch"].sel(measure="value_added_loss/WORLD")
    freq = _f(ds.attrs.get("frequency_per_year", np.nan))
    if sketch is not None:
        counts, values = np.asarray(sketch.values, float), np.asarray(ds["bucket_value"].values, float)
        out["distribution"] = F.loss_distribution(counts, values, unit, {q: v[0] for q, v in var_pts.items()}, what)
        out["exceedance"] = F.exceedance(counts, values, unit, var_pts, what, freq)
    else:
        out["exceedance"] = F.exceedance(None, None, unit, var_pts, what, freq)
    if "value_added_loss_mean" in ds:
        va = ds["value_added_loss_mean"].transpose("region", "sector")
        out["heatmap"] = F.heatmap(va.values, [str(r) for r in va["region"].values], [str(s) for s in va["sector"].values], unit, "Expected value-added loss by region and sector")
    if "production_fan" in ds and "output_loss_share_mean" in ds:
        top = _industries(ds["output_loss_share_mean"], FAN_PANELS)
        fan = ds["production_fan"]
        panels = [
            {
                "label": f"{industry(r, s)} (expected loss {pct(_f(ds['output_loss_share_mean'].sel(region=r, sector=s)), 1)})",
                "fan": fan.sel(region=r, sector=s).transpose("fan_quantile", "model_week").values,
                "mean": ds["production_mean"].sel(region=r, sector=s).values if "production_mean" in ds else None,
            }
            for r, s in top
        ]
        if panels:
            out["fan"] = F.fan_chart(np.asarray(ds["model_week"].values, float), panels, [float(x) for x in ds["fan_quantile"].values])
    if halts and "halt_probability" in ds:
        curves = [(industry(r, s), ds["halt_probability"].sel(region=r, sector=s).values) for r, s in halts["top"][:6]]
        ttr = None
        if "time_to_recover_distribution" in ds:
            ttr = [(industry(r, s), ds["time_to_recover_distribution"].sel(region=r, sector=s).values) for r, s in halts["top"][:6]]
        out["halts"] = F.halt_curves(np.asarray(ds["week"].values, float), curves, ttr)
    if drivers:
        out["tornado"] = F.tornado(drivers["labels"], drivers["shift"], drivers["err"], drivers["s1"], drivers["s1c"], drivers["q"], drivers["scaled"])
    if _has(ds, "convergence_mean", "convergence_se") and "checkpoint" in ds.coords:
        h = "value_added_loss/WORLD"
        if "headline" in ds.coords and h in [str(x) for x in ds["headline"].values]:
            cm, cs = ds["convergence_mean"].sel(headline=h), ds["convergence_se"].sel(headline=h)
            cq = lo = hi = None
            q = None
            if "convergence_quantile" in ds:
                q = tail_level([float(x) for x in ds["convergence_quantile"]["quantile"].values])
                cq = ds["convergence_quantile"].sel(headline=h, quantile=q).values
                lo = ds["convergence_quantile_lower"].sel(headline=h, quantile=q).values if "convergence_quantile_lower" in ds else np.full(cq.shape, np.nan)
                hi = ds["convergence_quantile_upper"].sel(headline=h, quantile=q).values if "convergence_quantile_upper" in ds else np.full(cq.shape, np.nan)
            out["convergence"] = F.convergence(ds["checkpoint"].values, cm.values, cs.values, cq, lo, hi, q, unit)
    if policy:
        out["policy"] = F.policy_chart(policy["policies"], policy["d"].values, policy["se"].values, unit, policy["reference"])
    return out


# ----------------------------------------------------------------------------- the page


def build_context(full: xr.Dataset, source: Path) -> dict[str, Any]:
    """Everything the template shows, from the Dataset alone."""
    policy = _policy(full, full.attrs.get("money_unit", "")) if "policy" in full.dims else None
    ds = full.isel(policy=0) if "policy" in full.dims else full
    unit = str(_attr(full, "money_unit", "")) or str(ds["world_value_added_loss_mean"].attrs.get("units", "")) or "money units"
    cfg_text = _config_yaml(full)
    cfg = _parse_config(cfg_text)
    sc = cfg.get("scenario") or {}
    horizon = _attr(full, "horizon_days", "")
    n_paths = _attr(full, "n_paths", "")
    counted = _attr(full, "n_paths_counted", "")
    if counted == "" and "run_n_paths_counted" in full:
        counted = int(full["run_n_paths_counted"].values[0])
    crashed = _attr(full, "crashed_paths", "")
    if crashed == "" and "crashed_paths" in ds:
        crashed = int(_f(ds["crashed_paths"]))
    halts = _halts(ds)
    drivers = _drivers(ds)
    figs = _figures(ds, unit, halts, drivers, policy)
    present = {
        "summary": True,
        "assumptions": True,
        "distribution": "distribution" in figs,
        "regions": "heatmap" in figs or "region_value_added_loss_mean" in ds,
        "production": "fan" in figs,
        "halts": halts is not None,
        "drivers": drivers is not None,
        "convergence": "convergence" in figs,
        "policy": policy is not None,
        "provenance": True,
    }
    missing = {
        "distribution": "loss_sketch (the distribution of the loss across paths); the exceedance chart shows only the measured VaR levels",
        "production": "production_fan (weekly production quantiles)",
        "halts": "halt_probability",
        "drivers": "driver_mean and driver_tail_mean (the sampled drivers and their tail means)",
        "convergence": "convergence_mean and convergence_se (the estimates at checkpoints)",
        "policy": "a policy dimension (run python -m stress compare policies=[none,...] for a comparison)",
        "regions": "region_value_added_loss_mean and value_added_loss_mean",
    }
    reference = str(full["policy"].values[0]) if "policy" in full.dims else None
    return {
        "title": f"Risk report: {sc.get('name') or _attr(full, 'scenario', 'stress run')}",
        "scenario": sc.get("name") or _attr(full, "scenario", ""),
        "description": sc.get("description") or "",
        "unit": unit,
        "horizon": horizon,
        "n_paths": f"{int(n_paths):,}" if str(n_paths).isdigit() else str(n_paths),
        "counted": f"{int(counted):,}" if str(counted).isdigit() else str(counted),
        "crashed": f"{int(crashed):,}" if str(crashed).isdigit() else str(crashed),
        "reference": reference,
        "is_compare": reference is not None,
        "headline": _headline(ds, unit),
        "findings": _findings(ds, unit, horizon) + ([policy["finding"]] if policy and policy["finding"] else []),
        "warnings": _warnings(ds),
        "assumptions": _assumptions(ds, cfg, cfg_text),
        "regions": _regions_table(ds, unit),
        "halts": halts,
        "drivers": drivers,
        "policy": policy,
        "figs": figs,
        "sections": [(sid, head) for sid, head in SECTIONS],
        "present": present,
        "missing": missing,
        "provenance": _provenance(full, source),
        "halt_week": MAIN_HALT_WEEK,
        "frequency": f"{_f(full.attrs['frequency_per_year']):g}" if np.isfinite(_f(full.attrs.get("frequency_per_year", np.nan))) else "",
        "fan_panels": FAN_PANELS,
    }


def render(context: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("stress.report", "templates"), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context)


def write_atomic_text(text: str, path: Path) -> Path:
    """Write ``text`` under a temporary name in the same folder, then rename."""
    from stress.files import replace_atomic

    path = Path(path)
    return replace_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), field="--output", value=str(path), allowed="a file in a writable folder")


def write_report(path_in: str | os.PathLike, path_out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of ``path_in`` (a run folder, results.nc or compare.nc) to
    ``path_out`` (default: ``report.html`` next to the results file); returns its path."""
    source = find_input(path_in)
    out = Path(path_out) if path_out is not None else source.parent / "report.html"
    if out.exists() and out.is_dir():
        raise InputError("--output", str(out), "a file name (this is a folder)")
    ds = load(source)
    html = render(build_context(ds, source))
    return write_atomic_text(html, out)


def main(args: list[str]) -> None:
    """``python -m stress report RUN_DIR [--output FILE]``: bad input -> one line, exit 2."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m stress report", description="Write one self-contained HTML risk report from a run folder.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="folder holding results.nc (from run) or compare.nc (from compare), or the file itself")
    parser.add_argument("--output", "-o", metavar="FILE", default=None, help="where to write the report (default RUN_DIR/report.html)")

    def fail(message: str):
        raise InputError("arguments", " ".join(args), f"python -m stress report RUN_DIR [--output FILE] ({message})")

    parser.error = fail  # type: ignore[method-assign]
    try:
        ns = parser.parse_args(args)
        path = write_report(ns.run_dir, ns.output)
    except InputError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {path.resolve()}")
