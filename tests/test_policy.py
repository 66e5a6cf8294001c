"""Allied levers (stress/policy/levers.py) on common random numbers: monotonicity, who gets what,
closures under a floor, closed-form costs, unchanged shock draws, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from stress.cli import check_composition
from stress.metrics import COST_COMPONENTS
from stress.pipeline import keys, make_metrics, prepare, run_engine
from stress.results.dataset import to_dataset
from stress.sampler import sample_path_params

ROOT = Path(__file__).resolve().parents[1]
N = 32


def compose(*overrides: str, n_paths: int = N, horizon: int = 120):
    return check_composition([*overrides, f"sampler.n_paths={n_paths}", f"sampler.chunk_size={n_paths}", f"model.horizon_days={horizon}"])


def run(cfg, retain=False):
    prep = prepare(cfg)
    metrics = make_metrics(cfg, prep, retain_paths=retain)
    res = run_engine(cfg, prep, metrics)
    names = metrics.scalar_names(prep.mrio.regions)
    col = {k: res.scalars[:, i] for i, k in enumerate(names)}
    return prep, res, col


def dataset(cfg, prep, res):
    m = make_metrics(cfg, prep)
    return to_dataset(
        res.acc, res.scalars, prep.mrio, horizon=cfg.model.horizon_days, quantiles=[0.5], metrics=m,
        year_to_day=365.0, attrs={}, flow_base=res.flow_base, direct=m.direct, labels=prep.labels, policy_labels=prep.policy_labels,
    )  # fmt: skip


def everyone_joins():
    return "policy.coalition.join_probability={USA: 1.0, EU: 1.0, JPN: 1.0, KOR: 1.0, ALLY: 1.0}"


@pytest.fixture(scope="module")
def stockpile_runs():
    """full_cutoff with stockpiles of 0 (none), 20, 40 and 80 days, every member joining."""
    out = {}
    out[0] = run(compose("+scenario=full_cutoff"))[2]
    for days in (20, 40, 80):
        cfg = compose(
            "+scenario=full_cutoff", "+policy=joint_stockpile", everyone_joins(), f"policy.joint_stockpile.days={{ree_separation: {days}, magnets: {days}}}"
        )
        out[days] = run(cfg)[2]
    return out


def test_a_larger_stockpile_never_increases_a_paths_loss(stockpile_runs):
    """On the same shocks, between stockpiles of 20, 40 and 80 days the coalition's and the world's
    lost value added never rise on any path (tolerance 1e-9 relative: float64 sums over 120 days).
    Against no stockpile, no path's loss rises by more than the sales the released material
    displaced (bounded by the value released: VA along a product's chain is at most its value),
    and the expected coalition loss falls by more than 3 paired standard errors.

    A reserve releases at most a day of the members' use a day whatever its size, so a larger
    one follows a smaller one until the smaller runs dry; after that it only adds stock. Single
    members may still lose on a path (a buyer elsewhere restarts and bids for the same scarce
    non-Chinese supply under proportional rationing); the README records how often."""
    members = ("USA", "EU", "JPN", "KOR", "ALLY")
    coalition = {k: sum(v[f"value_added_loss/{r}"] for r in members) for k, v in stockpile_runs.items()}
    world = {k: v["value_added_loss/WORLD"] for k, v in stockpile_runs.items()}
    for a, b in ((20, 40), (40, 80)):
        for loss in (coalition, world):
            assert np.all(loss[b] <= loss[a] * (1 + 1e-9) + 1e-12), (a, b, np.max(loss[b] - loss[a]))
    for b in (20, 40, 80):
        released = sum(stockpile_runs[b][f"released/{r}"] for r in members)
        for loss in (coalition, world):
            assert np.all(loss[b] - loss[0] <= released + 1e-9), b
    diff = coalition[20] - coalition[0]
    assert diff.mean() < -3 * diff.std(ddof=1) / np.sqrt(diff.size), (diff.mean(), diff.std(ddof=1))
    assert np.all(stockpile_runs[0]["policy_cost/TOTAL"] == 0)
    assert np.all(stockpile_runs[80]["policy_cost/stockpile"] > stockpile_runs[40]["policy_cost/stockpile"])


def test_a_member_that_does_not_join_gets_nothing():
    cfg = compose(
        "+scenario=full_cutoff", "+policy=joint_stockpile", "policy.coalition.join_probability={USA: 1.0, EU: 0.0, JPN: 0.5, KOR: 1.0, ALLY: 1.0}"
    )
    prep, res, col = run(cfg)
    assert np.all(col["released/EU"] == 0)
    assert np.all(col["released/CHN"] == 0) and np.all(col["released/ROW"] == 0)  # not members
    assert col["released/USA"].max() > 0  # releases did happen (so the EU check can fail)
    ds = dataset(cfg, prep, res)
    assert float(ds.joined_probability.sel(region="EU")) == 0.0
    assert float(ds.joined_probability.sel(region="USA")) == 1.0
    jp = float(ds.joined_probability.sel(region="JPN"))
    # Binomial(32, 0.5): 4.5 standard errors either side
    assert abs(jp - 0.5) < 4.5 * np.sqrt(0.25 / N)
    assert np.isnan(float(ds.joined_probability.sel(region="CHN")))


def test_defence_priority_shifts_the_shortfall_to_other_buyers():
    """Rated orders served first: defence loses less, the other buyers in member regions more."""
    base = compose("+scenario=full_cutoff")
    pol = compose("+scenario=full_cutoff", "+policy=defence_priority", everyone_joins())
    prep, res0, _ = run(base, retain=True)
    _, res1, _ = run(pol, retain=True)
    mrio = prep.mrio
    p = len(mrio.sectors)
    members = [mrio.regions.index(r) for r in ("USA", "EU", "JPN", "KOR", "ALLY")]
    d = mrio.sectors.index("defence_aerospace")
    defence = [r * p + d for r in members]
    x0 = np.asarray(prep.tables.X0)
    lost0 = res0.loss_share * x0  # (paths, n) share x daily output: proportional to money lost
    lost1 = res1.loss_share * x0
    assert lost1[:, defence].sum() < 0.9 * lost0[:, defence].sum()
    others = [r * p + s for r in members for s in range(p) if s != d and mrio.sectors[s] != "services"]
    assert lost1[:, others].sum() > lost0[:, others].sum()


PREDATORY = [
    "+scenario=baseline",
    "shocks.regime.enabled=false",
    "shocks.predatory.enabled=true",
    "shocks.predatory.weekly_hazard={calm: 1.0}",  # a campaign from week 0 on every path
    "shocks.predatory.closure_hazard=0.5",
    "shocks.predatory.depth_min=0.35",
    "shocks.predatory.depth_max=0.4",
    "shocks.predatory.target_regions=[EU, JPN, ALLY]",
]


def test_a_price_floor_above_every_chinese_price_closes_no_member_producer():
    prep0, res0, _ = run(compose(*PREDATORY, horizon=182))
    ds0 = dataset(compose(*PREDATORY, horizon=182), prep0, res0)
    assert float(ds0.closure_probability.max()) > 0.3  # without the floor, producers close
    cfg = compose(*PREDATORY, "+policy=price_floor", everyone_joins(), "policy.price_floor.level=1.5", "policy.price_floor.sectors=[ree_mining, ree_separation]", horizon=182)
    prep, res, col = run(cfg)
    ds = dataset(cfg, prep, res)
    assert float(ds.closure_probability.max()) == 0.0  # the floor 1.5 > cost_max 1.45
    # the floor pays the gap to the marked-down price while the campaign lasts
    assert col["policy_cost/price_floor"].min() > 0


def test_costs_match_closed_forms():
    """On the undisturbed baseline (production = X0, prices 1, no shortage): stockpile carrying
    cost = rate x size x T / 365; floor = (level - 1) X0 T; offtake = premium x share x X0 T;
    capacity = public share x capex x added x yearly output x charge x T / 365; admin x T / 365."""
    T = 91
    cfg = compose(
        "+scenario=baseline",
        "+policy=[joint_stockpile,price_floor,procurement,defence_priority]",
        "policy.defence_priority.admin_cost_per_year=0.05",
        everyone_joins(),
        horizon=T,
        n_paths=8,
    )
    prep, res, col = run(cfg)
    mrio = prep.mrio
    R, p = len(mrio.regions), len(mrio.sectors)
    x0 = mrio.x / 365.0
    members = ["USA", "EU", "JPN", "KOR", "ALLY"]
    in_mem = np.repeat([r in members for r in mrio.regions], p)
    sec = lambda names: np.tile([s in names for s in mrio.sectors], R)  # noqa: E731
    # stockpile: 60 days of the members' use of separated REE and magnets (real inputs only)
    theta = np.asarray(prep.tables.theta)
    AS = np.asarray(prep.tables.AS)
    rows = [mrio.sectors.index("ree_separation"), mrio.sectors.index("magnets")]
    size = 60 * (AS * x0[None, :] * theta)[rows][:, in_mem].sum()
    # rtol 1e-9: float64 sums of 91 equal daily terms
    np.testing.assert_allclose(col["policy_cost/stockpile"], 0.06 * size * T / 365, rtol=1e-9)
    np.testing.assert_allclose(col["policy_capital/TOTAL"], size, rtol=1e-12)  # the value held at the start
    assert np.all(col["released/USA"] == 0)  # nobody is short: nothing released
    floor = sec(["ree_separation"]) & in_mem
    np.testing.assert_allclose(col["policy_cost/price_floor"], (2.1 - 1.0) * x0[floor].sum() * T, rtol=1e-9)
    cov = sec(["ree_mining", "ree_separation", "magnets"]) & in_mem & (mrio.x > 0)
    np.testing.assert_allclose(col["policy_cost/procurement"], 0.2 * 0.3 * x0[cov].sum() * T, rtol=1e-9)
    np.testing.assert_allclose(col["policy_cost/other"], 0.05 * T / 365, rtol=1e-12)
    np.testing.assert_allclose(col["policy_cost/TOTAL"], sum(col[f"policy_cost/{c}"] for c in COST_COMPONENTS), rtol=1e-12)
    assert np.all(np.abs(col["value_added_loss/WORLD"]) < 1e-9)  # the levers alone change no output (float64 rounding of the rationing shares)


def test_allied_capacity_cost_is_the_annualised_public_share():
    T = 120
    cfg = compose("+scenario=full_cutoff", "+policy=allied_capacity", horizon=T, n_paths=8)
    prep, res, col = run(cfg)
    mrio = prep.mrio
    projects = cfg.policy.allied_capacity.projects
    outlay = sum(pr.get("public_share", 0.15) * pr["capex"] * pr["added_share"] * mrio.x[mrio.index(pr["region"], pr["sector"])] for pr in projects)
    np.testing.assert_allclose(col["policy_cost/allied_capacity"], outlay * 0.10 * T / 365, rtol=1e-12)


def _draws(cfg, i):
    prep = prepare(cfg)
    _, pp = sample_path_params(jr.fold_in(keys(0)[1], i), prep.spec, prep.tables, prep.params)
    return jax.device_get(pp)


@pytest.mark.parametrize("lever", ["joint_stockpile", "tariff_wall", "allied_capacity", "anti_coercion_instrument"])
def test_levers_leave_the_shock_draws_unchanged(lever):
    """Common random numbers: the regime path, tariff path and closures are the same with a lever on."""
    base = ["+scenario=october_2025_global_licensing", "shocks.predatory.enabled=true"]
    for i in (0, 5):
        a = _draws(compose(*base), i)
        b = _draws(compose(*base, f"+policy={lever}"), i)
        np.testing.assert_array_equal(a.info.regime, b.info.regime)
        np.testing.assert_array_equal(a.info.tariff, b.info.tariff)
        if lever not in ("tariff_wall",):  # the wall lifts the price the targets receive
            np.testing.assert_array_equal(a.info.closed_day, b.info.closed_day)
        assert a.draw == b.draw


def test_scale_moves_keeps_rows_stochastic():
    from stress.shocks.regime import scale_moves

    P = jnp.asarray([[0.9, 0.08, 0.02], [0.1, 0.85, 0.05], [0.0, 0.3, 0.7]])
    level = jnp.asarray([0, 1, 2])
    assert jnp.all(scale_moves(P, level, jnp.asarray(1.0), jnp.asarray(1.0)) == P)
    S = np.asarray(scale_moves(P, level, jnp.asarray(2.0), jnp.asarray(0.5)))
    np.testing.assert_allclose(S.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(S[0, 1:], 2 * np.asarray(P[0, 1:]), rtol=1e-12)  # up-moves doubled
    np.testing.assert_allclose(S[2, 1], 0.15, rtol=1e-12)  # down-move halved
    big = np.asarray(scale_moves(P, level, jnp.asarray(50.0), jnp.asarray(1.0)))
    np.testing.assert_allclose(big.sum(axis=1), 1.0, rtol=1e-12)
    assert big[0, 0] == 0.0  # the up-moves were capped at what the row leaves


def stress(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stress", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "override, field",
    [
        ("+policy=stockpile", "policy"),
        ("policy.coalition.members=[USA, MARS]", "policy.coalition.members"),
        ("policy.joint_stockpile.days={magnets: -5}", "policy.joint_stockpile.days.magnets"),
        ("policy.coalition.join_probability={EU: 1.5}", "policy.coalition.join_probability.EU"),
        ("policy.joint_stockpile.contributions={USA: 0.5, EU: 0.5}", "unless sharing: contribution"),  # shares that would not be used
        ("policy.joint_stockpile.days={magnets: 4000}", "policy.joint_stockpile.days.magnets"),
        ("policy.joint_stockpile.trigger=price", "policy.joint_stockpile.trigger"),
        ("+policy.joint_stockpile.contributions.ROW=0.5", "policy.joint_stockpile.contributions"),
        ("policy.joint_stockpile.sharing=lottery", "policy.joint_stockpile.sharing"),
        ("policy.allied_capacity.lead_sigma=-1", "policy.allied_capacity.lead_sigma"),
        ("policy.price_floor.level=-2", "policy.price_floor.level"),
        ("policy.tariff_wall.rate=0.3", "policy.tariff_wall.rate"),  # a lever that is off
        ("+policy=[joint_stockpile,joint_stockpile]", "each lever once"),
    ],
)
def test_bad_policy_settings_exit_2_and_write_nothing(tmp_path, override, field):
    out = tmp_path / "run"
    own = override.startswith("+policy=")  # the lever list itself is the bad input
    lever = override if own else "+policy=[joint_stockpile,allied_capacity,price_floor]"
    args = ["run", "+scenario=full_cutoff", lever, "sampler.n_paths=8", f"hydra.run.dir={out}"]
    if not own:
        args.append(override)
    proc = stress(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert field in proc.stderr, proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_contribution_sharing_caps_each_members_take():
    """sharing=contribution: each member owns its share of the reserve, so its buyers draw at most
    that share of it in total (refills, which would restore it, are made negligible: 1e9 days, so
    at most 1e-7 of the size over 90 days); pooled, the EU takes more than its 10 %."""
    shares = "{USA: 0.4, EU: 0.1, JPN: 0.3, KOR: 0.1, ALLY: 0.1}"
    cfg = compose(
        "+scenario=full_cutoff", "+policy=joint_stockpile", everyone_joins(), "policy.joint_stockpile.sharing=contribution",
        f"policy.joint_stockpile.contributions={shares}", "policy.joint_stockpile.refill_days=1e9", horizon=90,
    )  # fmt: skip
    prep, _, col = run(cfg)
    _, _, pooled = run(compose("+scenario=full_cutoff", "+policy=joint_stockpile", everyone_joins(), horizon=90))
    size = 60 * float(np.asarray(prep.spec.policies.stockpile.use).sum())  # 60 days of every member's use
    members = ("USA", "EU", "JPN", "KOR", "ALLY")
    total = lambda c: sum(c[f"released/{r}"] for r in members)  # noqa: E731
    assert (pooled["released/EU"] > 0.1 * size * 1.2).any()  # pooled, the EU would take more ...
    for r, share in zip(members, (0.4, 0.1, 0.3, 0.1, 0.1), strict=True):
        assert np.all(col[f"released/{r}"] <= share * size + 1e-6 * size), r  # ... its share caps it
    assert np.all(total(col) <= size * (1 + 1e-6))


def test_contributions_must_sum_to_one():
    from stress.errors import InputError
    from stress.pipeline import build_policies
    from stress.mrio import io as mrio_io

    cfg = compose("+scenario=full_cutoff", "+policy=joint_stockpile", "policy.joint_stockpile.sharing=contribution",
                  "policy.joint_stockpile.contributions={USA: 0.5, EU: 0.3, JPN: 0.1, KOR: 0.05, ALLY: 0.0}")  # fmt: skip
    with pytest.raises(InputError, match=r"policy.joint_stockpile.contributions.*sum to 1 \(they sum to 0.95\)"):
        build_policies(cfg, mrio_io.load(cfg.world), ())
