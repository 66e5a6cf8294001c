"""The shock modules: each one off (or inert) reproduces the model exactly, each one moves results
the expected way on common random numbers, and their draws follow their documented rules."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from stress.config import (
    CalibrationConfig,
    Config,
    DiversionConfig,
    EquipmentConfig,
    HaltsConfig,
    LicensingConfig,
    ModelConfig,
    OutagesConfig,
    PredatoryConfig,
    RegimeConfig,
    SamplerConfig,
    ScenarioConfig,
    ShocksConfig,
    TariffsConfig,
    WorldConfig,
)
from stress.errors import InputError
from stress.pipeline import keys, make_metrics, prepare, run_engine
from stress.results.dataset import to_dataset
from stress.sampler import sample_path_params
from stress.shocks import licensing, predatory
from stress.shocks.base import Context

HORIZON = 91
N_PATHS = 8
REGIMES = ("calm", "targeted", "cutoff")


def cutoff_scenario() -> ScenarioConfig:
    """Magnets and separated rare earths cut off for a drawn 30-60 days, then licensed."""
    from stress.config import CutoffConfig, LicenceConfig

    return ScenarioConfig(
        name="test",
        kind="export_cutoff",
        products=["ree_separation", "magnets"],
        start_date="2025-04-04",
        controlled_share=0.8,
        cutoff=CutoffConfig(median_days=40.0, sigma=0.2),
        licence=LicenceConfig(approval_a=2.0, approval_b=8.0, applications=4, review_days=0.0),
    )


def chain(initial="calm", moves=0.0) -> RegimeConfig:
    """calm -> targeted -> cutoff with weekly up-move probability ``moves``."""
    return RegimeConfig(
        enabled=True,
        initial=initial,
        states={
            "calm": {"level": 0, "next": {"calm": 1 - moves, "targeted": moves}},
            "targeted": {"level": 2, "next": {"targeted": 1 - moves, "cutoff": moves}},
            "cutoff": {"level": 5, "next": {"cutoff": 1 - moves, "targeted": moves}},
        },
    )


def tariffs(rate=1.45) -> TariffsConfig:
    rule = [{"importer": "USA", "exporter": "CHN", "sectors": None, "rate": rate}, {"importer": "CHN", "exporter": "USA", "sectors": None, "rate": rate}]
    return TariffsConfig(enabled=True, initial="high", levels={"high": {"level": 1, "next": {"high": 1.0}, "rules": rule}})


GROUPS = {"ree": {"sector": "ree_separation", "link_share": 0.4}, "magnets": {"sector": "magnets", "link_share": 1.0}}


def lic(scope_targeted=1.0, review=14.0) -> LicensingConfig:
    return LicensingConfig(
        enabled=True,
        applications=5,
        groups=GROUPS,
        regimes={
            "targeted": {"scope": {"ree": 0.3, "magnets": scope_targeted}, "approval": 1.0, "review_days": review},
            "cutoff": {"scope": {"ree": 1.0, "magnets": 1.0}, "approval": 0.0, "cutoff": True},
        },
    )


HALTS = HaltsConfig(enabled=True, sectors=["automotive"], halt_below=0.9, lag_median_days=14.0, lag_sigma=0.3, penalty=0.5, penalty_days=14.0)
OUTAGES = OutagesConfig(enabled=True, sectors=["ree_separation"], regions=["ALLY"], yearly_hazard=8.0, loss_min=0.8, loss_max=1.0, duration_median_days=30.0)
EQUIPMENT = EquipmentConfig(
    enabled=True,
    projects=[
        {"region": "ALLY", "sector": "ree_separation", "added_share": 1.0, "lead_days": 0, "ramp_days": 1},
        {"region": "EU", "sector": "magnets", "added_share": 1.0, "lead_days": 0, "ramp_days": 1},
    ],
    stretch_min=1.0,
    stretch_max=1.0,
)
DIVERSION = DiversionConfig(enabled=True, sectors=["magnets", "batteries", "electronics"], closed_market="USA", full_at=1.0, discount_min=0.2, discount_max=0.3)
PREDATORY = PredatoryConfig(
    enabled=True,
    cut_sectors=["ree_mining", "ree_separation"],
    target_sectors=["ree_mining", "ree_separation"],
    weekly_hazard={"calm": 1.0},
    duration_median_weeks=10.0,
    duration_sigma=0.1,
    depth_min=0.5,
    depth_max=0.6,
    cost_min=0.9,
    cost_max=1.0,
    closure_hazard=2.0,
    closable_share=0.8,
)


def config(scenario=None, model=None, **shocks) -> Config:
    return Config(
        world=WorldConfig("ree_world"),
        model=model or ModelConfig(horizon_days=HORIZON),
        scenario=scenario,
        sampler=SamplerConfig(n_paths=N_PATHS, chunk_size=N_PATHS, seed=0),
        calibration=CalibrationConfig("none"),
        shocks=ShocksConfig(**shocks),
    )


def run(cfg):
    prep = prepare(cfg)
    metrics = make_metrics(cfg, prep)
    res = run_engine(cfg, prep, metrics)
    ds = to_dataset(
        res.acc, res.scalars, prep.mrio, horizon=cfg.model.horizon_days, quantiles=[0.5], metrics=metrics,
        year_to_day=365.0, attrs={}, flow_base=res.flow_base, direct=metrics.direct, labels=prep.labels,
    )  # fmt: skip
    return prep, res, ds


def trajectory(prep, cfg, i):
    dis, pp = sample_path_params(jr.fold_in(keys(0)[1], i), prep.spec, prep.tables, prep.params)
    tab, par = prep.tables._replace(s=pp.s), prep.params._replace(psi=pp.psi)
    return jax.device_get(jax.jit(prep.model.simulate, static_argnums=3)(tab, par, dis, cfg.model.horizon_days))


@pytest.fixture(scope="module")
def base():
    cfg = config(cutoff_scenario())
    return cfg, *run(cfg)


def loss(ds, region, sector):
    return float(ds.output_loss_share_mean.sel(region=region, sector=sector))


def test_inert_modules_reproduce_the_model_exactly(base):
    """Every module on with values that change nothing: the same numbers as no module at all."""
    cfg0, _, res0, _ = base
    inert = dict(
        regime=chain(moves=0.2),
        tariffs=tariffs(rate=0.0),
        licensing=LicensingConfig(enabled=True, groups=GROUPS, regimes={"targeted": {"scope": {}}, "cutoff": {"scope": {}}}),
        halts=dataclasses.replace(HALTS, halt_below=0.0, lag_median_days=1e-9, penalty=0.0, penalty_days=0.0),
        outages=dataclasses.replace(OUTAGES, yearly_hazard=0.0),
        equipment=dataclasses.replace(EQUIPMENT, projects=[{**EQUIPMENT.projects[0], "lead_days": 10 * HORIZON}]),
        diversion=dataclasses.replace(DIVERSION, discount_min=0.0, discount_max=0.0),
        predatory=dataclasses.replace(PREDATORY, weekly_hazard={}),
    )
    cfg = config(cutoff_scenario(), **inert)
    prep, res, ds = run(cfg)
    assert prep.labels.enabled == ("regime", "tariffs", "licensing", "halts", "outages", "equipment", "diversion", "predatory")
    # Inert channels multiply by exactly 1 or add exactly 0, but XLA fuses the longer expressions
    # differently (fused multiply-adds, summation order), so per-step rounding (1e-16 relative)
    # differs and accumulates over 91 days and 84 industries to about 1e-11: tolerance 1e-9.
    K = 2 * 7 + 4  # the loss columns (then reserves, tariff revenue, price cost, lever costs)
    np.testing.assert_allclose(res.scalars[:, :K], res0.scalars[:, :K], rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.scalars[:, K:], res0.scalars[:, K:], rtol=0, atol=1e-9)  # zero tariffs: round-off
    from stress.sketch import exact_sums

    np.testing.assert_allclose(exact_sums(res.acc.share_sums), exact_sums(res0.acc.share_sums), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.acc.flow_sum, res0.acc.flow_sum, rtol=1e-9, atol=2)
    # the chain did move (the regime is drawn), yet nothing it drives is active
    occ = ds.regime_occupancy.values
    np.testing.assert_allclose(occ.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert occ[-1, 0] < 1.0


@pytest.mark.parametrize(
    ("name", "shocks", "check"),
    [
        ("halts", {"halts": HALTS}, lambda d, d0: loss(d, "EU", "automotive") > loss(d0, "EU", "automotive") + 1e-4),
        ("outages", {"outages": OUTAGES}, lambda d, d0: loss(d, "ALLY", "ree_separation") > loss(d0, "ALLY", "ree_separation") + 0.05),
        (
            "equipment",
            {"equipment": EQUIPMENT},
            # the new plants produce more (negative loss) and the world loses less output (not every
            # industry does: orders re-split toward the larger EU magnet plants, which then need more
            # of the scarce separated rare earths)
            lambda d, d0: loss(d, "ALLY", "ree_separation") < loss(d0, "ALLY", "ree_separation") - 0.01
            and float(d.world_output_loss_mean) < 0.9 * float(d0.world_output_loss_mean),
        ),
        (
            "licensing",
            {"regime": chain("targeted"), "licensing": lic(review=1e9)},
            lambda d, d0: loss(d, "EU", "automotive") > loss(d0, "EU", "automotive") + 1e-3,
        ),
        ("predatory", {"regime": chain(), "predatory": PREDATORY}, lambda d, d0: float(d.closure_probability.max()) > 0.5),
    ],
)
def test_each_module_moves_results_the_expected_way(base, name, shocks, check):
    """Same seed, same cut-off draws (common random numbers), one module on."""
    _, _, res0, ds0 = base
    prep, res, ds = run(config(cutoff_scenario(), **shocks))
    assert int(ds.crashed_paths) == 0
    assert check(ds, ds0), name
    if name == "predatory":
        # the targets' capacity fell: more lost output in ALLY mining than without predatory pricing
        assert loss(ds, "ALLY", "ree_mining") > loss(ds0, "ALLY", "ree_mining")


def test_zero_elasticity_tariff_changes_prices_not_quantities():
    m0 = ModelConfig(horizon_days=42, demand_elasticity=0.0, substitution_elasticity=0.0)
    cfg0, cfg = config(model=m0), config(model=m0, tariffs=tariffs())
    _, res0, _ = run(cfg0)
    prep, res, ds = run(cfg)
    # quantities untouched: the undisturbed run's losses are round-off (about 1e-13 of output sums
    # of order 1e3 per day); XLA sums the price-weighted demand in another order, so compare to 1e-9
    K = 2 * 7 + 4  # the loss columns (the tariff's revenue and price cost come after them)
    np.testing.assert_allclose(res.scalars[:, :K], res0.scalars[:, :K], rtol=0, atol=1e-9)
    assert np.abs(res0.scalars).max() < 1e-9
    rise = ds.price_rise_mean.sel(region="USA")
    assert float(rise.sel(sector="automotive")) > 0.02  # +145 % on Chinese inputs (about 10 % with full pass-through)
    assert float(ds.tariff_revenue_mean.sel(region="USA")) > 0
    # the accumulated price rise is the time average of the trajectory's price index (fixed point: 2**-32)
    rec = trajectory(prep, cfg, 0)
    np.testing.assert_allclose(ds.price_rise_mean.values.ravel(), rec.price.mean(axis=0) - 1, rtol=0, atol=1e-9)
    # with elasticities the tariff costs output in the US
    _, res1, _ = run(config(model=ModelConfig(horizon_days=42), tariffs=tariffs()))
    R = 7
    assert res1.scalars[:, 1].mean() > res0.scalars[:, 1].mean()  # USA lost output
    assert res1.scalars[:, 2 * R].mean() > 0


def test_diversion_raises_chinas_exports_to_open_destinations():
    cfg0 = config(model=ModelConfig(horizon_days=42), tariffs=tariffs())
    cfg1 = config(model=ModelConfig(horizon_days=42), tariffs=tariffs(), diversion=DIVERSION)
    p0, p1 = prepare(cfg0), prepare(cfg1)
    r0, r1 = trajectory(p0, cfg0, 3), trajectory(p1, cfg1, 3)
    china = slice(0, 12)
    eu, usa = 2, 1
    to_eu0, to_eu1 = r0.deliveries[:, china, eu].sum(), r1.deliveries[:, china, eu].sum()
    assert to_eu1 > to_eu0 * 1.001
    # the closed market is not offered the discount
    np.testing.assert_allclose(r1.deliveries[:, china, usa].sum(), r0.deliveries[:, china, usa].sum(), rtol=0.02)


# ---- module-level rules ---------------------------------------------------------------


@pytest.fixture(scope="module")
def world():
    from stress.mrio.ree_world import load

    return load()


def _licensing(world, review=14.0, **kw):
    spec, names = licensing.build(dataclasses.asdict(lic(review=review, **kw)), None, world, REGIMES, jnp.float64)
    return spec, names


def _ctx(regime, p):
    R = 7
    return Context(regime=jnp.asarray(regime, jnp.int32), tariff=jnp.zeros(len(regime), jnp.int32), post_p=jnp.full(R, p), post_share=jnp.full(R, jnp.nan))


def test_certain_immediate_approval_is_free_flow(world):
    spec, _ = _licensing(world, review=0.0)
    path = licensing.draw(spec, jr.key(1), _ctx([1] * 10, 1.0))
    np.testing.assert_array_equal(np.asarray(path.closed), 0.0)
    for t in (0, 6, 7, 60):
        np.testing.assert_array_equal(np.asarray(path.channels(jnp.asarray(t)).beta), 1.0)


def test_licensing_follows_the_regime(world):
    """targeted x6, cut-off x3, targeted x6: closed share is the scope during the review and the
    cut-off, and falls (never rises) within a licensing spell."""
    spec, names = _licensing(world, review=14.0)
    reg = [1] * 6 + [2] * 3 + [1] * 6
    paths = jax.vmap(lambda k: licensing.draw(spec, k, _ctx(reg, 0.3)))(jr.split(jr.key(2), 200))
    closed = np.asarray(paths.closed)  # (P, W, L, R)
    m = names.index("magnets")
    eu = 2
    c = closed[:, :, m, eu]
    np.testing.assert_array_equal(c[:, :2], 1.0)  # review of 14 days: two whole weeks
    np.testing.assert_array_equal(c[:, 6:9], 1.0)  # cut-off: every licence revoked
    np.testing.assert_array_equal(c[:, 9:11], 1.0)  # a new spell starts with a new review
    assert np.all(np.diff(c[:, 2:6], axis=1) <= 0) and np.all(np.diff(c[:, 9:], axis=1) <= 0)
    # after review: weekly approval with p = 0.3 per slot; E[closed after k decisions] = 0.7**k
    k = np.arange(1, 5)
    se = np.sqrt(0.7**k * (1 - 0.7**k) / (200 * 5))  # binomial over 200 paths x 5 slots
    np.testing.assert_allclose(c[:, 2:6].mean(axis=0), 0.7**k, atol=4 * se.max())
    # CHN is never licensed by itself; ree's scope is 0.3 in targeted
    np.testing.assert_array_equal(closed[:, :, :, 0], 0.0)
    np.testing.assert_array_equal(closed[:, :2, names.index("ree"), eu], 0.3)


def test_threshold_above_every_content_switches_the_rule_off(world):
    ext = {"enabled": True, "threshold": 0.001, "sectors": ["magnets", "semiconductors"], "phi": {"magnets": 1.0, "semiconductors": 0.05}, "regimes": ["targeted"]}
    spec, names = licensing.build(dataclasses.asdict(lic()), ext, world, REGIMES, jnp.float64)
    M = np.asarray(spec.M)
    ext_rows = [i for i, n in enumerate(names) if n.startswith("extraterritorial/")]
    assert M[ext_rows[0]].max() > 0  # third regions' magnets carry more than 0.1 % Chinese content
    spec_hi, _ = licensing.build(dataclasses.asdict(lic()), {**ext, "threshold": 1.0}, world, REGIMES, jnp.float64)
    np.testing.assert_array_equal(np.asarray(spec_hi.M)[ext_rows], 0.0)


def test_predatory_closures_only_while_price_is_below_cost(world):
    spec = predatory.build(dataclasses.asdict(PREDATORY) | {"cost_min": 0.3, "cost_max": 0.8}, world, REGIMES, jnp.float64)
    paths = jax.vmap(lambda k: predatory.draw(spec, k, _ctx([0] * 14, 0.5)))(jr.split(jr.key(3), 500))
    closed = np.asarray(paths.closed_day)
    start, end, depth = np.asarray(paths.start), np.asarray(paths.end), np.asarray(paths.depth)
    # re-draw the costs exactly as the module does, to know which targets were below cost
    has = np.isfinite(closed)
    assert has.any() and not has.all()
    assert np.all(closed[has] >= start[:, None].repeat(closed.shape[1], 1)[has])
    assert np.all(closed[has] < end[:, None].repeat(closed.shape[1], 1)[has] + 7)
    # a target with cost below the cut price (cost <= 1 - depth) never closes: with cost_max 0.8
    # and depth >= 0.5, only costs above 1 - depth in [0.4, 0.5] can close
    spec_safe = predatory.build(dataclasses.asdict(PREDATORY) | {"cost_min": 0.1, "cost_max": 0.39}, world, REGIMES, jnp.float64)
    safe = jax.vmap(lambda k: predatory.draw(spec_safe, k, _ctx([0] * 14, 0.5)))(jr.split(jr.key(3), 500))
    assert np.all(np.isinf(np.asarray(safe.closed_day)))


@pytest.mark.parametrize(
    ("shocks", "field"),
    [
        ({"regime": chain(), "licensing": LicensingConfig(enabled=True, groups={"x": {"sector": "nope", "link_share": 1.0}})}, "shocks.licensing.groups.x.sector"),
        ({"regime": chain(), "licensing": LicensingConfig(enabled=True, groups=GROUPS, regimes={"nope": {}})}, "shocks.licensing.regimes"),
        ({"regime": chain(), "licensing": LicensingConfig(enabled=True, groups=GROUPS, regimes={"calm": {"scope": {"lasers": 1.0}}})}, "shocks.licensing.regimes.calm.scope"),
        ({"regime": chain(), "licensing": LicensingConfig(enabled=True, groups=GROUPS, regimes={"calm": {"scope": {"ree": 1.5}}})}, "shocks.licensing.regimes.calm.scope.ree"),
        ({"licensing": lic()}, "shocks.licensing.enabled"),  # the chain is off and calm licenses nothing
        ({"regime": chain()}, "shocks.regime.enabled"),  # a chain that drives nothing
        ({"diversion": DIVERSION}, "shocks.diversion.enabled"),  # no tariffs to divert from
        ({"halts": dataclasses.replace(HALTS, sectors=[])}, "shocks.halts.sectors"),
        ({"outages": dataclasses.replace(OUTAGES, regions=["CHN"])}, "shocks.outages.regions"),
        ({"tariffs": tariffs(rate=-0.1)}, "shocks.tariffs.levels.high.rules[0].rate"),
        ({"halts": dataclasses.replace(HALTS, halt_below=2.0)}, "shocks.halts.halt_below"),
        ({"halts": dataclasses.replace(HALTS, sectors=["cars"])}, "shocks.halts.sectors"),
        ({"outages": dataclasses.replace(OUTAGES, loss_max=0.5)}, "shocks.outages.loss_max"),
        ({"tariffs": tariffs(), "diversion": dataclasses.replace(DIVERSION, closed_market="CHN")}, "shocks.diversion.closed_market"),
        ({"predatory": dataclasses.replace(PREDATORY, weekly_hazard={"calm": 1.5})}, "shocks.predatory.weekly_hazard.calm"),
        (
            {"tariffs": tariffs(), "regime": RegimeConfig(enabled=True, initial="calm", states={"calm": {"level": 0, "next": {"calm": 0.9}}})},
            "shocks.regime.states.calm.next",
        ),
    ],
)
def test_bad_shock_settings_name_the_field(shocks, field):
    with pytest.raises(InputError) as err:
        prepare(config(**shocks))
    assert err.value.field.startswith(field), err.value


def test_review_belongs_to_the_spell_and_destination_overrides(world):
    """targeted (review 14 d) -> wider (review 87 d) in week 3: licensed groups keep being
    approved (no second review); a group new in wider waits for wider's review. A destination
    override changes one destination only; initial_approved starts a run inside a spell."""
    regimes = ("calm", "targeted", "wider", "cutoff")
    cfg = dataclasses.asdict(lic(review=14.0))
    cfg["groups"] = {**GROUPS, "batteries": {"sector": "batteries", "link_share": 0.5}}
    cfg["regimes"]["wider"] = {
        "scope": {"ree": 0.3, "magnets": 1.0, "batteries": 1.0},
        "review_days": 87.0,
        "approval_by_destination": {"JPN": 0.0},
        "scope_by_destination": {"KOR": {"magnets": 0.5}},
    }
    spec, names = licensing.build(cfg, None, world, regimes, jnp.float64)
    reg = [1] * 3 + [2] * 12
    paths = jax.vmap(lambda k: licensing.draw(spec, k, _ctx(reg, 0.5)))(jr.split(jr.key(4), 100))
    closed = np.asarray(paths.closed)
    m, b = names.index("magnets"), names.index("batteries")
    eu, jpn, kor = 2, 3, 4
    # magnets to the EU: 2 weeks of review, then halving each week, also after week 3 (0.5**k)
    assert closed[:, 4, m, eu].mean() < 0.15 and closed[:, 6, m, eu].mean() < 0.05
    # batteries are new in wider: closed through wider's 87-day review (13 weeks from week 3)
    np.testing.assert_array_equal(closed[:, 3:15, b, eu], 1.0)
    # Japan: no approvals in wider, so its magnet licences approved in targeted are kept but no more come
    assert np.all(np.diff(closed[:, 3:, m, jpn], axis=1) == 0)
    # Korea: magnets' scope halves in wider
    assert closed[:, 3, m, kor].max() <= 0.5 + 1e-12
    # starting inside the spell: everything licensed from day 0 with initial_approved = 1
    spec1, _ = licensing.build({**cfg, "initial_approved": 1.0}, None, world, regimes, jnp.float64)
    path = licensing.draw(spec1, jr.key(5), _ctx([1] * 5, 0.0))
    np.testing.assert_array_equal(np.asarray(path.closed), 0.0)


def test_too_many_outages_for_the_horizon_are_refused():
    cfg = config(model=ModelConfig(horizon_days=3650), outages=dataclasses.replace(OUTAGES, yearly_hazard=20.0))
    with pytest.raises(InputError) as err:
        prepare(cfg)
    assert err.value.field == "shocks.outages.yearly_hazard"


@pytest.mark.parametrize(("sigma", "eps"), [(0.5, 0.5), (1.5, 0.5), (1.0, 0.3), (0.0, 0.7)])
def test_final_demand_is_a_ces_choice(sigma, eps):
    """Two regions, one product, one final-demand column: supplier 0's price rises 2.45 times (a
    145 % tariff). Closed form: P = (s0 2.45**(1-sigma) + s1)**(1/(1-sigma)) (geometric mean at
    sigma = 1); Y_i = Y0_i (pi_i / P)**-sigma P**-eps. A supplier whose price is unchanged keeps its
    demand when sigma = eps and gains when sigma > eps."""
    from stress.propagation.ario import ArioParams, _final_demand

    Y0 = jnp.asarray([[3.0], [1.0]])
    pi = jnp.asarray([[2.45], [1.0]])
    par = ArioParams(*(jnp.asarray(0.0),) * 5, demand_elasticity=jnp.asarray(eps), substitution_elasticity=jnp.asarray(sigma))
    got = np.asarray(_final_demand(Y0, pi, par, 1))[:, 0]
    s0, s1 = 0.75, 0.25
    P = 2.45**s0 if sigma == 1.0 else (s0 * 2.45 ** (1 - sigma) + s1) ** (1 / (1 - sigma))
    want = np.array([3.0 * (2.45 / P) ** -sigma * P**-eps, 1.0 * (1 / P) ** -sigma * P**-eps])
    np.testing.assert_allclose(got, want, rtol=1e-12)  # float64 round-off of exp/log
    if sigma == eps:
        assert abs(got[1] - 1.0) < 1e-12
    elif sigma > eps:
        assert got[1] > 1.0


def test_a_bad_shock_setting_writes_nothing(tmp_path):
    """End to end: one line naming the field, exit code 2, no run folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "stress", "run", "+scenario=baseline", "shocks.diversion.enabled=true", f"hydra.run.dir={out}"]
    proc = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert "shocks.diversion.enabled" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
