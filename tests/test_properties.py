"""Property-based tests of the ARIO kernel (``stress.propagation.ario``) with hypothesis.

Inputs: random small productive MRIOs (R in {1, 2, 3} regions, p in {2, 3} sectors, 1 or 2
final-demand categories; nonnegative technical coefficients with some zeros and column sums in
[0.02, 0.95], so the spectral radius is below 1; positive final demand), built into an ``Mrio``
and checked by ``stress.mrio.tables.validate`` as every loader does; random model settings
(``ModelConfig``) and a random capacity-loss shock (``ShockConfig``, as in
``configs/shock/capacity_loss.yaml``: every listed region x sector pair loses ``fraction``),
both accepted by ``stress.config.validate``; the loss is built by ``stress.scenario.capacity_events``
and the tables and parameters by ``ario.build_tables`` / ``ario.build_params``, as the engine does.

Speed: shapes come from the fixed set ``SHAPES``, the horizon of the compiled scan is fixed
(``T``) and the model options take four values, so at most ``4 x 4`` compilations happen in
the module; each example runs ``K`` shock severities of one setting in one vmapped call. A
shorter horizon ``h`` is the first ``h`` days of the record: day ``t`` of a scan does not depend
on the days after it. Examples are derandomized and no database is written, so CI is
reproducible and leaves no ``.hypothesis`` folder.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stress import config as cfgmod
from stress import scenario
from stress.metrics import NOISE_ULPS, Metrics
from stress.mrio.tables import Mrio, validate
from stress.pipeline import model_tables
from stress.propagation import ario

SHAPES = ((1, 2, 1), (2, 2, 2), (2, 3, 1), (3, 2, 1))  # (regions, sectors, final-demand categories)
T = 60  # compiled horizon (days); each example reads its own horizon h in [20, T]
K = 4  # shock severities per call: 0 and three increasing fractions
EPS = float(np.finfo(np.float64).eps)
PROFILE = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------------------------
# The kernel, compiled once per (shape, options)


def _simulate(tables, params, dis, horizon, quirks, order_type):
    """Stacked records of the ``K`` disruptions (vmapped), and the package's per-path reducer
    (``stress.metrics.Metrics``) folded over them: its lost output after each day (``(K, T, n)``)
    and its crashed flag."""
    model = ario.Ario(order_type=order_type, boario_quirks=quirks)
    metrics = Metrics()

    def one(d):
        rec = model.simulate(tables, params, d, horizon)

        def fold(summary, xs):
            r, t = xs
            summary = metrics.update(tables, summary, r, t)
            return summary, summary.lost

        summary, lost = jax.lax.scan(fold, metrics.init(tables, horizon), (rec, jnp.arange(horizon)))
        return rec, lost, summary.crashed

    return jax.vmap(one)(dis)


_simulate_jit = jax.jit(_simulate, static_argnums=(3, 4, 5))


# ---------------------------------------------------------------------------------------------
# Strategies


@st.composite
def worlds(draw):
    """A validated random productive MRIO of one of ``SHAPES``."""
    R, p, F = draw(st.sampled_from(SHAPES))
    n = R * p
    unit = st.floats(0.0, 1.0, allow_subnormal=False)
    raw = draw(hnp.arrays(np.float64, (n, n), elements=unit))
    raw = raw * draw(hnp.arrays(np.bool_, (n, n)))  # some zero entries (a zero column is allowed)
    colsum = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.02, 0.95)))
    tot = raw.sum(axis=0)
    A = raw * np.divide(colsum, tot, out=np.zeros(n), where=tot > 1e-6)[None, :]
    y = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.1, 1000.0)))
    shares = draw(hnp.arrays(np.float64, (n, R * F), elements=unit)) * draw(hnp.arrays(np.bool_, (n, R * F)))
    shares[:, 0] += 1e-3  # every industry sells to some final demand
    Y = shares / shares.sum(axis=1, keepdims=True) * y[:, None]
    x = np.linalg.solve(np.eye(n) - A, Y.sum(axis=1))
    Z = A * x[None, :]
    x = Z.sum(axis=1) + Y.sum(axis=1)  # as the loaders compute it
    mrio = Mrio(
        "random",
        tuple(f"r{i}" for i in range(R)),
        tuple(f"s{i}" for i in range(p)),
        tuple(f"f{i}" for i in range(F)),
        Z,
        Y,
        x,
        "money",
    )
    return validate(mrio)


@st.composite
def settings_(draw, mrio):
    """A valid ``Config`` (model and capacity-loss shock) for ``mrio``; the shock's fraction is
    replaced by the ``K`` severities of the case."""
    inv = draw(st.floats(1.5, 120.0))
    psi = draw(st.floats(min(1.0, (1 + 1e-9) / inv), 1.0))  # psi x inventory_days >= 1 (see test_validator_admits_crashing_psi)
    alpha_base = 1.0  # see test_alpha_base_above_one_is_not_stationary
    # Stability of the stationary state (see test_fast_restocking_amplifies_rounding): a gap
    # of the stocks is re-ordered at 1/tau a day and the target moves by s A^S with output, so
    # the loop gain is s / tau x (inputs per unit of output); it is kept below 1.
    gain = float(np.asarray(mrio.A).reshape(len(mrio.regions), len(mrio.sectors), -1).sum(axis=0).sum(axis=0).max())
    tau_min = max(1.0, 1.05 * inv * gain)
    model = cfgmod.ModelConfig(
        horizon_days=draw(st.integers(20, T)),
        inventory_days=inv,
        psi=psi,
        inventory_tau=draw(st.floats(tau_min, max(365.0, 2 * tau_min))),
        alpha_base=alpha_base,
        alpha_max=draw(st.floats(alpha_base, 1.5)),
        alpha_tau=draw(st.floats(1.0, 730.0)),
        order_type=draw(st.sampled_from(["alt", "noalt"])),
        boario_quirks=draw(st.booleans()),
    )
    regions = draw(st.lists(st.sampled_from(mrio.regions), min_size=1, max_size=len(mrio.regions), unique=True))
    sectors = draw(st.lists(st.sampled_from(mrio.sectors), min_size=1, max_size=len(mrio.sectors), unique=True))
    duration = draw(st.integers(0, 30))
    shock = cfgmod.ShockConfig(
        kind="capacity_loss",
        region=regions,
        sector=sectors,
        fraction=1.0,
        start_day=draw(st.integers(0, model.horizon_days - 1)),
        duration_days=duration,
        recovery_days=draw(st.integers(0 if duration else 1, 30)),
    )
    cfg = cfgmod.validate(cfgmod.Config(model=model, shock=shock))
    fractions = sorted(draw(st.lists(st.floats(0.0, 1.0, exclude_min=True), min_size=K - 1, max_size=K - 1)))
    return cfg, np.array([0.0, *fractions])


@st.composite
def cases(draw):
    mrio = draw(worlds())
    cfg, fractions = draw(settings_(mrio))
    return mrio, cfg, fractions


class Run:
    """One case run through the kernel: ``K`` severities of the same shock."""

    def __init__(self, mrio, cfg, fractions):
        m = cfg.model
        self.mrio, self.cfg, self.fractions, self.h = mrio, cfg, fractions, m.horizon_days
        self.tables, params = model_tables(m, mrio, jnp.float64)  # as a run builds them
        loss, start, days, recovery = scenario.capacity_events(cfg, mrio)  # loss = fraction (1.0) on the hit pairs
        self.hit = loss[0] > 0
        base = ario.no_disruption(mrio.n, len(mrio.regions), jnp.float64)._replace(
            loss_start=jnp.asarray(start), loss_days=jnp.asarray(days), loss_recovery=jnp.asarray(recovery)
        )
        dis = jax.tree.map(lambda a: jnp.broadcast_to(a, (K, *jnp.shape(a))), base)
        dis = dis._replace(loss=jnp.asarray(fractions[:, None, None] * loss[None]))
        rec, lost, crashed = jax.device_get(_simulate_jit(self.tables, params, dis, T, m.boario_quirks, m.order_type))
        h = self.h
        self.rec = jax.tree.map(lambda a: a[:, :h], rec)  # the first h days: a run with horizon h
        self.lost = lost[:, h - 1]  # (K, n) the package's lost output over h days
        self.summary_crashed = crashed  # over T >= h days
        self.X0 = np.asarray(self.tables.X0)


def _describe(run: Run) -> str:
    m, s = run.cfg.model, run.cfg.shock
    return (
        f"R,p={len(run.mrio.regions)},{len(run.mrio.sectors)} h={run.h} inv={m.inventory_days:.6g} psi={m.psi:.6g} "
        f"tau={m.inventory_tau:.6g} alpha={m.alpha_base:.6g}/{m.alpha_max:.6g}/{m.alpha_tau:.6g} {m.order_type} "
        f"quirks={m.boario_quirks} shock={s.region}x{s.sector} start={s.start_day} days={s.duration_days} "
        f"rec={s.recovery_days} fractions={run.fractions.tolist()}"
    )


# Rounding: without a shock a day's production equals X0 up to a few ulps (D(0) = Z0 1 + y is
# summed in another order than x = Z 1 + Y 1, and orders are re-split every day); the package
# treats a day's shortfall within NOISE_ULPS (16) ulps of X0 as noise (stress.metrics), so the
# tolerance of a loss over h days is that many ulps of baseline output times h.
def _tol(run: Run) -> np.ndarray:
    return NOISE_ULPS * EPS * run.X0 * run.h


# ---------------------------------------------------------------------------------------------
# Properties


@PROFILE
@given(cases())
def test_lost_output_is_bounded(case):
    """Property 1. The world's lost output over the horizon is never negative beyond rounding and
    never above the world's baseline output over the horizon; no industry loses more than its
    baseline output over the horizon (its production never goes below zero)."""
    run = Run(*case)
    tol = _tol(run).sum()
    world = run.lost.sum(axis=1)
    assert world.min() >= -tol, _describe(run)
    assert (run.lost <= run.h * run.X0 + _tol(run)).all(), _describe(run)
    assert run.rec.production.min() >= 0.0, _describe(run)
    assert world.max() <= run.h * run.X0.sum() + tol, _describe(run)


@PROFILE
@given(cases())
def test_zero_shock_loses_nothing(case):
    """Property 2. A shock of fraction 0 (the listed industries lose nothing) leaves production
    at baseline within NOISE_ULPS ulps on every day, so the package's lost output is exactly 0 for
    every industry; no final demand goes unmet beyond the same rounding."""
    run = Run(*case)
    X = run.rec.production[0]
    assert (np.abs(X - run.X0) <= NOISE_ULPS * EPS * run.X0).all(), _describe(run)
    assert (run.lost[0] == 0.0).all(), _describe(run)
    assert (np.abs(run.rec.final_demand_unmet[0]) <= NOISE_ULPS * EPS * run.X0).all(), _describe(run)


@PROFILE
@given(cases())
def test_world_loss_is_monotone_in_severity(case):
    """Property 3. A larger capacity-loss fraction on the same industries and days loses at least
    as much world output over the horizon (within the rounding tolerance)."""
    run = Run(*case)
    world = run.lost.sum(axis=1)
    tol = _tol(run).sum()
    assert (np.diff(world) >= -tol).all(), f"{_describe(run)} world losses {world.tolist()}"


@PROFILE
@given(cases())
def test_flows_are_conserved(case):
    """Property 4. Accounting identities of the record, every day and every severity:

    - what an industry delivers (to intermediate and final buyers in every region) is what it
      produces, and it produces no more than its demand and its capacity;
    - unmet final demand is final demand less the share X / D of it that is delivered;
    - stocks never go negative, and the stocks of product q held in region r change by the
      intermediate deliveries of q to r less the inputs of q used there (A^S_qj X_j); with
      BoARIO's quirks the update may instead be skipped for the day (stocks unchanged) when
      inflow and use are allclose (|in - use| <= 1e-8 + 1e-5 |use| entry-wise, ARIO.md §5 D).
    """
    run = Run(*case)
    rec, tables = run.rec, run.tables
    R, p = len(run.mrio.regions), len(run.mrio.sectors)
    n = R * p
    X, D, cap = rec.production, rec.demand, rec.production_capacity
    scale = run.X0.max()
    tol = 1e-12 * scale
    np.testing.assert_allclose(rec.deliveries.sum(axis=-1), X, rtol=1e-12, atol=tol, err_msg=_describe(run))
    assert (X <= D + tol).all() and (X <= cap + tol).all(), _describe(run)
    Y0 = np.asarray(tables.Y0)
    y_by_region = Y0.reshape(n, R, -1).sum(axis=2)  # (n, R) final demand of each region for i
    share = X / D  # D >= y > 0
    np.testing.assert_allclose(rec.final_demand_unmet, Y0.sum(axis=1) * (1 - share), rtol=0, atol=tol, err_msg=_describe(run))
    # stocks by product and buyer region
    AS = np.asarray(tables.AS)
    S = rec.stocks  # (K, h, p, n), before the day's production
    # never negative beyond rounding: a stock of a near-zero input (A^S ~ 1e-46) may round to
    # -1e-50; the tolerance is the one of the stock balance below, relative to the stocks' scale
    assert S.min() >= -1e-12 * (S.max() + scale), _describe(run)
    intermediate = rec.deliveries - share[..., None] * y_by_region  # (K, h, n, R)
    inflow = intermediate.reshape(K, run.h, R, p, R).sum(axis=2)  # (K, h, q, r)
    use_j = AS[None, None] * X[:, :, None, :]  # (K, h, p, n)
    use = use_j.reshape(K, run.h, p, R, p).sum(axis=4)
    dS = (S[:, 1:] - S[:, :-1]).reshape(K, run.h - 1, p, R, p).sum(axis=4)
    stock_tol = 1e-12 * (S.max() + scale)
    ok = np.abs(dS - (inflow - use)[:, :-1]) <= stock_tol
    if run.cfg.model.boario_quirks:
        skipped = (S[:, 1:] == S[:, :-1]).all(axis=(2, 3))  # (K, h-1)
        bound = (1e-8 + 1e-5 * use_j).reshape(K, run.h, p, R, p).sum(axis=4)[:, :-1] + stock_tol
        close = (np.abs(inflow - use)[:, :-1] <= bound).all(axis=(2, 3))
        ok = ok.all(axis=(2, 3)) | (skipped & close)
    assert ok.all(), _describe(run)


@PROFILE
@given(cases())
def test_no_path_crashes(case):
    """Property 5. No path crashes: the record's and the package reducer's ``crashed`` are false
    over the whole compiled horizon, and no recorded value is NaN or infinite."""
    run = Run(*case)
    assert not run.rec.crashed.any(), _describe(run)
    assert not run.summary_crashed.any(), _describe(run)
    for name in ("production", "production_capacity", "overproduction", "demand", "final_demand_unmet", "stocks", "deliveries"):
        assert np.isfinite(getattr(run.rec, name)).all(), f"{name}: {_describe(run)}"


# ---------------------------------------------------------------------------------------------
# Counterexamples hypothesis found outside the ranges drawn above, pinned as minimal cases
# (one region, two sectors: the shape is compiled above already).


def _tiny_world(Z, Y):
    Z, Y = np.asarray(Z, float), np.asarray(Y, float)
    return validate(Mrio("tiny", ("r0",), ("s0", "s1"), ("f0",), Z, Y, Z.sum(axis=1) + Y.sum(axis=1), "money"))


def _tiny_run(mrio, h=T, **model):
    base = dict(horizon_days=h, order_type="alt", boario_quirks=True)
    base.update(model)
    shock = cfgmod.ShockConfig(kind="capacity_loss", region="r0", sector="s0", fraction=1.0, start_day=1, duration_days=5, recovery_days=5)
    cfg = cfgmod.validate(cfgmod.Config(model=cfgmod.ModelConfig(**base), shock=shock))
    return Run(mrio, cfg, np.array([0.0, 0.25, 0.5, 0.75]))


def test_fast_restocking_amplifies_rounding():
    """Why the strategies keep ``s / tau x max_j sum_q A^S_qj < 1``: above it the stationary state
    of ARIO is unstable. A stock gap is re-ordered at ``1/tau`` a day and the stock target follows
    output (``s A^S X^opt``), so a rounding error in a stock is re-ordered with gain above 1;
    with overproduction allowed it grows geometrically (here about x3 a day) and a path with no
    shock drifts far from baseline within weeks. With BoARIO's quirks the ``allclose`` short-cuts
    absorb the rounding error and the path stays at baseline (no shock at all: the instability is
    then only reached by a real shock)."""
    mrio = _tiny_world([[7.916666666666667, 22.75], [0.0, 0.0]], [[1.0], [91.0]])  # a_00 = 0.25
    model = dict(inventory_days=19.0, psi=1.0, inventory_tau=1.0, alpha_max=1.5, alpha_tau=1.0)
    published = _tiny_run(mrio, **model, boario_quirks=False)
    drift = np.abs(published.rec.production[0] / published.X0 - 1).max()
    assert drift > 1e-6  # 19 / 1 x 0.25 = 4.75 > 1: rounding noise grew by 10 orders of magnitude
    quirks = _tiny_run(mrio, **model, boario_quirks=True)
    assert (quirks.lost[0] == 0).all()


def test_alpha_base_above_one_is_stationary():
    """Found by the property search: ``Ario.init`` started every industry at ``alpha = 1`` (its
    docstring and the NumPy oracle say ``alpha_base``), so with ``alpha_base > 1`` industries
    relaxed towards it on different days, ``"alt"`` orders moved between supplier regions and a
    path with no shock left baseline. It now starts at ``alpha_base``."""
    Z = [[10.0, 5.0, 2.0, 1.0], [3.0, 10.0, 1.0, 2.0], [2.0, 1.0, 10.0, 5.0], [1.0, 2.0, 3.0, 10.0]]
    Y = [[20.0, 10.0], [10.0, 20.0], [10.0, 20.0], [20.0, 10.0]]
    Z, Y = np.asarray(Z), np.asarray(Y)
    mrio = validate(Mrio("two", ("r0", "r1"), ("s0", "s1"), ("f0",), Z, Y, Z.sum(axis=1) + Y.sum(axis=1), "money"))
    shock = cfgmod.ShockConfig(kind="capacity_loss", region="r0", sector="s0", fraction=1.0, start_day=1, duration_days=5, recovery_days=5)
    model = cfgmod.ModelConfig(horizon_days=T, alpha_base=1.1, alpha_max=1.25, alpha_tau=10.0)
    run = Run(mrio, cfgmod.validate(cfgmod.Config(model=model, shock=shock)), np.array([0.0, 0.25, 0.5, 0.75]))
    assert (run.lost[0] == 0).all()  # was about 1.4e-6 of a day's output lost and gained by r0 / r1


def test_validator_refuses_crashing_psi():
    """Found by the property search: ``config.validate`` checked ``psi x max(inventory_days, 2) >= 1``,
    but ``build_tables`` raises only durations ``<= 1`` to 2 (BoARIO), so ``inventory_days = 1.5,
    psi = 0.5`` passed with ``psi s = 0.75 < 1``: a day's use can exceed the stock and the path
    crashes. The check is now ``psi x inventory_days >= 1``; the kernel itself still flags the
    crash. The strategies draw ``psi >= 1 / inventory_days``."""
    from stress.errors import InputError

    with pytest.raises(InputError, match="model.psi"):
        cfgmod.validate(cfgmod.Config(model=cfgmod.ModelConfig(inventory_days=1.5, psi=0.5)))
    # what the check prevents (validation skipped): every shocked path crashes (production down to -0.025)
    mrio = _tiny_world([[30.0, 20.0], [10.0, 30.0]], [[50.0], [60.0]])
    shock = cfgmod.ShockConfig(kind="capacity_loss", region="r0", sector="s0", fraction=1.0, start_day=1, duration_days=5, recovery_days=5)
    model = cfgmod.ModelConfig(horizon_days=T, order_type="alt", boario_quirks=True, inventory_days=1.5, psi=0.5, inventory_tau=28.0, alpha_max=1.0)
    run = Run(mrio, cfgmod.Config(model=model, shock=shock), np.array([0.0, 0.25, 0.5, 0.75]))
    assert run.rec.crashed[1:].any()
    # at the boundary the check allows (psi x inventory_days = 1) nothing crashes
    model = cfgmod.ModelConfig(horizon_days=T, order_type="alt", boario_quirks=True, inventory_days=2.0, psi=0.5, inventory_tau=28.0, alpha_max=1.0)
    run = Run(mrio, cfgmod.validate(cfgmod.Config(model=model, shock=shock)), np.array([0.0, 0.25, 0.5, 0.75]))
    assert not run.rec.crashed.any()
