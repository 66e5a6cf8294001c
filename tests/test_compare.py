"""python -m stress compare: paired statistics, common random numbers, bad input, the frontier."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import xarray as xr
from test_cli import ROOT, stress

from stress import cli
from stress import compare as cmp

# The lever compared with the reference in the end-to-end test. Until the allied levers land in
# configs/policy/, set STRESS_COMPARE_LEVER to a throwaway option (e.g. one that raises
# model.alpha_max) to run it; without the option the test is skipped.
LEVER = os.environ.get("STRESS_COMPARE_LEVER", "joint_stockpile")
SMALL = ("sampler.n_paths=64", "sampler.chunk_size=64", "model.horizon_days=60")


# ----------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("n", [1, 50, 99, 100, 101, 256, 1000])
def test_es99_is_the_mean_of_the_worst_ceil_one_percent(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(size=(n, 3))
    k = math.ceil(0.01 * n)
    assert cmp.es_tail_count(n) == k
    brute = np.array([np.mean(sorted(x[:, j])[::-1][:k]) for j in range(3)])
    np.testing.assert_allclose(cmp.expected_shortfall(x), brute, rtol=1e-12)
    np.testing.assert_allclose(cmp.expected_shortfall(x[:, 0]), brute[0], rtol=1e-12)


def test_paired_delta_against_brute_force():
    rng = np.random.default_rng(1)
    n = 200
    common = rng.gamma(2.0, 10.0, size=(n, 4))
    ref = common + rng.normal(size=(n, 4))
    pol = 0.9 * common + rng.normal(size=(n, 4))
    got = cmp.paired_delta(ref, pol)
    for j in range(4):
        d = [pol[i, j] - ref[i, j] for i in range(n)]
        mean = sum(d) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
        var = lambda a: sum((x - sum(a) / n) ** 2 for x in a) / (n - 1)  # noqa: E731
        assert got["delta"][j] == pytest.approx(mean, rel=1e-12)
        assert got["se_paired"][j] == pytest.approx(sd / math.sqrt(n), rel=1e-10)
        assert got["se_unpaired"][j] == pytest.approx(math.sqrt(var(list(ref[:, j])) / n + var(list(pol[:, j])) / n), rel=1e-10)
    # strongly correlated pairs: the paired error is far smaller than the unpaired one
    assert (got["se_paired"] < got["se_unpaired"] / 3).all()


def test_bootstrap_is_reproducible_and_matches_a_brute_force_loop():
    rng = np.random.default_rng(2)
    n = 300
    ref = rng.pareto(3.0, size=(n, 2))
    pol = 0.8 * ref + 0.1 * rng.random((n, 2))
    a = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(7, 1))
    b = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(7, 1))
    c = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(8, 1))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])
    draws = np.random.default_rng(cmp.bootstrap_seed(7, 1))
    k = math.ceil(0.01 * n)
    d = []
    for _ in range(50):
        idx = draws.integers(0, n, n)
        es = lambda v: np.sort(v, axis=0)[::-1][:k].mean(axis=0)  # noqa: E731
        d.append(es(pol[idx]) - es(ref[idx]))
    np.testing.assert_allclose(a["se_delta"], np.std(d, axis=0, ddof=1), rtol=1e-10)


def test_frontier_marks_the_non_dominated_points():
    cost = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 0.0, np.nan, 5.0])
    risk = np.array([10.0, 8.0, 9.0, 8.0, 5.0, 5.0, 10.0, 1.0, 5.0])
    got = cmp.frontier(cost, risk)
    # 0 and 6 tie (neither is strictly better), 1 beats 2 and 3, 4 and 5 tie, 8 is dominated by 4;
    # a point with a missing cost is never marked and dominates nothing
    assert got.tolist() == [True, True, False, False, True, True, True, False, False]
    assert cmp.frontier(np.array([1.0]), np.array([1.0])).tolist() == [True]


def test_column_reads_by_name_and_absent_is_zero():
    s = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(cmp.column(s, ["a", "policy_cost/TOTAL"], "policy_cost/TOTAL"), [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(cmp.column(s, ["a", "b"], "policy_cost/TOTAL"), [0.0, 0.0, 0.0])


def test_policy_overrides_for_an_entry():
    assert cli.policy_overrides("none") == []
    assert cli.policy_overrides("joint_stockpile") == ["+policy=joint_stockpile"]
    assert cli.policy_overrides("joint_stockpile+price_floor") == ["+policy=[joint_stockpile,price_floor]"]


# ----------------------------------------------------------------------------- runs


def test_none_against_none_is_exactly_zero_on_the_same_paths():
    """Common random numbers: the reference twice gives identical per-path scalars, so every
    difference and its standard error are exactly 0 and no pair is dropped."""
    cfg = cli.check_composition(["+scenario=full_cutoff", *SMALL])
    entries = [("none", cfg, ""), ("none again", cfg, "")]
    runs = cmp.simulate_all(entries)
    np.testing.assert_array_equal(runs[0].res.scalars, runs[1].res.scalars)
    ds = cmp.build(runs, entries, overrides=["+scenario=full_cutoff"], compare=cfg.compare)
    for w in ("value_added_loss", "output_loss"):
        for v in (f"delta_{w}_mean", f"delta_{w}_se_paired", f"delta_{w}_es99", f"delta_{w}_es99_se"):
            assert (ds[v] == 0).all(), v
    assert (ds.pairs_dropped == 0).all() and (ds.pairs_counted == 64).all()
    assert ds.policy.values.tolist() == ["none", "none again"]
    assert ds.halt_probability.dims[0] == "policy"
    np.testing.assert_array_equal(ds.halt_probability_most_exposed.values[0], ds.halt_probability_most_exposed.values[1])
    assert np.isnan(ds.loss_avoided_per_dollar).all()  # no cost column: cost 0, ratio undefined
    assert ds.scope.values[-1] == "WORLD"
    # the world ES equals the run's own mean of its worst ceil(0.01 N) paths
    names = runs[0].metrics.scalar_names([str(r) for r in runs[0].ds.region.values])
    world = runs[0].res.scalars[:, names.index("value_added_loss/WORLD")]
    assert float(ds.value_added_loss_es99.sel(policy="none", scope="WORLD")) == pytest.approx(np.sort(world)[-1:].mean())


@pytest.mark.skipif(not (ROOT / "configs" / "policy" / f"{LEVER}.yaml").exists(), reason=f"no policy option {LEVER} in configs/policy yet")
def test_compare_writes_paired_statistics(tmp_path):
    out = tmp_path / "cmp"
    r = stress("compare", "+scenario=full_cutoff", f"policies=[none,{LEVER}]", *SMALL, f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    assert "Money unit: billion USD" in r.stdout and "Paths: 64" in r.stdout
    with xr.open_dataset(out / "compare.nc") as ds:
        assert ds.policy.values.tolist() == ["none", LEVER]
        s = ds.sel(policy=LEVER, scope="WORLD")
        assert float(s.delta_value_added_loss_mean) != 0
        # the same paths under both policies: pairing removes most of the noise
        assert float(s.delta_value_added_loss_se_paired) < float(s.delta_value_added_loss_se_unpaired)
        assert ds.attrs["reference_policy"] == "none" and int(ds.attrs["n_paths"]) == 64
        assert "run_config" in ds and f"+policy={LEVER}" not in ds.attrs["overrides"]


def test_compare_sweep_prints_the_frontier(tmp_path):
    r = stress("compare", "--multirun", "+scenario=full_cutoff", "policies=[none]", *SMALL, "sampler.seed=1,2", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.glob("*/compare.nc"))) == 2
    assert "Frontier of policy cost" in r.stdout
    assert "sampler.seed=1" in r.stdout and "sampler.seed=2" in r.stdout


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "arg, field, says",
    [
        ("policies=[none,no_such_lever]", "policies=", "no_such_lever"),
        ("policies=[]", "policies=", "non-empty"),
        ("policies=[none,none]", "policies=", "repeats"),
        ("+policy=none", "policy=", "policies="),
    ],
)
def test_bad_policies_exit_2_with_nothing_written(arg, field, says, tmp_path):
    out = tmp_path / "cmp"
    r = stress("compare", "+scenario=full_cutoff", arg, f"hydra.run.dir={out}")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stress: error: ") and field in lines[0] and says in lines[0]
    assert "none" in lines[0]  # names what is allowed
    assert not out.exists() or not any(out.iterdir())


def test_policy_group_is_checked_before_hydra(tmp_path):
    r = stress("run", "+scenario=full_cutoff", "+policy=[none,no_such_lever]", f"hydra.run.dir={tmp_path / 'r'}")
    assert r.returncode == 2 and "policy='no_such_lever'" in r.stderr
    r = stress("run", "+scenario=full_cutoff", "policies=[none]", f"hydra.run.dir={tmp_path / 'r'}")
    assert r.returncode == 2 and "compare" in r.stderr
