"""The JAX ARIO kernel against BoARIO's reference values, the NumPy oracle and closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ario_setup

from stress.propagation import ario
from stress.propagation import reference as ref


def _event(mrio, impacts: dict, k: int, d: int, tau: int) -> ario.Disruption:
    """A BoARIO arbitrary event (occurrence k, duration d, recovery tau) in our semantics:
    start_day = k + 1, duration_days = d + 2, recovery_days = tau (ARIO.md §4)."""
    delta = np.zeros(mrio.n)
    for (r, s), f in impacts.items():
        delta[mrio.index(r, s)] = f
    dis = ario.no_disruption(mrio.n, len(mrio.regions), jnp.float64)
    return dis._replace(
        loss=jnp.asarray(delta[None]),
        loss_start=jnp.array([k + 1.0]),
        loss_days=jnp.array([d + 2.0]),
        loss_recovery=jnp.array([float(tau)]),
    )


def _simulate(mrio, dis, T, model=None, **params):
    tables, par = ario_setup(mrio, **params)
    model = model or ario.Ario()
    rec = jax.jit(model.simulate, static_argnums=3)(tables, par, dis, T)
    return jax.device_get(rec), np.asarray(tables.X0)


CASE_A = ({("reg1", "manufactoring"): 0.5, ("reg2", "electricity"): 0.3}, 10, 5, 30, 150)
CASE_B = ({("reg3", "mining"): 0.9, ("reg3", "manufactoring"): 0.6, ("reg1", "electricity"): 0.4}, 5, 20, 60, 300)
STEERING = ({("reg3", "mining"): 0.5}, 5, 60, 90, 365)

# ARIO.md §10 prints BoARIO's values to 8-10 significant digits: the tolerance is half a unit
# in the last printed digit (at most 6e-9 relative for ratios, 1e-9 relative for the sums).


def _ratio(rec, X0, mrio, r, s, day):
    i = mrio.index(r, s)
    return rec.production[day, i] / X0[i]


def test_case_a_matches_boario(pymrio_test):
    imp, k, d, tau, T = CASE_A
    rec, X0 = _simulate(pymrio_test, _event(pymrio_test, imp, k, d, tau), T)
    m = pymrio_test
    for day, want in ((10, 1.0), (11, 0.5), (17, 0.5010187218), (18, 0.5178940869), (40, 0.8893935739), (149, 1.000125224)):
        assert _ratio(rec, X0, m, "reg1", "manufactoring", day) == pytest.approx(want, abs=5e-11 if day != 149 else 5e-10)
    assert _ratio(rec, X0, m, "reg2", "mining", 17) == pytest.approx(0.8922711196, abs=5e-11)
    assert _ratio(rec, X0, m, "reg2", "mining", 40) == pytest.approx(0.972288064, abs=5e-10)
    assert (X0 - rec.production).sum() == pytest.approx(8592804.69, abs=5e-3)
    assert rec.final_demand_unmet.sum() == pytest.approx(8499505.23, abs=5e-3)
    assert rec.overproduction.max() == pytest.approx(1.00714038396, abs=5e-12)


def test_case_b_inventory_constraint_matches_boario(pymrio_test):
    imp, k, d, tau, T = CASE_B
    rec, X0 = _simulate(pymrio_test, _event(pymrio_test, imp, k, d, tau), T)
    m = pymrio_test
    assert _ratio(rec, X0, m, "reg3", "mining", 6) == pytest.approx(0.1, abs=1e-12)
    assert _ratio(rec, X0, m, "reg3", "mining", 28) == pytest.approx(0.11651766, abs=5e-9)
    assert _ratio(rec, X0, m, "reg3", "construction", 40) == pytest.approx(0.9751295411, abs=5e-11)
    assert (X0 - rec.production).sum() == pytest.approx(29487099.14, abs=5e-3)
    assert rec.overproduction.max() == pytest.approx(1.02928477271, abs=5e-12)
    S0 = rec.stocks[0]
    assert np.min(rec.stocks[:, S0 > 0] / S0[S0 > 0]) == pytest.approx(0.71898576, abs=5e-9)


def test_steering_default_matches_boario(pymrio_test):
    imp, k, d, tau, T = STEERING
    rec, X0 = _simulate(pymrio_test, _event(pymrio_test, imp, k, d, tau), T)
    m = pymrio_test
    for (r, s), (want, day) in {("reg3", "construction"): (0.90741708, 95), ("reg3", "food"): (0.93672139, 97)}.items():
        i = m.index(r, s)
        ratio = rec.production[:, i] / X0[i]
        assert int(np.argmin(ratio)) == day
        assert ratio.min() == pytest.approx(want, abs=5e-9)
    assert _ratio(rec, X0, m, "reg3", "mining", 67) == pytest.approx(0.50991045, abs=5e-9)
    assert _ratio(rec, X0, m, "reg3", "mining", 68) == pytest.approx(0.51573254, abs=5e-9)


def _beta_schedule(dis, T):
    """beta(t) for t = 0..T, evaluated one day at a time on the host."""
    return np.stack([np.asarray(ario.availability(dis, jnp.asarray(t))) for t in range(T + 1)])


def test_export_cutoff_matches_numpy_reference(pymrio_test):
    """Kernel vs the independent NumPy implementation, with a capacity loss and an export
    restriction that closes, then reopens link by link. Both run in float64; the bound allows
    for a different order of summation (1e-10 of the series' largest value)."""
    m = pymrio_test
    R, T = len(m.regions), 200
    dis = _event(m, {("reg2", "electricity"): 0.3}, 10, 5, 30)
    export = np.zeros(m.n)
    export[[m.index("reg1", "mining"), m.index("reg1", "manufactoring")]] = 1.0
    resume = np.array([[40.0, 55.0], [62.0, 90.0], [45.0, np.inf], [70.0, 71.0], [33.0, 120.0], [50.0, 51.0]])
    dis = dis._replace(
        export_mask=jnp.asarray(export),
        dest_mask=jnp.asarray(np.array([0.0, 1, 1, 1, 1, 1])),
        cut_start=jnp.asarray(3.0),
        resume_day=jnp.asarray(resume),
    )
    rec, X0 = _simulate(m, dis, T)
    delta = np.stack([np.asarray(ario.capacity_loss(dis, jnp.asarray(t), round6_values=True)) for t in range(T)])
    assert delta.max() == pytest.approx(0.3)
    prep = ref.prepare(m.Z, m.Y, m.x, R, len(m.sectors))
    # The reference serves orders placed on day t with beta[t + 1] (last row at t = T - 1).
    want = ref.simulate(prep, T, delta_schedule=delta, beta_schedule=_beta_schedule(dis, T)[:T])
    assert not want["crashed"]
    for name in ("production", "production_capacity", "overproduction", "demand"):
        got = getattr(rec, name)
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(got, want[name], rtol=0, atol=1e-10 * scale, err_msg=name)
    np.testing.assert_allclose(rec.stocks, want["stocks"], rtol=0, atol=1e-10 * np.abs(want["stocks"]).max())
    np.testing.assert_allclose(rec.final_demand_unmet, want["final_demand_undist"], rtol=0, atol=1e-10 * X0.max())
    # The restriction bit: blocked buyers lost supply, so production fell somewhere by > 1 %.
    assert (want["production"] / X0).min() < 0.99


@pytest.mark.parametrize("world", ["pymrio_test", "ree_world"])
def test_no_shock_stays_at_fixed_point(world, request):
    mrio = request.getfixturevalue(world)
    rec, X0 = _simulate(mrio, ario.no_disruption(mrio.n, len(mrio.regions), jnp.float64), 365)
    # ARIO.md §3: D(0) = X0 to about 1e-15 relative; over a year the drift stays at rounding level.
    np.testing.assert_allclose(rec.production, np.broadcast_to(X0, rec.production.shape), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(rec.overproduction, 1.0)
    assert rec.final_demand_unmet.max() <= 1e-12 * X0.max()


def test_linear_limit_is_dynamic_inoperability_model(pymrio_test):
    """With the inventory constraint off (psi = 0), no overproduction, no restoration orders and
    fixed supplier shares, ARIO reduces to X(t) = min(Xbar(t), A X(t-1) + y) (ARIO.md §9): the
    DIIM with K = I. Under a constant capacity loss the free industries u converge to the mixed
    Leontief solution q_u* = (I - A*_uu)^-1 A*_us q_s in inoperability terms."""
    m = pymrio_test
    T, k, d = 400, 3, 396
    hit = m.index("reg3", "mining")
    dis = _event(m, {("reg3", "mining"): 0.4}, k, d, 10)
    rec, X0 = _simulate(m, dis, T, model=ario.Ario(order_type="noalt"), psi=0.0, alpha_max=1.0, inventory_tau=np.inf)
    A = m.A
    y = m.Y.sum(axis=1) / 365.0
    X = X0.copy()
    for t in range(T):
        cap = X0 * (1 - np.asarray(ario.capacity_loss(dis, jnp.asarray(t), round6_values=True)))
        X = np.minimum(cap, A @ X + y) if t > 0 else np.minimum(cap, X0)
        # The recursion and the kernel agree to rounding (1e-12 of output) on every day.
        np.testing.assert_allclose(rec.production[t], X, rtol=1e-12, atol=1e-9)
    # DIIM closed form at the end of a long constant loss, with A* = X0^-1 A X0.
    Astar = A * X0[None, :] / np.where(X0 > 0, X0, 1)[:, None]
    u = np.setdiff1d(np.arange(m.n), [hit])
    q_s = np.array([0.4])
    q_u = np.linalg.solve(np.eye(u.size) - Astar[np.ix_(u, u)], Astar[np.ix_(u, [hit])] @ q_s)
    q_model = 1 - rec.production[T - 1] / X0
    # Converges geometrically at rate rho(A) < 0.5 here: after ~390 days the gap is far below 1e-12.
    np.testing.assert_allclose(q_model[u], q_u, rtol=1e-9, atol=1e-12)
    assert q_model[hit] == pytest.approx(0.4, abs=1e-12)


def test_criticality_zero_switches_the_inventory_constraint_off(pymrio_test):
    """c = 0 for every input: no output needs any input, so production is X^opt = min(D, Xbar)
    every day, as with psi = 0; c = 1 is the plain ARIO path; case B is the scenario in which the
    constraint binds. (The paths of c = 0 and psi = 0 differ through orders: with c = 0 a short
    stock still limits what the (empty) needing part uses, so they are not compared.)"""
    import dataclasses

    imp, k, d, tau, T = CASE_B
    dis = _event(pymrio_test, imp, k, d, tau)
    p_ = len(pymrio_test.sectors)
    zero = dataclasses.replace(pymrio_test, criticality=np.zeros((p_, pymrio_test.n)))
    one = dataclasses.replace(pymrio_test, criticality=np.ones((p_, pymrio_test.n)))
    rec0, _ = _simulate(zero, dis, T)
    rec1, _ = _simulate(one, dis, T)
    rec, _ = _simulate(pymrio_test, dis, T)
    np.testing.assert_array_equal(rec0.production, np.minimum(rec0.demand, rec0.production_capacity))
    np.testing.assert_array_equal(rec0.input_ratio, 1.0)
    np.testing.assert_array_equal(rec1.production, rec.production)
    assert rec.input_ratio.min() < 0.99  # in plain ARIO an input binds
    assert np.abs(rec0.production - rec.production).max() > 1e-3 * rec.production.max()


def test_partial_criticality_per_buyer_inventories_and_licences_match_numpy_reference(pymrio_test):
    """The kernel's extensions against the extended NumPy oracle: criticality c < 1 on some
    inputs (1 on others), inventory targets and psi by product and buyer, a capacity loss that
    makes inputs bind (case B), and a licensing restriction with partial shares beta in
    {0, 1/3, 2/3, 1}. The two agree to 1e-15 until the last licences reopen (day 90); from
    there, summation-order differences grow to about 2e-10 of the largest value by day 160, so
    the bound is 1e-9 of it (a modelling difference would show at the 1e-3 level)."""
    import dataclasses

    m = pymrio_test
    R, p_, T = len(m.regions), len(m.sectors), 160
    rng = np.random.default_rng(3)
    crit = np.where(rng.random((p_, m.n)) < 0.5, rng.uniform(0.1, 0.9, (p_, m.n)), 1.0)
    s = rng.uniform(20.0, 120.0, (p_, m.n))
    psi = rng.uniform(0.3, 0.9, (p_, m.n))
    imp, k, d, tau, _ = CASE_B
    dis = _event(m, imp, k, d, tau)
    export = np.zeros(m.n)
    export[[m.index("reg3", "mining"), m.index("reg1", "electricity")]] = 1.0
    resume = np.array([[30.0, 60.0, 90.0]] * R)
    resume[2] = [25.0, np.inf, np.inf]
    dis = dis._replace(
        export_mask=jnp.asarray(export),
        dest_mask=jnp.asarray(np.array([1.0, 1, 1, 0, 1, 1])),
        cut_start=jnp.asarray(0.0),
        resume_day=jnp.asarray(resume),
    )
    world = dataclasses.replace(m, criticality=crit)
    tables = ario.build_tables(world, inventory_days=s, year_to_day=365.0, boario_quirks=True, dtype=jnp.float64)
    par = ario.build_params(psi=0.8, inventory_tau=60.0, alpha_base=1.0, alpha_max=1.25, alpha_tau=365.0, dtype=jnp.float64)
    par = par._replace(psi=jnp.asarray(psi))
    rec = jax.device_get(jax.jit(ario.Ario().simulate, static_argnums=3)(tables, par, dis, T))
    delta = np.stack([np.asarray(ario.capacity_loss(dis, jnp.asarray(t), round6_values=True)) for t in range(T)])
    prep = ref.prepare(m.Z, m.Y, m.x, R, p_, inventory_days=s, psi=psi, criticality=crit)
    want = ref.simulate(prep, T, delta_schedule=delta, beta_schedule=_beta_schedule(dis, T)[:T])
    assert not want["crashed"] and not rec.crashed.any()
    for name in ("production", "production_capacity", "overproduction", "demand"):
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(getattr(rec, name), want[name], rtol=0, atol=1e-9 * scale, err_msg=name)
    np.testing.assert_allclose(rec.stocks, want["stocks"], rtol=0, atol=1e-9 * np.abs(want["stocks"]).max())
    # the scenario exercises what it claims: a partial input binds, and licences are partial
    part = (crit < 1) & np.asarray(tables.theta)
    C = psi[None] * s[None] * np.asarray(tables.AS)[None] * np.minimum(rec.demand, rec.production_capacity)[:, None, :]
    assert (rec.stocks[:, part] < C[:, part]).any()
    assert rec.input_ratio.min() < 0.99


def test_partial_criticality_never_draws_missing_inputs(ree_world):
    """The default world under a long full cut-off of Chinese oxides and magnets (no licence for
    300 days): the output that does not need an input must not draw its stock below zero."""
    m = ree_world
    tables, par = ario_setup(m)
    export = np.zeros(m.n)
    export[[m.index("CHN", "ree_separation"), m.index("CHN", "magnets")]] = 1.0
    dest = np.array([0.0 if r == "CHN" else 1.0 for r in m.regions])
    dis = ario.no_disruption(m.n, len(m.regions), jnp.float64)._replace(
        export_mask=jnp.asarray(export), dest_mask=jnp.asarray(dest), cut_start=jnp.asarray(0.0)
    )
    rec = jax.device_get(jax.jit(ario.Ario().simulate, static_argnums=3)(tables, par, dis, 300))
    assert not rec.crashed.any()
    assert rec.stocks.min() >= 0.0
    # the cut bites: some partially critical buyer (c < 1) is input-constrained
    partial = (np.asarray(tables.crit) < 1).any(axis=0)
    assert rec.input_ratio[:, partial].min() < 0.99


def test_a_licence_counts_once():
    """A buyer with a 90 % supplier licensed at beta = 0.1 and a 10 % unrestricted supplier: the
    restricted link carries 0.1 x 0.9 = 0.09 of the order (not 0.047 as when beta both re-splits
    and scales), and the rest goes to the open supplier; the NumPy oracle agrees."""
    # 2 regions x 1 product; buyer = industry 1 (region 1); suppliers 0 (region 0) and 1.
    w = jnp.asarray([[0.0, 0.9], [0.0, 0.1]])
    N = jnp.asarray([[0.0, 100.0]])
    beta = jnp.asarray([[1.0, 0.1], [1.0, 1.0]])  # supplier 0 -> region 1 licensed at 0.1
    O = np.asarray(ario.split_orders(w, N, beta, 1))
    assert O[0, 1] == pytest.approx(9.0, rel=1e-15)
    assert O[1, 1] == pytest.approx(91.0, rel=1e-15)
    # with no open supplier the blocked part is not ordered at all
    O2 = np.asarray(ario.split_orders(w, N, jnp.asarray([[1.0, 0.1], [1.0, 0.5]]), 1))
    assert O2[:, 1] == pytest.approx([9.0, 5.0], rel=1e-15)
    prep = ref.prepare(np.array([[1.0, 0.9], [0.0, 0.1]]), np.ones((2, 2)), np.array([3.0, 3.0]), 2, 1)
    np.testing.assert_allclose(ref.licensed_orders(prep, np.asarray(w), np.asarray(N), np.asarray(beta)), O, rtol=1e-15)


def test_zero_day_loss_still_recovers(pymrio_test):
    """duration_days = 0 with recovery: the loss starts recovering on its first day."""
    dis = _event(pymrio_test, {("reg3", "mining"): 0.5}, 5, 0, 10)._replace(
        loss_start=jnp.array([6.0]), loss_days=jnp.array([0.0]), loss_recovery=jnp.array([10.0])
    )
    delta = np.array([float(ario.capacity_loss(dis, jnp.asarray(t), round6_values=False).max()) for t in range(20)])
    np.testing.assert_allclose(delta[:6], 0.0)
    np.testing.assert_allclose(delta[6:16], 0.5 * (1 - np.arange(1, 11) / 10), atol=1e-15)
    np.testing.assert_allclose(delta[16:], 0.0)


def test_half_criticality_halves_the_input_shortfall(pymrio_test):
    """With c = 0.5 on the one binding input, the production cut is half the stock shortfall:
    X = X^opt (1 - 0.5 (1 - rho)), checked on the day of the deepest cut."""
    import dataclasses

    m = pymrio_test
    imp, k, d, tau, T = CASE_B
    dis = _event(m, imp, k, d, tau)
    crit = np.ones((len(m.sectors), m.n))
    crit[:, :] = 0.5
    rec, X0 = _simulate(dataclasses.replace(m, criticality=crit), dis, T)
    tables, par = ario_setup(m)
    j = m.index("reg3", "construction")
    t = 40
    Xopt = min(rec.demand[t, j], rec.production_capacity[t, j])
    C = 0.8 * 90.0 * np.asarray(tables.AS)[:, j] * Xopt
    rho = np.where(C > 0, np.minimum(1, rec.stocks[t][:, j] / np.where(C > 0, C, 1)), 1)
    assert rho.min() < 0.999  # the constraint binds here
    assert rec.production[t, j] == pytest.approx(Xopt * (1 - 0.5 * (1 - rho.min())), rel=1e-12)


def test_gradients_flow_through_the_kernel(pymrio_test):
    """DESIGN §9: losses are differentiable in the shock and model parameters. With the
    published model (no 6-decimal rounding, no allclose short-cuts) the autodiff derivative of
    total lost output with respect to the loss fraction and to psi matches a central finite
    difference (step 1e-6; float64 truncation and rounding error well below 1e-5 relative).
    With BoARIO's rounding the function is a staircase at the 1e-6 scale, so finite differences
    are meaningless there; its straight-through gradient must stay close to the smooth one."""
    m = pymrio_test
    tables, par = ario_setup(m)
    base = _event(m, {("reg3", "mining"): 0.5, ("reg1", "manufactoring"): 0.3}, 5, 20, 30)
    hit = jnp.asarray(np.asarray(base.loss) > 0, jnp.float64)

    def total_loss(frac, psi, model):
        dis = base._replace(loss=hit * frac)
        rec = model.simulate(tables, par._replace(psi=psi), dis, 80)
        return jnp.sum(tables.X0[None, :] - rec.production)

    published, boario = ario.Ario(boario_quirks=False), ario.Ario(boario_quirks=True)
    f = jax.jit(lambda a, b: total_loss(a, b, published))
    g_frac, g_psi = jax.jit(jax.grad(lambda a, b: total_loss(a, b, published), argnums=(0, 1)))(0.4, 0.8)
    h = 1e-6
    fd_frac = (f(0.4 + h, 0.8) - f(0.4 - h, 0.8)) / (2 * h)
    fd_psi = (f(0.4, 0.8 + h) - f(0.4, 0.8 - h)) / (2 * h)
    assert np.isfinite(g_frac) and g_frac > 0  # a deeper cut loses more output
    assert float(g_frac) == pytest.approx(float(fd_frac), rel=1e-5)
    assert float(g_psi) == pytest.approx(float(fd_psi), rel=1e-4, abs=1e-6 * abs(float(fd_frac)))
    g_boario = jax.jit(jax.grad(lambda a: total_loss(a, 0.8, boario)))(0.4)
    assert float(g_boario) == pytest.approx(float(g_frac), rel=0.05)
