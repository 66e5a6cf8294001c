"""Tests of the plain-NumPy ARIO reference (stress.propagation.reference).

The reference values come from ARIO.md §10 (BoARIO 0.7.2 ``ARIOPsiModel`` on
``pymrio.load_test()``). They are printed decimals, i.e. BoARIO's values ROUNDED to the
digits shown (e.g. 0.71898576 for a true 0.7189857551...), so the natural tolerance is
half a unit in the last printed digit: anything tighter would test the printout, anything
looser would let a real discrepancy pass. For the big sums (printed to 0.01) that is
0.005 absolute, i.e. about 6e-10 relative, within the 1e-9 asked for; for ratios printed
to 8-10 decimals it is 5e-9 to 5e-11 absolute, at most 6.8e-9 relative (< rtol 1e-8).
Values printed as "1.0", "0.5", "0.1" are exact by construction (X = X0 (1 - delta0) on a
capacity-bound day with alpha = 1, or the undisturbed state), so they get a float64
round-off tolerance (1e-12 relative) instead. ARIO.md reports agreement between a
NumPy re-implementation and BoARIO at ~6e-15 of each series' scale, far below all of
these tolerances.
"""

from __future__ import annotations

import numpy as np
import pymrio
import pytest

from stress.errors import InputError
from stress.propagation import reference as ref

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def table():
    """pymrio test MRIO, re-sorted lexicographically as BoARIO does (ARIO.md §2.1)."""
    m = pymrio.load_test().calc_all()
    idx = m.Z.index.sort_values()
    Z = m.Z.loc[idx, idx]
    Y = m.Y.loc[idx].sort_index(axis=1)  # columns by (region, category)
    x = m.x.loc[idx].iloc[:, 0]
    A = m.A.loc[idx, idx]
    regions = sorted(idx.get_level_values(0).unique())
    sectors = sorted(idx.get_level_values(1).unique())
    assert sectors == [
        "construction",
        "electricity",
        "food",
        "manufactoring",
        "mining",
        "other",
        "trade",
        "transport",
    ]
    assert list(idx) == [(r, s) for r in regions for s in sectors]  # region-major
    return {"Z": Z, "Y": Y, "x": x, "A": A, "idx": idx, "R": len(regions), "p": len(sectors)}


@pytest.fixture(scope="module")
def prep(table):
    return ref.prepare(
        table["Z"].values,
        table["Y"].values,
        table["x"].values,
        table["R"],
        table["p"],
        A=table["A"].values,
    )


def _ind(table, region, sector):
    return table["idx"].get_loc((region, sector))


def _impact(table, prep, impact):
    d0 = np.zeros(prep.n)
    for (r, s), v in impact.items():
        d0[_ind(table, r, s)] = v
    return d0


def _run(table, prep, impact, k, d, tau, T):
    sched = ref.capacity_loss_schedule(_impact(table, prep, impact), k, d, tau, T)
    return ref.simulate(prep, T, sched)


CASE_A = dict(impact={("reg1", "manufactoring"): 0.5, ("reg2", "electricity"): 0.3}, k=10, d=5, tau=30, T=150)
CASE_B = dict(
    impact={
        ("reg3", "mining"): 0.9,
        ("reg3", "manufactoring"): 0.6,
        ("reg1", "electricity"): 0.4,
    },
    k=5,
    d=20,
    tau=60,
    T=300,
)
STEERING = dict(impact={("reg3", "mining"): 0.5}, k=5, d=60, tau=90, T=365)


@pytest.fixture(scope="module")
def case_a(table, prep):
    return _run(table, prep, **CASE_A)


@pytest.fixture(scope="module")
def case_b(table, prep):
    return _run(table, prep, **CASE_B)


@pytest.fixture(scope="module")
def steering(table, prep):
    return _run(table, prep, **STEERING)


def assert_printed(value, printed: str):
    """|value - printed| <= half a unit in the last printed digit (plus float slack)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    target = float(printed)
    tol = 0.5 * 10.0 ** (-decimals) * (1 + 1e-9)
    assert abs(value - target) <= tol, f"{value!r} vs printed {printed} (tol {tol:g})"


def ratio(out, prep, t, i):
    return out["production"][t, i] / prep.X0[i]


# --------------------------------------------------------------------------- preprocessing


def test_preprocessing_and_fixed_point_inputs(prep):
    # All 384 input-mask entries pass under the units quirk (ARIO.md §2.3) ...
    assert prep.theta.shape == (8, 48) and prep.theta.all()
    # ... while the coefficient reading (a^S > 1e-5) would drop 9 of them.
    assert int((prep.AS <= 1e-5).sum()) == 9
    # D(0) = Z0 1 + y equals X0, and A^S X0 reproduces Isum Z0 (ARIO.md §3).
    np.testing.assert_allclose(prep.Z0.sum(1) + prep.y, prep.X0, rtol=1e-14)
    np.testing.assert_allclose(prep.AS * prep.X0, prep.Isum @ prep.Z0, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(prep.S0, 90.0 * prep.AS * prep.X0)
    assert prep.kappa_inv == 1 / 60 and prep.kappa_alpha == 1 / 365


def test_prepare_rejects_bad_input(table):
    Z, Y, x = table["Z"].values, table["Y"].values, table["x"].values
    with pytest.raises(InputError):
        ref.prepare(Z, Y, x, 5, 8)
    with pytest.raises(InputError):
        ref.prepare(Z, Y[:, :-1], x, 6, 8)
    with pytest.raises(InputError):
        ref.prepare(Z, Y, x, 6, 8, A=table["A"].values * 2)


# --------------------------------------------------------------------------- schedule


def test_schedule_example_of_ario_md():
    # ARIO.md §4: k=7, d=2, tau=3, delta0=0.6: 0 to day 7, 0.6 on 8-11, 0.4, 0.2, 0 from 14.
    s = ref.capacity_loss_schedule([0.6], 7, 2, 3, 20)[:, 0]
    expected = [0.0] * 8 + [0.6] * 4 + [0.4, 0.2] + [0.0] * 6
    np.testing.assert_array_equal(s, expected)


def test_schedule_rounding_and_lag():
    # delta0=0.9, tau=7 gives 0.9 * 2/7 = 0.257142857... -> 0.257143 (6-decimal rounding).
    k, d, tau = 3, 4, 7
    s = ref.capacity_loss_schedule([0.9, 0.0], k, d, tau, 30)
    assert s[k, 0] == 0.0 and s[k + 1, 0] == 0.9 and s[k + d + 2, 0] == 0.9
    assert s[k + d + 2 + 5, 0] == 0.257143
    assert s[k + d + 2 + tau, 0] == 0.0 and not s[k + d + 3 + tau :].any()
    assert not s[:, 1].any()
    # edge case d = 1, tau = 1, delta = 1: full loss on steps k+1 .. k+d+2 = 2 .. 4
    e = ref.capacity_loss_schedule([1.0], 1, 1, 1, 8)[:, 0]
    np.testing.assert_array_equal(e, [0, 0, 1, 1, 1, 0, 0, 0])


def test_schedule_several_events():
    a = ref.capacity_loss_schedule([0.5, 0.0], 2, 3, 4, 40)
    b = ref.capacity_loss_schedule([0.2, 0.7], 15, 2, 5, 40)
    both = ref.capacity_loss_schedule(T=40, events=[([0.5, 0.0], 2, 3, 4), ([0.2, 0.7], 15, 2, 5)])
    np.testing.assert_array_equal(both, np.maximum(a, b))
    # tracked windows [2, 9] and [9, ...] overlap: BoARIO 0.7.2 would crash.
    with pytest.raises(InputError):
        ref.capacity_loss_schedule(T=40, events=[([0.5], 2, 3, 4), ([0.2], 9, 2, 5)])
    ok = ref.capacity_loss_schedule(T=40, events=[([0.5], 2, 3, 4), ([0.2], 9, 2, 5)], allow_overlap=True)
    assert ok.shape == (40, 1)
    with pytest.raises(InputError):
        ref.capacity_loss_schedule([1.2], 2, 3, 4, 40)
    with pytest.raises(InputError):
        ref.capacity_loss_schedule([0.2], 0, 3, 4, 40)


# --------------------------------------------------------------------------- ARIO.md §10


def test_case_a(table, prep, case_a):
    i = _ind(table, "reg1", "manufactoring")
    np.testing.assert_allclose(ratio(case_a, prep, 10, i), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ratio(case_a, prep, 11, i), 0.5, rtol=1e-12)
    assert_printed(ratio(case_a, prep, 17, i), "0.5010187218")
    assert_printed(ratio(case_a, prep, 18, i), "0.5178940869")
    assert_printed(ratio(case_a, prep, 40, i), "0.8893935739")
    assert_printed(ratio(case_a, prep, 149, i), "1.000125224")
    j = _ind(table, "reg2", "mining")
    assert_printed(ratio(case_a, prep, 17, j), "0.8922711196")
    assert_printed(ratio(case_a, prep, 40, j), "0.972288064")
    assert_printed((prep.X0 - case_a["production"]).sum(), "8592804.69")
    assert_printed(case_a["final_demand_undist"].sum(), "8499505.23")
    # the same total, grouped by consumer region x product
    np.testing.assert_allclose(case_a["final_demand_unmet"].sum(), case_a["final_demand_undist"].sum(), rtol=1e-13)
    assert_printed(case_a["overproduction"].max(), "1.00714038396")
    assert not case_a["crashed"]


def test_case_b(table, prep, case_b):
    i = _ind(table, "reg3", "mining")
    np.testing.assert_allclose(ratio(case_b, prep, 6, i), 0.1, rtol=1e-12)
    assert_printed(ratio(case_b, prep, 28, i), "0.11651766")
    assert_printed(ratio(case_b, prep, 40, _ind(table, "reg3", "construction")), "0.9751295411")
    assert_printed((prep.X0 - case_b["production"]).sum(), "29487099.14")
    assert_printed(case_b["overproduction"].max(), "1.02928477271")
    S0 = prep.S0
    assert (S0 > 0).all()
    assert_printed((case_b["stocks"] / S0[None]).min(), "0.71898576")
    assert not case_b["crashed"]


def test_steering_default(table, prep, steering):
    cons = steering["production"][:, _ind(table, "reg3", "construction")]
    cons = cons / prep.X0[_ind(table, "reg3", "construction")]
    assert int(np.argmin(cons)) == 95
    assert_printed(cons.min(), "0.90741708")
    food = steering["production"][:, _ind(table, "reg3", "food")]
    food = food / prep.X0[_ind(table, "reg3", "food")]
    assert int(np.argmin(food)) == 97
    assert_printed(food.min(), "0.93672139")
    i = _ind(table, "reg3", "mining")
    assert_printed(ratio(steering, prep, 67, i), "0.50991045")
    assert_printed(ratio(steering, prep, 68, i), "0.51573254")


def test_input_mask_quirk_matters(table, prep):
    """ARIO.md §10.4: reading the mask as a^S > 1e-5 moves case B by ~3 % of X0."""
    quirk = _run(table, prep, **CASE_B)["production"] / prep.X0
    coef = ref.Prepared(**{**prep.__dict__, "theta": prep.AS > 1e-5})
    wrong = _run(table, coef, **CASE_B)["production"] / prep.X0
    assert 0.01 < np.abs(quirk - wrong).max() < 0.05


# --------------------------------------------------------------------------- invariants


def test_fixed_point_without_event(prep):
    out = ref.simulate(prep, 100)
    X0 = np.broadcast_to(prep.X0, (100, prep.n))
    np.testing.assert_allclose(out["production"], X0, rtol=1e-12)
    np.testing.assert_allclose(out["production_capacity"] / prep.X0, 1.0, rtol=1e-12)
    S0 = np.broadcast_to(prep.S0, out["stocks"].shape)
    np.testing.assert_allclose(out["stocks"], S0, rtol=1e-12)
    np.testing.assert_allclose(out["overproduction"], 1.0, rtol=1e-12)
    assert np.abs(out["final_demand_undist"]).max() <= 1e-12 * prep.y.max()


def test_beta_ones_is_bit_identical(table, prep, case_a):
    T = CASE_A["T"]
    sched = ref.capacity_loss_schedule(_impact(table, prep, CASE_A["impact"]), CASE_A["k"], CASE_A["d"], CASE_A["tau"], T)
    ones = np.ones((T, prep.n, prep.n_regions))
    out = ref.simulate(prep, T, sched, beta_schedule=ones)
    for key, val in case_a.items():
        np.testing.assert_array_equal(out[key], val, err_msg=key)


def test_crash_stops_loop(table):
    """psi * s < 1 lets use exceed the stock; a negative stock stops the run (ARIO.md §7)."""
    p2 = ref.prepare(
        table["Z"].values,
        table["Y"].values,
        table["x"].values,
        table["R"],
        table["p"],
        psi=0.1,
        inventory_days=2.0,
    )
    d0 = np.zeros(p2.n)
    d0[_ind(table, "reg3", "mining")] = 0.99
    T = 60
    out = ref.simulate(p2, T, ref.capacity_loss_schedule(d0, 5, 20, 10, T))
    assert out["crashed"]
    c = out["crash_step"]
    assert 5 < c < T - 1
    assert np.isfinite(out["production"][c]).all()
    assert np.isnan(out["production"][c + 1 :]).all()
    assert np.isnan(out["stocks"][c + 1 :]).all()


def _blocked_beta(prep, i_star):
    """beta with supplier i_star cut off from every region but its own."""
    b = np.ones((prep.n, prep.n_regions))
    b[i_star, :] = 0.0
    b[i_star, prep.region_of[i_star]] = 1.0
    return b


def test_blocking_a_supplier_reroutes_orders(table, prep):
    """Block (reg3, mining) exports from day tb, during case A's event.

    What must hold. Up to step tb-1 both runs see the same state, Delta and beta_t; only
    beta_next at step tb-1 differs. Hence S(tb), X(tb-1), alpha and the orders by product
    N(tb-1) are identical, and the new orders O(tb) = sigma * N differ only through the
    supplier shares sigma:
      * domestic buyers (reg3): weights unchanged, orders bit-identical;
      * foreign buyers j: w[i*, j] = 0, so O(tb)[i*, j] = 0 exactly; other products'
        blocks unchanged; within the mining block the shares renormalise, so
        sum_{i in mining} O(tb)[i, j] = N_mining,j (total conserved) and each other
        supplier i' gets O_ref[i', j] / (1 - sigma_ref[i*, j]) (orders shift to them).
    From tb on, foreign final demand addressed to i* is blocked, thus fully unmet.
    """
    i_star = _ind(table, "reg3", "mining")
    q = prep.sector_of[i_star]
    blk = prep.sector_of == q
    foreign = prep.region_of != prep.region_of[i_star]
    T, tb = 40, 20
    sched = ref.capacity_loss_schedule(_impact(table, prep, CASE_A["impact"]), CASE_A["k"], CASE_A["d"], CASE_A["tau"], T)
    beta = np.ones((T, prep.n, prep.n_regions))
    beta[tb:] = _blocked_beta(prep, i_star)

    s_ref = s_blk = ref.initial_state(prep)
    for t in range(tb):
        s_ref, r_ref = ref.step(prep, s_ref, t, sched[t])
        s_blk, r_blk = ref.step(prep, s_blk, t, sched[t], beta[t], beta[t + 1])
        for key in r_ref:
            np.testing.assert_array_equal(r_blk[key], r_ref[key], err_msg=f"{key} at {t}")
    np.testing.assert_array_equal(s_blk.S, s_ref.S)
    O_ref, O_blk = s_ref.O, s_blk.O

    # precondition: every foreign buyer has another mining supplier
    sig_ref = O_ref[i_star, foreign] / O_ref[blk][:, foreign].sum(0)
    assert (sig_ref > 0).all() and (sig_ref < 1).all()

    np.testing.assert_array_equal(O_blk[:, ~foreign], O_ref[:, ~foreign])
    np.testing.assert_array_equal(O_blk[~blk][:, foreign], O_ref[~blk][:, foreign])
    assert (O_blk[i_star, foreign] == 0).all()
    np.testing.assert_allclose(O_blk[blk][:, foreign].sum(0), O_ref[blk][:, foreign].sum(0), rtol=1e-13)
    others = blk.copy()
    others[i_star] = False
    np.testing.assert_allclose(O_blk[others][:, foreign], O_ref[others][:, foreign] / (1 - sig_ref)[None, :], rtol=1e-13)
    assert (O_blk[others][:, foreign] > O_ref[others][:, foreign]).all()

    # the block in force: foreign orders to i* stay zero, foreign final demand is unmet
    fd_foreign = prep.fd_region_of != prep.region_of[i_star]
    for t in range(tb, T):
        O_prev = s_blk.O
        s_blk, r_blk = ref.step(prep, s_blk, t, sched[t], beta[t], beta[min(t + 1, T - 1)])
        assert (s_blk.O[i_star, foreign] == 0).all()
        # demand seen by i*: domestic orders and domestic final demand only
        dom_demand = O_prev[i_star, ~foreign].sum() + prep.Y0[i_star, ~fd_foreign].sum()
        np.testing.assert_allclose(r_blk["demand"][i_star], dom_demand, rtol=1e-13)
        assert r_blk["production"][i_star] <= r_blk["demand"][i_star]
        # blocked final demand is lost (counted as unmet)
        assert r_blk["final_demand_undist"][i_star] >= prep.Y0[i_star, fd_foreign].sum()
        assert not r_blk["crashed"]

    # simulate() applies the same convention (orders at t use beta[t + 1])
    out = ref.simulate(prep, T, sched, beta)
    ref_out = ref.simulate(prep, T, sched)
    np.testing.assert_array_equal(out["production"][:tb], ref_out["production"][:tb])
    np.testing.assert_allclose(out["production"][-1], s_blk.X_prev, rtol=0, atol=0)


def test_order_totals_independent_of_beta_next(table, prep):
    """At any step, beta_next only re-splits N across suppliers: block totals are conserved."""
    i_star = _ind(table, "reg3", "mining")
    sched = ref.capacity_loss_schedule(_impact(table, prep, CASE_B["impact"]), CASE_B["k"], CASE_B["d"], CASE_B["tau"], 60)
    b = _blocked_beta(prep, i_star)
    state = ref.initial_state(prep)
    R, p, n = prep.n_regions, prep.n_sectors, prep.n
    for t in range(60):
        a, ra = ref.step(prep, state, t, sched[t], b, None)
        c, rc = ref.step(prep, state, t, sched[t], b, b)
        np.testing.assert_array_equal(a.S, c.S)
        np.testing.assert_array_equal(ra["production"], rc["production"])
        np.testing.assert_allclose(a.O.reshape(R, p, n).sum(0), c.O.reshape(R, p, n).sum(0), rtol=1e-13, atol=0)
        state = c
