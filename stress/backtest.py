"""Backtest: replay the April 2025 controls and place what happened in the predictive distribution.

``python -m stress backtest`` runs the ``april_2025_controls`` scenario (licensing of separated
rare earths and magnets to every destination from 2025-04-04, no full cut-off phase) with each
path's parameters drawn from the posterior, and compares observables the model produces with
the sourced observations of ``shared/data/episodes_2025_2026.md`` and ``ree_facts.md``:

==============================  =============================================  ======================
observable                      model quantity                                 observed
==============================  =============================================  ======================
exports, May 2025               China's deliveries of the controlled products  0.26 (-74 % y/y, C3)
                                to other regions, as a share of undisturbed
US exports, May 2025            the same, to the USA                           0.067 (-93 %, C4)
exports, July 2025              as May                                         1.057 (+5.7 %, C3)
US exports, July 2025           as May, to the USA                             1.048 (+4.8 %, C4)
first assembly halt, days       first day automotive output in the USA, JPN    46-52 (Ford, Suzuki;
                                or EU is cut >= 1 % by missing inputs          episodes A2)
EU licences approved, day 61    share of EU applications approved: the         ~0.25 (CLEPA, A3)
                                licence model's posterior predictive (counts
                                of applications; the engine's slots are
                                volume); without a posterior, the engine's
                                EU application slots reopened
EU licences approved, day 90    as above                                       ~0.60 (CLEPA, A3)
auto output lost, year          automotive lost output / baseline, 365 days,   < 0.001 (no visible
(JPN, EU, USA)                  per region                                     loss: OICA, A5)
==============================  =============================================  ======================

Each observable gets its predictive 5/50/95 % quantiles, the percentile of the observed value
(the share of paths at or below it; for an interval, the overlap with the band counts), and
pass/fail against the 90 % band. An observation that a calibration model was fitted to is
reported but does not count: only held-out observations count (``held_out``); the summary
prints the in-sample results separately, so a failure there is not hidden.

The undisturbed deliveries stand in for 2024's: the model has no trend, so a ratio to its
baseline is read as a year-on-year ratio. The model's controlled flows are separated rare earths
and magnets together (the customs data are magnets only).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stress.config import Config
from stress.errors import InputError


@dataclass(frozen=True)
class Observation:
    """One sourced fact to backtest."""

    name: str
    low: float
    high: float
    unit: str
    source: str
    fitted_by: str | None  # the calibration model that used it, or None (held out)


OBSERVATIONS = (
    Observation(
        "exports_may_2025",
        0.26,
        0.26,
        "ratio to 2024",
        "China's magnet exports May 2025, -74 % y/y (Reuters via daily8.com 2025-06-20; ree_facts C3)",
        "export_shock",
    ),
    Observation(
        "exports_usa_may_2025",
        0.067,
        0.067,
        "ratio to 2024",
        "to the US May 2025, -93.3 % y/y (SCMP via ground.news; ree_facts C4)",
        "export_shock",
    ),
    Observation(
        "exports_jul_2025",
        1.057,
        1.057,
        "ratio to 2024",
        "China's magnet exports Jul 2025, +5.7 % y/y (Reuters via kitco.com 2025-08-20; ree_facts C3)",
        None,
    ),
    Observation(
        "exports_usa_jul_2025",
        1.048,
        1.048,
        "ratio to 2024",
        "to the US Jul 2025: 619 t, +4.8 % y/y (Reuters via kitco.com; ree_facts C4)",
        None,
    ),
    Observation(
        "first_assembly_halt_days",
        46.0,
        52.0,
        "days",
        "Ford Chicago (late May) and Suzuki Sagara (26 May 2025): 46-52 days after 4 April (episodes A2)",
        "inventory",
    ),
    Observation(
        "eu_licences_approved_day61",
        0.25,
        0.25,
        "share",
        "CLEPA 4 Jun 2025: about a quarter of hundreds of applications granted (ree_facts C1; episodes A3)",
        None,
    ),
    Observation(
        "eu_licences_approved_day90",
        0.60,
        0.60,
        "share",
        "CLEPA late Jun-Jul 2025: approval rate up to about 60 % (episodes A3)",
        None,
    ),
    Observation(
        "auto_output_loss_JPN",
        0.0,
        0.001,
        "share of a year's output",
        "Japan's vehicle output Jan-Sep 2025 +4 % (OICA via unn.ua; episodes A5); documented halts < 0.1 % (A2)",
        None,
    ),
    Observation(
        "auto_output_loss_EU",
        0.0,
        0.001,
        "share of a year's output",
        "Germany +2 % Jan-Sep 2025 (OICA); Europe -2.6 % H1 attributed to CO2 targets, energy, tariffs (ACEA; episodes A5)",
        None,
    ),
    Observation(
        "auto_output_loss_USA",
        0.0,
        0.001,
        "share of a year's output",
        "US -4 % Jan-Sep 2025 coincides with tariffs; the REE halts documented are < 0.1 % of output (episodes A2, A5)",
        None,
    ),
)


def predictive(values: np.ndarray, obs: Observation) -> dict[str, Any]:
    """Quantiles, percentile and pass/fail of one observation against per-path predictions."""
    v = np.asarray(values, float)
    # order statistics (no interpolation), so a path with no event (inf) stays inf
    q05, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95], method="inverted_cdf")
    mid = 0.5 * (obs.low + obs.high)
    percentile = float(np.mean(v <= mid))
    passed = bool(obs.high >= q05 and obs.low <= q95)
    return {"q05": q05, "q50": q50, "q95": q95, "percentile": percentile, "passed": passed}


def run(cfg: Config, run_dir: Path, config_yaml: str = "") -> Path:
    """Replay the April 2025 controls; write ``backtest.nc`` and print the comparison."""
    import jax
    import jax.random as jr

    from stress import pipeline
    from stress.results.dataset import netcdf_attr, write_atomic
    from stress.sampler import sample_path

    if cfg.scenario is None or cfg.scenario.name != "april_2025_controls":
        raise InputError("scenario", None if cfg.scenario is None else cfg.scenario.name, "april_2025_controls (set by the backtest)")
    if cfg.model.horizon_days < 365:
        raise InputError("model.horizon_days", cfg.model.horizon_days, "at least 365 for the backtest (it compares a year of car output)")
    pipeline.check_writable(run_dir)
    t0 = time.perf_counter()
    prep = pipeline.prepare(cfg)
    if prep.posterior is None:
        print("note: calibration.posterior=none: the backtest uses the scenario's hand-set priors; every observation is held out")
    mrio = prep.mrio
    metrics = pipeline.make_metrics(cfg, prep, retain_paths=True)
    s = cfg.sampler
    _, key_paths = pipeline.keys(s.seed)
    horizon = cfg.model.horizon_days
    print(f"stress backtest: April 2025 controls, {s.n_paths} paths, {horizon} days, posterior={pipeline.posterior_label(cfg, prep)}")
    res = pipeline.run_engine(cfg, prep, metrics)
    crashed = res.scalars[:, metrics.scalar_names(list(mrio.regions)).index("crashed")] > 0
    if crashed.all():
        raise InputError("sampler.n_paths", s.n_paths, "a run in which some path did not crash")
    keep = ~crashed
    regions = list(mrio.regions)
    months = pipeline.month_labels(cfg.scenario.start_date, res.flow_base.shape[0])
    flows = res.flows[keep]  # (N, M, R) ratios
    base = res.flow_base  # (M, R)
    exporters = [k for k, r in enumerate(regions) if r != cfg.scenario.exporter]

    def export_ratio(month: str, dest: list[int]) -> np.ndarray:
        if month not in months:
            raise InputError("model.horizon_days", horizon, f"a horizon that reaches {month}")
        m = months.index(month)
        return (flows[:, m, dest] * base[m, dest]).sum(axis=1) / base[m, dest].sum()

    first = res.first_constrained[keep]  # (N, n)
    autos = [mrio.index(r, "automotive") for r in ("USA", "JPN", "EU")]
    first_halt = first[:, autos].min(axis=1).astype(float)  # the first assembly halt in the USA, Japan or the EU
    first_halt[first_halt >= horizon] = np.inf

    # Licence approvals: the share of EU application slots reopened by day t, per path.
    ids = np.flatnonzero(keep)
    resume = np.asarray(
        jax.device_get(jax.vmap(lambda i: sample_path(jr.fold_in(key_paths, i), prep.spec).resume_day)(jax.numpy.asarray(ids)))
    )
    eu = regions.index("EU")
    post = prep.posterior

    def approved(day: float) -> np.ndarray:
        if post is None:  # hand-set priors: the engine's application slots
            return (resume[:, eu, :] <= day).mean(axis=1)
        return licence_share_predictive(post, "EU", day, s.seed)

    loss = res.loss_share[keep]

    def auto_loss(region: str) -> np.ndarray:
        return loss[:, mrio.index(region, "automotive")]

    preds = {
        "exports_may_2025": export_ratio("2025-05", exporters),
        "exports_usa_may_2025": export_ratio("2025-05", [regions.index("USA")]),
        "exports_jul_2025": export_ratio("2025-07", exporters),
        "exports_usa_jul_2025": export_ratio("2025-07", [regions.index("USA")]),
        "first_assembly_halt_days": first_halt,
        "eu_licences_approved_day61": approved(61.0),
        "eu_licences_approved_day90": approved(90.0),
        "auto_output_loss_JPN": auto_loss("JPN"),
        "auto_output_loss_EU": auto_loss("EU"),
        "auto_output_loss_USA": auto_loss("USA"),
    }
    fitted_models = set(prep.posterior.attrs.get("models", [])) if prep.posterior is not None else set()
    # An observation counts as fitted only if the posterior in use came from the model that used it.
    observations = [o if o.fitted_by in fitted_models else dataclasses.replace(o, fitted_by=None) for o in OBSERVATIONS]
    rows = [(obs, predictive(preds[obs.name], obs)) for obs in observations]
    ds = to_dataset(rows, res, months, regions)
    ds.attrs.update(
        {
            **{k: netcdf_attr(v) for k, v in prep.provenance.items()},
            "title": "stress backtest: the April 2025 controls",
            "scenario": cfg.scenario.name,
            "posterior": pipeline.posterior_label(cfg, prep),
            "n_paths": s.n_paths,
            "crashed_paths": int(crashed.sum()),
            "seed": s.seed,
            "horizon_days": horizon,
            "wall_time_s": round(time.perf_counter() - t0, 3),
            "config": config_yaml,
            "Conventions": "CF-1.10",
        }
    )
    path = write_atomic(ds, Path(run_dir) / "backtest.nc")
    print_table(rows)
    held = [r for o, r in rows if o.fitted_by is None]
    fitted = [r for o, r in rows if o.fitted_by is not None]
    print(f"held-out observations inside the 90 % band: {sum(r['passed'] for r in held)} of {len(held)}")
    if fitted:
        print(f"in-sample (fitted) observations inside the 90 % band: {sum(r['passed'] for r in fitted)} of {len(fitted)} (not counted)")
    if crashed.any():
        print(f"WARNING: {int(crashed.sum())} crashed paths left out")
    print(f"wall time {time.perf_counter() - t0:.1f} s ({res.run_seconds:.1f} s in the engine)")
    print(f"backtest: {path.resolve()}")
    return path


def licence_share_predictive(post: Any, destination: str, day: float, seed: int) -> np.ndarray:
    """Posterior predictive of the share of a destination's applications approved by ``day``,
    from the licence model (counts of applications; the engine's slots are volume): per draw,
    ``F = 1 - (1 - p) ** (max(0, day - review) / 7)``, observed with the model's Beta-Binomial
    overdispersion ``licence_kappa`` when the posterior has it."""
    k = list(post.labels["destination"]).index(destination)
    p = post.values["licence_weekly_p"][:, k]
    review = post.values["licence_review_days"]
    F = -np.expm1(np.maximum(day - review, 0.0) / 7.0 * np.log1p(-np.clip(p, 0, 1 - 1e-12)))
    kappa = post.values.get("licence_kappa")
    if kappa is None:
        return F
    rng = np.random.default_rng(seed)
    F = np.clip(F, 1e-9, 1 - 1e-9)
    return rng.beta(F * kappa, (1 - F) * kappa)


def to_dataset(rows: list[tuple[Observation, dict[str, Any]]], res: Any, months: list[str], regions: list[str]) -> xr.Dataset:
    """The comparison as a Dataset (dimension ``observable``) plus the monthly flow ratios."""
    names = [o.name for o, _ in rows]
    get = lambda k: np.array([r[k] for _, r in rows], float)  # noqa: E731
    keep = res.scalars[:, 2 * len(regions) + 3] == 0  # the "crashed" column of Metrics.scalar_names
    flows = res.flows[keep]
    data = {
        "observed_low": ("observable", [o.low for o, _ in rows], {"long_name": "observed value (lower end)"}),
        "observed_high": ("observable", [o.high for o, _ in rows], {"long_name": "observed value (upper end)"}),
        "predictive_q05": ("observable", get("q05"), {"long_name": "5 % quantile of the model's predictive distribution"}),
        "predictive_q50": ("observable", get("q50"), {"long_name": "median of the model's predictive distribution"}),
        "predictive_q95": ("observable", get("q95"), {"long_name": "95 % quantile of the model's predictive distribution"}),
        "percentile": ("observable", get("percentile"), {"long_name": "share of paths at or below the observed value (its midpoint)"}),
        "passed": ("observable", get("passed").astype(np.int8), {"long_name": "1 if the observation lies in the 90 % predictive band"}),
        "held_out": (
            "observable",
            np.array([o.fitted_by is None for o, _ in rows], np.int8),
            {"long_name": "1 if no calibration model was fitted to this observation (only these count)"},
        ),
        "fitted_by": ("observable", np.array([o.fitted_by or "" for o, _ in rows], dtype=object)),
        "unit": ("observable", np.array([o.unit for o, _ in rows], dtype=object)),
        "source": ("observable", np.array([o.source for o, _ in rows], dtype=object)),
        "controlled_flow_ratio_q05": (("month", "region"), np.quantile(flows, 0.05, axis=0), {"units": "1"}),
        "controlled_flow_ratio_q50": (("month", "region"), np.quantile(flows, 0.5, axis=0), {"units": "1"}),
        "controlled_flow_ratio_q95": (("month", "region"), np.quantile(flows, 0.95, axis=0), {"units": "1"}),
    }
    return xr.Dataset(data, coords={"observable": names, "month": months, "region": regions})


def print_table(rows: list[tuple[Observation, dict[str, Any]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="Backtest: the April 2025 controls in the model's predictive distribution")
    for col in ("observable", "observed", "q5", "median", "q95", "percentile", "90 % band", "counts"):
        t.add_column(col, justify="left" if col == "observable" else "right")
    for o, r in rows:
        obs = f"{o.low:g}" if o.low == o.high else f"{o.low:g}-{o.high:g}"
        t.add_row(
            o.name,
            obs,
            f"{r['q05']:.3g}",
            f"{r['q50']:.3g}",
            f"{r['q95']:.3g}",
            f"{r['percentile']:.0%}",
            "pass" if r["passed"] else "FAIL",
            "held out" if o.fitted_by is None else f"fitted ({o.fitted_by})",
        )
    Console(width=max(Console().width, 130)).print(t)
