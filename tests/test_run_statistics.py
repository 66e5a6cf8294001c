"""Run statistics against brute force: halts, monthly flows, amplification, crashed paths, and
posterior draws moving results the expected way."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from stress.config import CalibrationConfig, Config, CutoffConfig, LicenceConfig, ModelConfig, SamplerConfig, ScenarioConfig, WorldConfig
from stress.pipeline import directly_hit, keys, make_metrics, prepare, run_engine
from stress.results.dataset import tail_stats, to_dataset
from stress.sampler import sample_path_params

HORIZON = 130


def april_config(horizon=HORIZON, **scenario) -> Config:
    sc = ScenarioConfig(
        name="april_2025_controls",
        kind="export_cutoff",
        exporter="CHN",
        products=["ree_separation", "magnets"],
        start_date="2025-04-04",
        controlled_share=0.9,
        cutoff=CutoffConfig(median_days=0.0, sigma=0.0),
        licence=LicenceConfig(approval_a=2.0, approval_b=8.0, applications=4, review_days=30.0),
    )
    sc = dataclasses.replace(sc, **scenario)
    return Config(world=WorldConfig("ree_world"), model=ModelConfig(horizon_days=horizon), scenario=sc, calibration=CalibrationConfig("none"))


def run(cfg, n_paths=8, chunk=8, retain=True, prep=None):
    prep = prep or prepare(cfg)
    metrics = make_metrics(cfg, prep, retain_paths=retain)
    cfg = dataclasses.replace(cfg, sampler=SamplerConfig(n_paths=n_paths, chunk_size=chunk, seed=0))
    key = keys(0)[1]
    res = run_engine(cfg, prep, metrics)
    return prep, metrics, key, res


def trajectory(prep, key, i, horizon):
    dis, pp = sample_path_params(jr.fold_in(key, i), prep.spec, prep.tables, prep.params)
    tab, par = prep.tables._replace(s=pp.s), prep.params._replace(psi=pp.psi)
    rec = jax.jit(prep.model.simulate, static_argnums=3)(tab, par, dis, horizon)
    return jax.device_get(rec), dis


@pytest.fixture(scope="module")
def april():
    cfg = april_config()
    return (cfg, *run(cfg))


def test_first_halt_and_monthly_flows_match_the_trajectories(april):
    """For each path, rebuild from its full daily trajectory (a) the first day output is cut by
    more than 1 % by missing inputs, (b) the restricted industries' deliveries by calendar month
    and buyer region, computed from the realised production and the orders; compare with what
    the engine reduced on the fly."""
    cfg, prep, metrics, key, res = april
    m = prep.mrio
    R, n = len(m.regions), m.n
    months = np.asarray(metrics.months(HORIZON))
    assert months[26] == 0 and months[27] == 1  # 2025-04-30 is day 26; May starts on day 27
    mask = np.asarray(prep.spec.export_mask)
    for i in range(4):
        rec, dis = trajectory(prep, key, i, HORIZON)
        cut = rec.input_ratio < 0.99
        first = np.where(cut.any(axis=0), cut.argmax(axis=0), HORIZON)
        np.testing.assert_array_equal(res.first_constrained[i], first)
        # every unit produced is delivered to some client (proportional rationing), so summed
        # over buyer regions the restricted industries' deliveries are their production
        produced = np.zeros(months.max() + 1)
        np.add.at(produced, months, rec.production @ mask)
        np.testing.assert_allclose((res.flows[i] * res.flow_base).sum(axis=1), produced, rtol=1e-10)
        by_month = np.zeros((months.max() + 1, R))
        np.add.at(by_month, months, np.einsum("i,tir->tr", mask, rec.deliveries))
        np.testing.assert_allclose(res.flows[i] * res.flow_base, by_month, rtol=1e-10, atol=1e-12)
        assert (res.flows[i] >= 0).all()
        # the restriction shows where it applies: less to controlled destinations in May
        may = 1
        dest = np.asarray(prep.spec.dest_mask) > 0
        assert res.flows[i][may, dest].max() < 1.0
    # first halts are counted per week in the accumulator exactly as the per-path days say
    weeks = np.where(res.first_constrained >= HORIZON, -(-HORIZON // 7), res.first_constrained // 7)
    for j in range(n):
        np.testing.assert_array_equal(res.acc.constrained_week[j], np.bincount(weeks[:, j], minlength=res.acc.constrained_week.shape[1]))
    assert (res.first_constrained < HORIZON).any()  # some industry halts in this scenario


def test_dataset_statistics_against_brute_force(april):
    """Mean loss share, halt probability within N weeks and amplification from the Dataset equal
    the same numbers computed directly from the retained per-path values."""
    cfg, prep, metrics, key, res = april
    m = prep.mrio
    ds = to_dataset(
        res.acc,
        res.scalars,
        m,
        horizon=HORIZON,
        quantiles=[0.5, 0.9],
        metrics=metrics,
        year_to_day=365.0,
        attrs={},
        flow_base=res.flow_base,
        direct=metrics.direct,
    )
    names = metrics.scalar_names(m.regions)
    world, direct = res.scalars[:, names.index("output_loss/WORLD")], res.scalars[:, names.index("output_loss/DIRECT")]
    np.testing.assert_allclose(float(ds.amplification), world.mean() / direct.mean(), rtol=1e-12)
    np.testing.assert_allclose(direct, res.loss_share[:, list(metrics.direct)] @ (m.x / 365 * HORIZON)[list(metrics.direct)], rtol=1e-9)
    assert float(ds.amplification) >= 1.0  # the world includes the directly hit industries
    # mean loss share: exact up to the 2^-32 fixed point
    np.testing.assert_allclose(ds.output_loss_share_mean.values.ravel(), res.loss_share.mean(axis=0), atol=1e-9)
    week = 8
    want = (res.first_constrained < 7 * week).mean(axis=0)
    np.testing.assert_allclose(ds.halt_probability.sel(week=week).values.ravel(), want, atol=1e-15)
    np.testing.assert_allclose(ds.controlled_flow_ratio_mean.values, res.flows.mean(axis=0), atol=1e-9)
    assert int(ds.crashed_paths) == 0
    # standard errors from exact sums: equal to NumPy's two-pass float64 values (rtol: NumPy's own
    # rounding on a few hundred values), including the industries whose loss hardly varies
    se = res.loss_share.std(axis=0, ddof=1) / np.sqrt(res.loss_share.shape[0])
    np.testing.assert_allclose(ds.output_loss_share_se.values.ravel(), se, rtol=1e-7, atol=1e-300)
    assert ((ds.output_loss_share_se.values.ravel() > 0) == (se > 0)).all()
    # quantiles from the sketch: the sample's own order statistic within the relative accuracy
    a = metrics.sketch.relative_accuracy
    for k, qk in enumerate([0.5, 0.9]):
        want = np.quantile(res.loss_share, qk, axis=0, method="inverted_cdf")
        got = ds.output_loss_share_quantile.sel(quantile=qk).values.ravel()
        tiny = metrics.sketch.tiny
        assert np.all(np.abs(got - want) <= a * np.abs(want) + tiny), k
    # world losses: mean and SE exact, VaR / ES / bounds as tail_stats on the raw values within a
    st = tail_stats(world[:, None], np.array([0.5, 0.9]))
    np.testing.assert_allclose(float(ds.world_output_loss_mean), st["mean"][0], rtol=1e-12)
    np.testing.assert_allclose(float(ds.world_output_loss_se), st["se"][0], rtol=1e-9)
    for key in ("quantile", "lower", "upper", "es"):
        name = {"quantile": "quantile", "lower": "quantile_lower", "upper": "quantile_upper", "es": "expected_shortfall"}[key]
        np.testing.assert_allclose(ds[f"world_output_loss_{name}"].values, st[key][:, 0], rtol=a, equal_nan=True)


def test_directly_hit_industries(april):
    """The restricted suppliers and the buyers that need their products are directly hit;
    services (which buy no magnets or oxides it needs) are not."""
    cfg, prep, metrics, key, res = april
    m = prep.mrio
    hit = {(m.regions[i // 12], m.sectors[i % 12]) for i in directly_hit(prep)}
    assert ("CHN", "magnets") in hit and ("EU", "automotive") in hit and ("JPN", "magnets") in hit
    assert not any(s == "services" for _, s in hit)
    assert ("USA", "semiconductors") not in hit


def test_crashed_paths_are_counted_and_left_out():
    """With psi s < 1 the use of an input can exceed its stock (ARIO.md §7): paths crash. The
    run must count them, keep them out of every statistic, and say so."""
    from stress.config import validate
    from stress.errors import InputError

    cfg = april_config(horizon=60)
    with pytest.raises(InputError, match="psi x inventory_days >= 1"):  # the config refuses it ...
        validate(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, psi=0.1, inventory_days=2.0)))
    prep = prepare(cfg)
    # ... so set it on the prepared arrays: every input 2 days, psi 0.1
    prep = dataclasses.replace(prep, tables=prep.tables._replace(s=jnp.full_like(prep.tables.s, 2.0)), params=prep.params._replace(psi=jnp.asarray(0.1)))
    _, metrics, key, res = run(cfg, n_paths=8, prep=prep)
    crashed = res.scalars[:, metrics.scalar_names(prep.mrio.regions).index("crashed")] > 0
    assert crashed.any() and int(res.acc.crashed) == crashed.sum()
    assert int(res.acc.count) == (~crashed).sum()
    if (~crashed).any():
        ds = to_dataset(res.acc, res.scalars, prep.mrio, horizon=60, quantiles=[0.5], metrics=metrics, year_to_day=365.0, attrs={})
        assert int(ds.crashed_paths) == crashed.sum()
        names = metrics.scalar_names(prep.mrio.regions)
        np.testing.assert_allclose(float(ds.world_output_loss_mean), res.scalars[~crashed, names.index("output_loss/WORLD")].mean())


def fake_posterior(S=64, cover=70.0, p=0.2, review=40.0, psi=0.4, share=0.9, seed=0):
    rng = np.random.default_rng(seed)
    dest = ["USA", "EU", "JPN", "KOR", "ALLY", "ROW"]
    v = {
        "licence_weekly_p": np.full((S, 6), p),
        "licence_review_days": np.full(S, review),
        "cutoff_median_days": rng.lognormal(np.log(50), 0.1, S),
        "cutoff_sigma": np.full(S, 0.3),
        "inventory_cover_days": np.full((S, 7), cover),
        "psi": np.full(S, psi),
        "export_controlled_share": np.full(S, share),
        "export_controlled_share_usa": np.full(S, share),
        "export_weekly_p": np.full(S, p),
        "export_delay_days": np.full(S, review),
    }
    return SimpleNamespace(values=v, labels={"destination": dest, "region": ["CHN", *dest]}, attrs={})


def mean_world_loss(cfg, posterior):
    from stress import pipeline

    real = pipeline.load_posterior
    pipeline.load_posterior = lambda c: posterior
    try:
        prep = prepare(dataclasses.replace(cfg, calibration=CalibrationConfig("bundled")))
    finally:
        pipeline.load_posterior = real
    _, metrics, _, res = run(cfg, n_paths=8, retain=False, prep=prep)
    return res.scalars[:, metrics.scalar_names(prep.mrio.regions).index("output_loss/WORLD")].mean(), res, prep


def test_posterior_draws_move_results_the_expected_way():
    """Common random numbers, one parameter changed at a time: more cover, faster approvals or a
    smaller controlled share each lower the expected world loss; the draws' cover and psi reach
    the kernel (the per-path targets equal the draw's values)."""
    cfg = april_config(horizon=150, controlled_share=None)  # null: the posterior's share
    base, res, prep = mean_world_loss(cfg, fake_posterior())
    assert base > 0
    assert mean_world_loss(cfg, fake_posterior(cover=150.0))[0] < base
    assert mean_world_loss(cfg, fake_posterior(p=0.6))[0] < base
    assert mean_world_loss(cfg, fake_posterior(share=0.5))[0] < base
    # a fixed share in the scenario is not replaced by the posterior's
    fixed = dataclasses.replace(cfg, scenario=dataclasses.replace(cfg.scenario, controlled_share=0.9))
    assert mean_world_loss(fixed, fake_posterior(share=0.5))[0] == mean_world_loss(fixed, fake_posterior(share=0.9))[0]
    _, pp = sample_path_params(jr.fold_in(jr.key(0), 0), prep.spec, prep.tables, prep.params)
    mag = prep.mrio.sectors.index("magnets")
    np.testing.assert_allclose(np.asarray(pp.s)[mag], 70.0)
    np.testing.assert_allclose(np.asarray(pp.psi)[mag], 0.4)
    other = prep.mrio.sectors.index("services")
    np.testing.assert_array_equal(np.asarray(pp.s)[other], np.asarray(prep.tables.s)[other])
    assert 0 <= int(pp.draw) < 64


SCENARIOS = sorted(p.stem for p in (__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "scenario").glob("*.yaml"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenarios_have_no_crashed_path(name):
    """Every shipped scenario, as the command line composes it (bundled posterior), over a full
    year: no stock goes negative or NaN on any of 32 paths."""
    from hydra import compose, initialize_config_dir

    from stress import cli

    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        cfg = cli.to_config(compose(config_name="config", overrides=[f"+scenario={name}"]))
    _, _, _, res = run(cfg, n_paths=32, chunk=32, retain=False)
    assert int(res.acc.crashed) == 0 and int(res.acc.count) == 32


def test_weekly_fans_survival_and_supply_recovery_match_the_trajectories(april):
    """Rebuild from each path's daily trajectory its weekly mean production share, the last day
    the restricted supply is more than 1 % short of undisturbed deliveries, and each industry's
    first halt; compare the Dataset's fans, time-to-survive and supply-recovery distributions and
    P(TTS < TTR) with statistics of those per-path values."""
    cfg, prep, metrics, key, res = april
    m = prep.mrio
    R, n, p = len(m.regions), m.n, len(m.sectors)
    N = res.scalars.shape[0]
    X0 = np.asarray(prep.tables.X0)
    weights = np.reshape(metrics.monitored, (n, R))
    Z0, Y0 = np.asarray(prep.tables.Z0), np.asarray(prep.tables.Y0)
    base = (weights * (Z0.reshape(n, R, p).sum(axis=2) + Y0.reshape(n, R, -1).sum(axis=2))).sum()
    Wm = HORIZON // 7 + 1
    week_of = np.arange(HORIZON) // 7
    days = np.bincount(week_of, minlength=Wm)
    weekly = np.empty((N, Wm, n))
    restored = np.empty(N, np.int64)
    for i in range(N):
        rec, _ = trajectory(prep, key, i, HORIZON)
        ratio = np.where(X0 > 0, rec.production / np.where(X0 > 0, X0, 1), 1)
        for w in range(Wm):
            weekly[i, w] = ratio[week_of == w].sum(axis=0) / max(days[w], 1)
        flow = np.einsum("ir,tir->t", weights, rec.deliveries)
        short = np.flatnonzero(flow < (1 - metrics.constraint_threshold) * base)
        restored[i] = short[-1] + 1 if short.size else 0
    ds = to_dataset(res.acc, res.scalars, m, horizon=HORIZON, quantiles=[0.5, 0.9], metrics=metrics, year_to_day=365.0, attrs={}, flow_base=res.flow_base)
    grid = lambda a: np.asarray(a).reshape(*np.shape(a)[:-1], R, p)  # noqa: E731
    # weekly mean production: exact up to the 2^-32 fixed point; fan quantiles within one 0.005 bin
    np.testing.assert_allclose(ds.production_mean.values, grid(weekly.mean(axis=0)), atol=1e-9)
    for k, qk in enumerate(ds.fan_quantile.values):
        want = np.quantile(weekly, qk, axis=0, method="inverted_cdf")
        got = ds.production_fan.isel(fan_quantile=k).values
        assert np.abs(got - grid(want)).max() <= 1.5 / 300 + 1e-12, qk
    # the restricted supply's recovery, by week, and P(first halt before it is restored)
    W = -(-HORIZON // 7)
    short_any = restored > 0
    still = restored >= HORIZON
    want_week = np.bincount(restored[short_any & ~still] // 7, minlength=W)[:W] / N
    np.testing.assert_array_equal(ds.supply_recovery_distribution.values, want_week)
    assert float(ds.supply_not_restored_probability) == still.mean()
    first = res.first_constrained
    before = (first < HORIZON) & (first < restored[:, None])
    np.testing.assert_array_equal(ds.tts_before_ttr_probability.values, grid(before.mean(axis=0)))
    # time to survive: the week of the first halt; within 4 / 8 / 13 weeks
    tts = np.stack([np.bincount(np.where(first[:, j] < HORIZON, first[:, j] // 7, W), minlength=W + 1)[:W] for j in range(n)], axis=1) / N
    np.testing.assert_array_equal(ds.time_to_survive_distribution.values, grid(tts))
    for w in ds.halt_weeks.values:
        np.testing.assert_array_equal(ds.halt_probability_within.sel(halt_weeks=w).values, grid((first < 7 * w).mean(axis=0)))
    # convergence: one checkpoint (8 paths), equal to the headline
    assert list(ds.checkpoint.values) == [N]
    assert float(ds.convergence_mean.sel(headline="value_added_loss/WORLD", checkpoint=N)) == float(ds.world_value_added_loss_mean)
    assert (restored > 0).any() and before.any()  # the scenario really restricts supply and industries halt first


def test_convergence_checkpoints_and_chunking():
    """130 paths in chunks of 48 and of 136: identical Datasets (integer accumulators); the
    convergence estimates at 64 and 128 paths equal the statistics of the first 64 and 128
    paths' world value-added losses (mean and SE exactly, VaR within the sketch's accuracy)."""
    cfg = april_config(horizon=60)
    prep, metrics, _, a = run(cfg, n_paths=130, chunk=48)
    _, _, _, b = run(cfg, n_paths=130, chunk=136, prep=prep)
    make = lambda r: to_dataset(r.acc, r.scalars, prep.mrio, horizon=60, quantiles=[0.5, 0.9], metrics=metrics, year_to_day=365.0, attrs={}, drivers=r.drivers)  # noqa: E731
    da, db = make(a), make(b)
    xr_testing = pytest.importorskip("xarray.testing")
    xr_testing.assert_identical(da, db)
    assert list(da.checkpoint.values) == [64, 128, 130]
    world = a.scalars[:, metrics.scalar_names(prep.mrio.regions).index("value_added_loss/WORLD")]
    for c in (64, 128, 130):
        x = world[:c]
        sel = dict(checkpoint=c, headline="value_added_loss/WORLD")
        np.testing.assert_allclose(float(da.convergence_mean.sel(**sel)), x.mean(), rtol=1e-12)
        np.testing.assert_allclose(float(da.convergence_se.sel(**sel)), x.std(ddof=1) / np.sqrt(c), rtol=1e-9)
        assert x.std() > 1e-6 * x.mean()  # the paths really differ
        want = np.quantile(x, 0.9, method="inverted_cdf")
        assert abs(float(da.convergence_quantile.sel(quantile=0.9, **sel)) - want) <= metrics.sketch.relative_accuracy * abs(want)
        assert int(da.convergence_paths_counted.sel(checkpoint=c)) == c
    # drivers: retained for every path here; the tail: ranks ceil(0.9 N) .. N of the sample
    assert a.drivers.shape == (130, len(da.driver)) and np.isfinite(a.drivers).all()
    tail = world >= np.sort(world)[int(np.ceil(0.9 * 130)) - 1]
    np.testing.assert_allclose(da.driver_tail_mean.sel(quantile=0.9).values, a.drivers[tail].mean(axis=0), rtol=1e-12)
    assert int(da.driver_tail_paths.sel(quantile=0.9)) == tail.sum()
