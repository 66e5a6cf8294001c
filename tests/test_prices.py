"""Tariff matrices, Leontief cost-push prices and Chinese controlled content (host side, float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stress.errors import InputError
from stress.mrio import math as iomath
from stress.mrio.tables import Mrio, validate
from stress.shocks import content, prices

EPS = np.finfo(float).eps


def two_by_two() -> Mrio:
    """A hand-built 2-region x 2-sector table (CHN, USA x ore, goods), balanced by construction."""
    Z = np.array(
        [
            # CHN/ore CHN/goods USA/ore USA/goods
            [10.0, 40.0, 5.0, 15.0],  # CHN/ore
            [5.0, 20.0, 2.0, 10.0],  # CHN/goods
            [0.0, 3.0, 8.0, 30.0],  # USA/ore
            [4.0, 6.0, 6.0, 25.0],  # USA/goods
        ]
    )
    Y = np.array([[30.0, 20.0], [100.0, 60.0], [10.0, 40.0], [30.0, 150.0]])
    x = Z.sum(axis=1) + Y.sum(axis=1)
    return validate(Mrio("hand", ("CHN", "USA"), ("ore", "goods"), ("fd",), Z, Y, x, "USD"))


def three_regions() -> Mrio:
    """CHN, USA, EU x ore, goods, with no path from USA's inputs to CHN or EU: CHN and EU buy
    nothing from USA, so a tariff on CHN->USA reaches USA only."""
    R, S = 3, 2
    Z = np.zeros((R * S, R * S))
    blk = np.array([[5.0, 20.0], [3.0, 10.0]])
    for r in range(R):
        Z[r * S : r * S + S, r * S : r * S + S] = blk
    Z[0:2, 2:4] = [[4.0, 12.0], [1.0, 6.0]]  # CHN -> USA
    Z[0:2, 4:6] = [[2.0, 8.0], [1.0, 3.0]]  # CHN -> EU
    Z[4:6, 0:2] = [[1.0, 2.0], [0.5, 1.0]]  # EU -> CHN
    Y = np.full((R * S, R), 40.0)
    x = Z.sum(axis=1) + Y.sum(axis=1)
    return validate(Mrio("three", ("CHN", "USA", "EU"), ("ore", "goods"), ("fd",), Z, Y, x, "USD"))


def fixed_point_prices(mrio: Mrio, T: np.ndarray) -> np.ndarray:
    """Iterate the price equation p <- Atilde' p + v from p = v until it stops moving."""
    reg = prices.region_of_industry(mrio)
    At = mrio.A * (1.0 + T[:, reg])
    v = prices.unit_cost_value_added(mrio)
    p = v.copy()
    for _ in range(10_000):
        new = At.T @ p + v
        if np.abs(new - p).max() == 0.0:
            break
        p = new
    return new


# --- zero tariffs -------------------------------------------------------------------------------


@pytest.mark.parametrize("world", ["ree_world", "pymrio_test"])
def test_zero_tariff_price_is_one(world, request):
    mrio = request.getfixturevalue(world)
    p = prices.leontief_prices(mrio, np.zeros((mrio.n, len(mrio.regions))))
    # Balance gives 1'A + v' = 1' to a few ulps per column; the solve adds rounding times the
    # condition number of I - A (below 10 here): 1e-12 leaves three orders of magnitude.
    np.testing.assert_allclose(p, 1.0, rtol=0, atol=1e-12)
    P, T = prices.price_table([[]], mrio, "tariffs")
    assert P.shape == (1, mrio.n) and T.shape == (1, mrio.n, len(mrio.regions))
    assert not T.any()
    np.testing.assert_allclose(P[0], 1.0, rtol=0, atol=1e-12)


def test_inconsistent_value_added_is_refused():
    class Skewed(Mrio):
        @property
        def value_added_coefficients(self):
            return super().value_added_coefficients * 1.01

    m = two_by_two()
    skewed = Skewed(m.name, m.regions, m.sectors, m.final_demand, m.Z, m.Y, m.x, m.unit)
    with pytest.raises(ValueError, match="not 1"):
        prices.leontief_prices(skewed, np.zeros((4, 2)))


# --- hand-built table ---------------------------------------------------------------------------


def test_hand_table_matches_fixed_point():
    m = two_by_two()
    T = prices.tariff_matrix([{"importer": "USA", "exporter": "CHN", "sectors": "ore", "rate": 0.25}], m, "t")
    expected_T = np.zeros((4, 2))
    expected_T[0, 1] = 0.25
    np.testing.assert_array_equal(T, expected_T)
    p = prices.leontief_prices(m, T)
    ref = fixed_point_prices(m, T)
    # The iteration contracts at rate rho(Atilde) < 0.5 and stops when it no longer moves, so it
    # sits within a few ulps / (1 - rho) of the fixed point; the LU solve of a 4x4 system with
    # condition number < 5 is as close: 1e-14 is about 50 ulps at p ~ 1.
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-14)
    # Only USA buys CHN ore at a tariff, so USA's prices rise; CHN buys USA goods, so CHN's rise too.
    assert np.all(p > 1.0)
    # Hand check of USA/ore: p = v + sum_i A_i,USA/ore p_i (1 + t_i,USA), residual at rounding.
    A, v = m.A, m.value_added_coefficients
    j = m.index("USA", "ore")
    lhs = sum(A[i, j] * p[i] * (1.0 + T[i, 1]) for i in range(4)) + v[j]
    assert abs(lhs - p[j]) <= 4 * EPS


# --- direction, reach and monotonicity ----------------------------------------------------------


def reach_of_tariff(mrio: Mrio, T: np.ndarray) -> np.ndarray:
    """Industries with a supply path from a tariffed delivery (breadth-first on A > 0)."""
    reg = prices.region_of_industry(mrio)
    direct = ((mrio.A > 0) & (T[:, reg] > 0)).any(axis=0)
    reached = direct.copy()
    while True:
        more = reached | ((mrio.A > 0) & reached[:, None]).any(axis=0)
        if (more == reached).all():
            return reached
        reached = more


@pytest.mark.parametrize("world", ["three_regions", "ree_world"])
def test_cn_to_us_tariff_reaches_only_buyers_downstream(world, request):
    mrio = three_regions() if world == "three_regions" else request.getfixturevalue(world)
    T = prices.tariff_matrix([{"importer": "USA", "exporter": "CHN", "sectors": None, "rate": 1.45}], mrio, "t")
    p = prices.leontief_prices(mrio, T)
    reached = reach_of_tariff(mrio, T)
    usa = prices.region_of_industry(mrio) == mrio.regions.index("USA")
    buys_cn = usa & (mrio.A[prices.region_of_industry(mrio) == 0].sum(axis=0) > 0)
    assert buys_cn.any() and reached[buys_cn].all()
    # Rises: at least the direct cost share times the rate, far above rounding.
    direct = (mrio.A * T[:, prices.region_of_industry(mrio)]).sum(axis=0)
    assert np.all(p[buys_cn] - 1.0 >= direct[buys_cn] * (1 - 1e-12))
    assert np.all(p[reached] > 1.0 + 1e-9)
    # Untouched: equal to the baseline 1 up to the rounding of the solve (1e-12 as above).
    np.testing.assert_allclose(p[~reached], 1.0, rtol=0, atol=1e-12)
    if world == "three_regions":
        assert not reached[~usa].any()  # neither CHN nor EU buys from USA
    else:
        zero = mrio.x == 0  # the REE world: every producing industry is downstream of USA
        assert (~reached == zero).all()


def test_prices_rise_with_the_rate(ree_world):
    rates = [0.0, 0.05, 0.2, 0.5, 1.0, 1.45, 2.45]
    levels = [[{"importer": "USA", "exporter": "CHN", "rate": r}] if r else [] for r in rates]
    P, T = prices.price_table(levels, ree_world, "tariffs")
    assert P.shape == (len(rates), ree_world.n)
    # Non-negative tariffs never lower a cost (A >= 0, L >= 0); 1e-12: rounding of the solve.
    assert np.all(P >= 1.0 - 1e-12)
    assert np.all(np.diff(P, axis=0) >= -1e-12)
    np.testing.assert_array_equal(T[:, ree_world.index("CHN", "magnets"), 1], rates)


def test_first_order_price_response(ree_world):
    """dp = tau L' g + O(tau^2), with g_j = sum_{i tariffed to r(j)} A_ij the tariffed input share.

    Exactly, p(tau) = (I - tau M)^-1 1 = sum_k tau^k M^k 1 with M = L' E' (E the tariffed
    coefficients per unit of rate, M 1 = L' g), so after the linear term the remainder is below
    tau^2 ||M||^2 / (1 - tau ||M||) in the sup norm, and after the quadratic term below
    tau^3 ||M||^3 / (1 - tau ||M||). Rounding of the solves adds < 1e-13 (p ~ 1, cond(I - A) < 10).
    """
    m = ree_world
    L = iomath.calc_L(m.A)
    unit = prices.tariff_matrix([{"importer": "USA", "exporter": "CHN", "rate": 1.0}], m, "t")
    E = m.A * unit[:, prices.region_of_industry(m)]
    g = E.sum(axis=0)
    M = L.T @ E.T
    norm = np.abs(M).sum(axis=1).max()
    assert 0.05 < norm < 1.0  # USA buys several % of its inputs from CHN; the series converges
    first = L.T @ g
    second = M @ first
    for tau in (1e-1, 1e-2, 1e-3):
        dp = prices.leontief_prices(m, tau * unit) - 1.0
        tail = 1.0 / (1.0 - tau * norm)
        assert np.abs(dp - tau * first).max() <= tau**2 * norm**2 * tail + 1e-13
        assert np.abs(dp - tau * first - tau**2 * second).max() <= tau**3 * norm**3 * tail + 1e-13
        # and the linear term is really off by a second-order amount, not zero
        assert np.abs(dp - tau * first).max() >= 0.5 * tau**2 * np.abs(second).max()


# --- controlled content and the 0.1 % rule ------------------------------------------------------


def controlled_mask(mrio: Mrio) -> np.ndarray:
    mask = np.zeros(mrio.n, dtype=bool)
    mask[[mrio.index("CHN", "ree_separation"), mrio.index("CHN", "magnets")]] = True
    return mask


def test_content_is_the_power_series(ree_world):
    m = ree_world
    mask = controlled_mask(m)
    c = content.chinese_content(m, mask)
    A = m.A
    total, term = np.zeros_like(A), np.eye(m.n)
    for _ in range(1000):
        term = term @ A
        total += term
        if term.max() < 1e-18:  # rho(A) ~ 0.56: the tail is below 1e-18 / (1 - 0.56)
            break
    # Truncation < 3e-18; the inverse's rounding is eps times cond(I - A) (< 10): 1e-12 is ample.
    np.testing.assert_allclose(c, total[mask].sum(axis=0), rtol=0, atol=1e-12)
    assert np.all(c >= 0)


def test_threshold_above_every_content_switches_the_rule_off(ree_world):
    c = content.chinese_content(ree_world, controlled_mask(ree_world))
    phi = np.ones(ree_world.n)
    assert c.max() < 1.0
    np.testing.assert_array_equal(content.subject_share(c, phi, 1.0), 0.0)
    phi = np.full(ree_world.n, 0.5)
    thr = min(1.0, float((c / phi).max()) * (1 + 1e-9))
    np.testing.assert_array_equal(content.subject_share(c, phi, thr), 0.0)
    # ... and exactly at the largest concentration one industry is subject.
    assert np.count_nonzero(content.subject_share(c, phi, float((c / phi).max()))) >= 1


def test_zero_phi_is_never_subject():
    np.testing.assert_array_equal(content.subject_share(np.array([0.5, 0.0]), np.array([0.0, 0.0]), 1e-3), 0.0)


def test_the_01_percent_rule_on_the_default_world(ree_world, capsys):
    m = ree_world
    c = content.chinese_content(m, controlled_mask(m))
    third = [r for r in m.regions if r != "CHN"]
    rows = []
    for phi_level in (1.0, 0.1):
        phi = np.full(m.n, phi_level)
        share = content.subject_share(c, phi, 0.001)
        for r in third:
            for s in ("magnets", "semiconductors"):
                i = m.index(r, s)
                rows.append((phi_level, r, s, c[i], c[i] / phi_level, share[i]))
    with capsys.disabled():
        print("\nphi  region sector          content   c/phi     subject share (threshold 0.001)")
        for row in rows:
            print(f"{row[0]:<4} {row[1]:<6} {row[2]:<15} {row[3]:.6f}  {row[4]:.6f}  {row[5]:g}")
    for phi_level, r, s, cj, _, sh in rows:
        if m.x[m.index(r, s)] == 0:
            continue
        if s == "magnets":
            # Non-Chinese magnets run on Chinese oxides and metals: several % of their value.
            assert 0.01 < cj < 0.5 and sh == phi_level
        else:
            # Semiconductors carry REE polishing and magnet content at the 1e-4 level at most.
            assert cj < 1e-3


# --- bad input ----------------------------------------------------------------------------------

CN_US = {"importer": "USA", "exporter": "CHN", "sectors": None, "rate": 0.2}

BAD_RULES = [
    ([{**CN_US, "importer": "MARS"}], "t[0].importer"),
    ([{**CN_US, "exporter": ["CHN", "ATLANTIS"]}], "t[0].exporter"),
    ([{**CN_US, "sectors": ["magnets", "unobtainium"]}], "t[0].sectors"),
    ([{**CN_US, "sectors": []}], "t[0].sectors"),
    ([CN_US, {**CN_US, "rate": -0.1}], "t[1].rate"),
    ([{**CN_US, "rate": math.nan}], "t[0].rate"),
    ([{**CN_US, "rate": math.inf}], "t[0].rate"),
    ([{**CN_US, "rate": "1.45"}], "t[0].rate"),
    ([{**CN_US, "rate": True}], "t[0].rate"),
    ([{k: v for k, v in CN_US.items() if k != "rate"}], "t[0].rate"),
    ([{k: v for k, v in CN_US.items() if k != "importer"}], "t[0].importer"),
    ([{**CN_US, "rates": 0.3}], "t[0].rates"),
    ([{**CN_US, "importer": ["USA", "EU"], "exporter": ["CHN", "EU"]}], "t[0].importer"),
    ([{**CN_US, "importer": "CHN"}], "t[0].importer"),
    (["USA"], "t[0]"),
    ({"importer": "USA"}, "t"),
]


@pytest.mark.parametrize(("rules", "field"), BAD_RULES)
def test_bad_rules(ree_world, rules, field):
    with pytest.raises(InputError) as err:
        prices.tariff_matrix(rules, ree_world, "t")
    assert err.value.field == field


def test_unknown_name_lists_the_allowed(ree_world):
    with pytest.raises(InputError, match="CHN, USA, EU"):
        prices.tariff_matrix([{**CN_US, "importer": "MARS"}], ree_world, "t")


def test_bad_levels_and_tariffs(ree_world):
    m = ree_world
    with pytest.raises(InputError) as err:
        prices.price_table([[], [{**CN_US, "rate": -1.0}]], m, "levels")
    assert err.value.field == "levels[1][0].rate"
    with pytest.raises(InputError) as err:
        prices.price_table([], m, "levels")
    assert err.value.field == "levels"
    with pytest.raises(InputError) as err:  # a rate that makes costs explode
        everyone = [{"importer": r, "exporter": [e for e in m.regions if e != r], "rate": 1e6} for r in m.regions]
        prices.price_table([[], everyone], m, "levels")
    assert err.value.field == "levels[1]" and "spectral radius" in err.value.allowed
    with pytest.raises(InputError) as err:
        prices.leontief_prices(m, np.zeros((m.n, 3)))
    assert err.value.field == "tariff"
    own = np.zeros((m.n, len(m.regions)))
    own[m.index("USA", "magnets"), 1] = 0.1
    with pytest.raises(InputError, match="never tariffs itself"):
        prices.leontief_prices(m, own, field="x")
    with pytest.raises(InputError) as err:
        prices.leontief_prices(m, -own, field="x")
    assert err.value.field == "x"


@pytest.mark.parametrize("threshold", [0.0, -0.001, 1.5, math.nan])
def test_bad_threshold(threshold):
    with pytest.raises(InputError) as err:
        content.subject_share(np.zeros(3), np.ones(3), threshold)
    assert err.value.field == "content_rule.threshold"


@pytest.mark.parametrize("phi", [np.array([0.5, 1.2, 0.0]), np.array([0.5, -0.1, 0.0]), np.array([0.5, math.nan, 0.0]), np.ones(2)])
def test_bad_phi(phi):
    with pytest.raises(InputError) as err:
        content.subject_share(np.zeros(3), phi, 0.001, field="rule")
    assert err.value.field == "rule.phi"


def test_bad_controlled_mask(ree_world):
    with pytest.raises(InputError) as err:
        content.chinese_content(ree_world, np.full(ree_world.n, 1.5))  # a share above 1
    assert err.value.field == "controlled"
