"""The lever channels in closed form: rationing priority, public reserves (rate limit, quota,
entitlement, conservation) and price floors, in the kernel and in the oracle, on small
hand-built tables; and the trace-time skipping that keeps runs without levers bit for bit.

Tolerances. The closed forms below are a handful of float64 operations on numbers of order
0.01-1 away from the model's own arithmetic (sums in another order), so they hold to a few
ulps: 1e-12 relative is a bound with three orders of margin, and far below any modelling
difference (a wrong share or a missed tier moves results by 1e-2 or more). Conservation of a
reserve sums up to ~200 daily terms: 1e-9 relative, as the brief's bound.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ario_setup
from test_reference_channels import DaySchedule, assert_agree, neutral_arrays, run_both

from stress.mrio.tables import Mrio, validate
from stress.propagation import ario
from stress.propagation import reference as ref
from stress.shocks.base import NONE, Composite

RTOL = 1e-12


def toy() -> Mrio:
    """CHN, USA, EU x ore, goods: every region buys ore from CHN and from its own ore sector."""
    Z = np.array(
        [
            # CHN/ore CHN/goods USA/ore USA/goods EU/ore EU/goods
            [10.0, 40.0, 5.0, 15.0, 4.0, 12.0],  # CHN/ore
            [5.0, 20.0, 2.0, 10.0, 2.0, 8.0],  # CHN/goods
            [0.0, 3.0, 8.0, 30.0, 1.0, 2.0],  # USA/ore
            [4.0, 6.0, 6.0, 25.0, 3.0, 5.0],  # USA/goods
            [1.0, 2.0, 1.0, 3.0, 6.0, 20.0],  # EU/ore
            [2.0, 3.0, 2.0, 4.0, 5.0, 22.0],  # EU/goods
        ]
    )
    Y = np.array([[30.0, 20.0, 10.0], [100.0, 60.0, 40.0], [10.0, 40.0, 5.0], [30.0, 150.0, 20.0], [5.0, 8.0, 30.0], [20.0, 30.0, 120.0]])
    x = Z.sum(axis=1) + Y.sum(axis=1)
    return validate(Mrio("toy", ("CHN", "USA", "EU"), ("ore", "goods"), ("fd",), Z, Y, x, "USD"))


ORE = 0
CHN_ORE, USA_ORE, USA_GOODS, EU_ORE = 0, 2, 3, 4


def both(mrio, a: dict, T: int):
    """Kernel record (NumPy) and oracle dict of one run (eps = sigma = 0)."""
    rec, want, prep = run_both(mrio, a, T, eps=0.0, sigma=0.0)
    assert not want["crashed"] and not np.asarray(rec.crashed).any()
    return {k: np.asarray(v) for k, v in rec._asdict().items()}, want, prep


def outage(a: dict, factor: float, days: int) -> None:
    """Ore capacity of every region at ``factor`` for ``days`` days from day 0."""
    a["capacity"][:days, [CHN_ORE, USA_ORE, EU_ORE]] = factor


# --------------------------------------------------------------------------- priority


@pytest.mark.parametrize("factor", [0.5, 0.1])
def test_priority_buyer_is_served_first(factor):
    """CHN/ore at ``factor`` of capacity on day 0 (stocks full, so output is capacity):
    USA/goods, a priority buyer, gets ``min(O, X)``; every other client the share
    ``(X - O) / (D - O)`` of its order (0 once the priority order takes all)."""
    m = toy()
    n, R, T = m.n, 3, 3
    a = neutral_arrays(n, R, T)
    a["capacity"][:, CHN_ORE] = factor
    a["priority"][:, USA_GOODS] = 1.0
    a["honour"][:] = 1.0
    for rec in both(m, a, T)[:2]:
        X0 = m.x / 365.0
        X, D = rec["production"][0, CHN_ORE], rec["demand"][0, CHN_ORE]
        np.testing.assert_allclose(X, factor * X0[CHN_ORE], rtol=RTOL)
        np.testing.assert_allclose(D, X0[CHN_ORE], rtol=RTOL)
        O, Y = m.Z[CHN_ORE] / 365.0, m.Y[CHN_ORE] / 365.0  # day-0 orders are Z0
        rated = min(O[USA_GOODS], X)
        so = max(X - O[USA_GOODS], 0.0) / (D - O[USA_GOODS])
        want = np.array([(O[0] + O[1] + Y[0]) * so, rated + (O[2] + Y[1]) * so, (O[4] + O[5] + Y[2]) * so])
        np.testing.assert_allclose(rec["deliveries"][0, CHN_ORE], want, rtol=RTOL)
        np.testing.assert_allclose(rec["deliveries"][0, CHN_ORE].sum(), X, rtol=RTOL)  # nothing lost
    if factor == 0.1:  # X < the rated order: the rated buyer takes all, the others nothing
        assert rec["deliveries"][0, CHN_ORE, 0] == 0.0 and rec["deliveries"][0, CHN_ORE, 2] == 0.0


def test_a_supplier_that_does_not_honour_rated_orders_rations_everyone_alike():
    """The same shortage with CHN/ore not honouring rated orders (every other supplier does): every
    client of CHN/ore, the rated USA/goods included, gets X / D of its order."""
    m = toy()
    n, R, T = m.n, 3, 3
    a = neutral_arrays(n, R, T)
    a["capacity"][:, CHN_ORE] = 0.5
    a["priority"][:, USA_GOODS] = 1.0
    a["honour"][:] = 1.0
    a["honour"][:, CHN_ORE] = 0.0
    for rec in both(m, a, T)[:2]:
        X, D = rec["production"][0, CHN_ORE], rec["demand"][0, CHN_ORE]
        O, Y = m.Z[CHN_ORE] / 365.0, m.Y[CHN_ORE] / 365.0
        share = X / D
        want = np.array([(O[0] + O[1] + Y[0]) * share, (O[2] + O[3] + Y[1]) * share, (O[4] + O[5] + Y[2]) * share])
        np.testing.assert_allclose(rec["deliveries"][0, CHN_ORE], want, rtol=RTOL)


def test_ration_shares_per_buyer():
    """``ario._ration`` buyer by buyer: rated orders first, the rest pro rata, none without rated
    buyers (exactly ``X / D``)."""
    O = jnp.array([[2.0, 3.0, 5.0], [1.0, 1.0, 1.0]])
    X, D = jnp.array([6.0, 0.5]), jnp.array([12.0, 5.0])  # D includes final demand 2 of each
    served, so = ario._ration(X, D, O, jnp.array([0.0, 1.0, 0.0]), jnp.ones(2))
    # supplier 0: rated order 3 <= X = 6: served fully, the other 9 of demand share 3
    np.testing.assert_allclose(np.asarray(served[0]), [3 / 9, 1.0, 3 / 9], rtol=RTOL)
    # supplier 1: rated order 1 > X = 0.5: half of it, nothing for the others
    np.testing.assert_allclose(np.asarray(served[1]), [0.0, 0.5, 0.0], rtol=RTOL)
    np.testing.assert_allclose(np.asarray(so), [3 / 9, 0.0], rtol=RTOL)
    served0, so0 = ario._ration(X, D, O, jnp.zeros(3), jnp.ones(2))
    np.testing.assert_array_equal(np.asarray(so0), np.asarray(X / D))
    np.testing.assert_array_equal(np.asarray(served0), np.broadcast_to(np.asarray(X / D)[:, None], (2, 3)))
    # a supplier that does not honour rated orders (supplier 1) rations everyone alike
    served1, so1 = ario._ration(X, D, O, jnp.array([0.0, 1.0, 0.0]), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(np.asarray(served1[1]), np.full(3, 0.5 / 5.0), rtol=RTOL)
    np.testing.assert_allclose(np.asarray(served1[0]), np.asarray(served[0]), rtol=RTOL)


# --------------------------------------------------------------------------- reserves


def reserve_arrays(
    m: Mrio, T: int, *, size: float, rate: float, refill: float = 0.0, trigger: float = 0.9, cut: tuple = (0.3, 20)
) -> dict:
    """An ore outage (``cut``: capacity factor and days; 30 % for 20 days) and an ore reserve
    every ore buyer may draw on below ``trigger`` of its target stock."""
    a = neutral_arrays(m.n, 3, T)
    outage(a, *cut)
    a["reserve_size"][:, ORE] = size
    a["release_rate"][:, ORE] = rate
    a["refill_rate"][:, ORE] = refill
    a["release_trigger"][:, ORE, :] = trigger
    return a


def _prep(m: Mrio) -> ref.Prepared:
    return ref.prepare(m.Z, m.Y, m.x, 3, 2)


def test_first_release_is_the_rate_or_the_gap():
    """Day 0: the release is ``min(rate, total gap)`` of the entitled buyers (trigger 1: every
    buyer below target), the gap read from the same run without a reserve (the release comes
    after production and the stock update)."""
    m = toy()
    T = 3
    prep = _prep(m)
    a0 = reserve_arrays(m, T, size=0.0, rate=0.0, trigger=1.0)
    _, plain, _ = both(m, a0, T)
    target = np.where(prep.theta, prep.s * prep.AS * prep.X0[None, :], 0.0)
    gap = np.maximum(target[ORE] - plain["stocks"][1, ORE], 0.0).sum()
    assert gap > 0
    for rate in (0.3 * gap, 3.0 * gap):
        a = reserve_arrays(m, T, size=10 * gap, rate=rate, trigger=1.0)
        for rec in both(m, a, T)[:2]:
            np.testing.assert_allclose(rec["released"][0].sum(), min(rate, gap), rtol=RTOL)
            np.testing.assert_allclose(rec["reserve_level"][0], 10 * gap - min(rate, gap), rtol=RTOL)


def test_reserve_is_conserved_and_refills():
    """Over 400 days the reserve releases, runs dry and refills once stocks are back: released = initial size - final
    level + refills (1e-9 relative), and the release never exceeds the rate."""
    m = toy()
    T = 400
    prep = _prep(m)
    size = 0.05 * prep.S0[ORE].sum()
    rate = size / 4
    a = reserve_arrays(m, T, size=size, rate=rate, refill=size / 20, cut=(0.1, 60))
    rec_k, want, _ = run_both(m, a, T, eps=0.0, sigma=0.0)
    assert_agree(rec_k, want)  # kernel == oracle through release, dry spell and refill
    for rec in both(m, a, T)[:2]:
        released, level, refilled = rec["released"].sum(axis=1), rec["reserve_level"], rec["refilled"]
        assert (released > 0).any() and (level <= 1e-12 * size).any() and (refilled > 0).any()  # dry: to rounding
        np.testing.assert_allclose(released.sum(), size - level[-1] + refilled.sum(), rtol=1e-9)
        assert released.max() <= rate * (1 + RTOL)
        assert not np.any((released > 0) & (refilled > 0))  # buys back only when nobody is short
        # day by day: level(t) = level(t-1) - released(t) + refilled(t)
        before = np.concatenate([[size], level[:-1]])
        np.testing.assert_allclose(level, before - released + refilled, rtol=1e-9, atol=1e-12 * size)


def test_quota_caps_a_regions_share():
    """USA's quota 0.1: it owns a tenth of the reserve, so its buyers draw at most
    ``0.1 reserve_size`` in total (exactly that once its gaps have used it up: a national stock),
    then nothing while the pooled regions go on drawing; no day releases more than ``avail``."""
    m = toy()
    T = 60
    prep = _prep(m)
    size = 0.2 * prep.S0[ORE].sum()
    rate = size / 40
    a = reserve_arrays(m, T, size=size, rate=rate, trigger=1.0)
    a["release_quota"][:, ORE, 1] = 0.1
    for rec in both(m, a, T)[:2]:
        avail = np.minimum(np.concatenate([[size], rec["reserve_level"][:-1]]), rate)
        usa, total = rec["released"][:, 1], rec["released"].sum(axis=1)
        assert np.all(total <= avail * (1 + RTOL))
        cum = np.cumsum(usa)
        assert np.all(cum <= 0.1 * size * (1 + 1e-9))
        done = np.flatnonzero(cum >= 0.1 * size * (1 - 1e-9))
        assert done.size and done[0] < T - 5  # the entitlement binds inside the run ...
        after = slice(done[0] + 1, None)
        assert np.all(usa[after] <= 1e-12 * size) and total[after].sum() > 0  # ... then (to rounding) nothing, while the others draw on


def test_quotas_above_one_in_total_do_not_overdraw():
    """Quotas of 0.6 in every region (1.8 in total): the second tier is scaled to the day's
    release, which is then exactly ``min(reserve, rate)`` while gaps exceed it."""
    m = toy()
    T = 10
    size = 0.2 * _prep(m).S0[ORE].sum()
    a = reserve_arrays(m, T, size=size, rate=size / 40, trigger=1.0)
    a["release_quota"][:, ORE, :] = 0.6
    for rec in both(m, a, T)[:2]:
        np.testing.assert_allclose(rec["released"][0].sum(), size / 40, rtol=RTOL)


def test_first_tier_is_served_first():
    """USA/goods first: while the release cannot cover its gap alone, it takes all of it."""
    m = toy()
    T = 5
    size = 0.2 * _prep(m).S0[ORE].sum()
    a = reserve_arrays(m, T, size=size, rate=1e-6 * size, trigger=1.0)  # a trickle
    a["release_first"][:, ORE, USA_GOODS] = 1.0
    for rec in both(m, a, T)[:2]:
        np.testing.assert_allclose(rec["released"][0], [0.0, 1e-6 * size, 0.0], rtol=RTOL, atol=0)


def test_buyers_without_trigger_get_nothing():
    """EU's buyers have trigger 0: not entitled, never served, while the others are, even with
    EU's release price always reached (0.5)."""
    m = toy()
    T = 120
    size = 0.05 * _prep(m).S0[ORE].sum()
    a = reserve_arrays(m, T, size=size, rate=size / 4, refill=size / 20)
    a["release_trigger"][:, ORE, 4:] = 0.0
    a["release_price"][:, ORE, 2] = 0.5
    for rec in both(m, a, T)[:2]:
        assert np.all(rec["released"][:, 2] == 0.0)
        assert (rec["released"][:, :2] > 0).any()
    # buyer by buyer on one day: the release leaves an untriggered buyer's stock as it was
    tables, _ = ario_setup(m)
    dis = DaySchedule(**{k: jnp.asarray(v) for k, v in a.items()})
    ch = dis.channels(jnp.asarray(0))
    S = tables.s * tables.AS * tables.X0[None, :] * 0.5  # everyone at half its target
    out = ario.release_reserve(tables, ch, S, jnp.full((2,), size), jnp.zeros((2, 3)))
    assert np.all(np.asarray(out.S[ORE, 4:]) == np.asarray(S[ORE, 4:]))
    assert np.all(np.asarray(out.S[ORE, :4]) > np.asarray(S[ORE, :4]))


def test_price_trigger_releases_without_a_stock_trigger():
    """A release price of 1.2 in EU: with CHN/ore at price 2 (EU's ore index above 1.2) EU's
    buyers draw although their stocks are above the trigger share; at price 1 they do not."""
    m = toy()
    T = 10
    size = 0.2 * _prep(m).S0[ORE].sum()
    a = reserve_arrays(m, T, size=size, rate=size / 40, trigger=0.01)  # stock trigger never fires
    a["release_price"][:, ORE, 2] = 1.2
    for rec in both(m, a, T)[:2]:
        assert np.all(rec["released"] == 0.0)
    a["price"][:, CHN_ORE] = 2.0  # EU's ore index: (2 * 16 + 3 + 26) / 45 = 1.36 >= 1.2 (USA's: 1.31, no release price)
    for rec in both(m, a, T)[:2]:
        assert rec["released"][0, 2] > 0 and np.all(rec["released"][:, :2] == 0.0)


# --------------------------------------------------------------------------- floor


def test_floor_pays_the_gap_to_the_floor():
    """CHN/ore at price 0.8 under a floor of 1, output unconstrained: ``0.2 X0`` a day to CHN;
    a floor below the price pays nothing."""
    m = toy()
    T = 30
    a = neutral_arrays(m.n, 3, T)
    a["price"][:, CHN_ORE] = 0.8
    a["floor"][:, CHN_ORE] = 1.0
    a["floor"][:, USA_ORE] = 0.9  # below USA/ore's price 1
    X0 = m.x / 365.0
    for rec in both(m, a, T)[:2]:
        np.testing.assert_allclose(rec["production"], np.broadcast_to(X0, (T, m.n)), rtol=RTOL)
        np.testing.assert_allclose(rec["floor_paid"][:, 0], 0.2 * X0[CHN_ORE], rtol=1e-10)
        assert np.all(rec["floor_paid"][:, 1:] == 0.0)


# --------------------------------------------------------------------------- skipping, float32


class Lever(NamedTuple):
    """A shock part that sets lever channels to given constant values (others untouched)."""

    values: dict

    def channels(self, t):
        return NONE._replace(**self.values)


def test_neutral_levers_change_nothing_bit_for_bit(ree_world):
    """The steps left out when no shock touches the levers are exact no-ops at neutral values:
    a path with a part that touches every lever channel at its neutral value gives the same
    bits as the path without it (so leaving the steps out changes nothing either)."""
    m = ree_world
    tables, par = ario_setup(m, demand_elasticity=0.7, substitution_elasticity=1.5)
    n, R = m.n, len(m.regions)
    p = n // R
    dt = jnp.float64
    cut = ario.no_disruption(n, R, dt)._replace(
        export_mask=jnp.asarray([1.0 if s in ("magnets", "ree_separation") and r == "CHN" else 0.0 for r in m.regions for s in m.sectors], dt),
        dest_mask=jnp.ones((R,), dt),
        cut_start=jnp.asarray(0.0, dt),
        resume_day=jnp.full((R, 1), 40.0, dt),
    )
    prices = Lever({"price": jnp.linspace(0.9, 1.2, n, dtype=dt)})
    neutral_levers = Lever(
        {
            "priority": jnp.zeros((n,), dt),
            "honour": jnp.zeros((n,), dt),
            "floor": jnp.zeros((n,), dt),
            "reserve_size": jnp.zeros((p,), dt),
            "release_rate": jnp.zeros((p,), dt),
            "release_trigger": jnp.zeros((p, n), dt),
            "release_price": jnp.full((p, R), jnp.inf, dt),
            "release_first": jnp.zeros((p, n), dt),
            "release_quota": jnp.ones((p, R), dt),
            "refill_rate": jnp.zeros((p,), dt),
        }
    )
    T = 100
    sim = jax.jit(ario.Ario().simulate, static_argnums=3)
    plain = jax.device_get(sim(tables, par, Composite((cut, prices)), T))
    levers = jax.device_get(sim(tables, par, Composite((cut, prices, neutral_levers)), T))
    assert Composite((cut, prices, neutral_levers)).touched(0) >= {"priority", "floor", "release_rate"}
    assert np.abs(np.asarray(plain.production) - np.asarray(tables.X0)[None]).max() > 1e-3 * float(tables.X0.max())  # the path moves
    for name in plain._fields:
        np.testing.assert_array_equal(getattr(levers, name), getattr(plain, name), err_msg=name)
    for name in ("released", "reserve_level", "refilled", "floor_paid"):
        assert not np.asarray(getattr(plain, name)).any()


def test_float32_levers_run():
    """A float32 run with every lever acts and stays finite, close to float64 (5e-3 of each
    series' scale: float32 carries ~1e-7 relative per step, amplified by the dynamics)."""
    m = toy()
    T = 120
    size = 0.05 * _prep(m).S0[ORE].sum()
    a = reserve_arrays(m, T, size=size, rate=size / 4, refill=size / 20)
    a["priority"][:, USA_GOODS] = 1.0
    a["honour"][:] = 1.0
    a["floor"][:, CHN_ORE] = 1.1
    out = {}
    for dt in (jnp.float32, jnp.float64):
        tables = ario.build_tables(m, inventory_days=90.0, year_to_day=365.0, boario_quirks=True, dtype=dt)
        par = ario.build_params(psi=0.8, inventory_tau=60.0, alpha_base=1.0, alpha_max=1.25, alpha_tau=365.0, dtype=dt)
        dis = DaySchedule(**{k: jnp.asarray(v, dt) for k, v in a.items()})
        out[dt] = jax.device_get(jax.jit(ario.Ario().simulate, static_argnums=3)(tables, par, dis, T))
    r32, r64 = out[jnp.float32], out[jnp.float64]
    assert r32.released.dtype == np.float32 and r32.reserve_level.dtype == np.float32
    assert (r64.released > 0).any() and (r64.floor_paid > 0).any()
    for name in ("production", "stocks", "released", "reserve_level", "floor_paid"):
        got, exp = np.asarray(getattr(r32, name), float), np.asarray(getattr(r64, name))
        assert np.all(np.isfinite(got)), name
        assert np.abs(got - exp).max() <= 5e-3 * np.abs(exp).max(), name
