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
def test_es99_is_the_mean_of_the_paths_at_or_beyond_the_var_rank(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(size=(n, 3))
    k = n - math.ceil(round(0.99 * n, 9)) + 1  # ranks ceil(0.99 n) .. n, as the runs' own ES
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
    a = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(7))
    b = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(7))
    c = cmp.bootstrap_es(ref, pol, n_boot=50, seed=cmp.bootstrap_seed(8))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])
    shared = cmp.bootstrap_es(ref, pol, indices=cmp.bootstrap_indices(n, 50, cmp.bootstrap_seed(7)))
    for key in a:
        np.testing.assert_array_equal(a[key], shared[key])
    draws = np.random.default_rng(cmp.bootstrap_seed(7))
    k = n - math.ceil(round(0.99 * n, 9)) + 1
    d = []
    for _ in range(50):
        idx = draws.integers(0, n, n)
        es = lambda v: np.sort(v, axis=0)[::-1][:k].mean(axis=0)  # noqa: E731
        d.append(es(pol[idx]) - es(ref[idx]))
    np.testing.assert_allclose(a["se_delta"], np.std(d, axis=0, ddof=1), rtol=1e-10)


class _Fake:
    """Just what :func:`stress.compare.statistics` reads of a simulated run."""

    def __init__(self, scalars: np.ndarray, names: list[str], regions: list[str]):
        from types import SimpleNamespace

        self.res = SimpleNamespace(scalars=scalars)
        self.metrics = SimpleNamespace(scalar_names=lambda _regions: names)
        halt = xr.DataArray(np.full((8, len(regions), 2), 0.1), dims=("week", "region", "sector"), coords={"week": np.arange(1, 9), "region": regions, "sector": ["a", "b"]})
        self.ds = xr.Dataset({"halt_probability": halt}, attrs={"money_unit": "bn"})


def _fake_runs(per_path: list[tuple[np.ndarray, np.ndarray | None]], crashed: list[np.ndarray] | None = None) -> list[_Fake]:
    """Runs with world-only VA and output losses ``va`` and, where given, a cost per path."""
    regions = ["r1"]
    out = []
    for k, (va, cost) in enumerate(per_path):
        names = ["value_added_loss/r1", "value_added_loss/WORLD", "output_loss/r1", "output_loss/WORLD", "crashed"]
        cols = [va, va, 2 * va, 2 * va, np.zeros(len(va)) if crashed is None else crashed[k].astype(float)]
        if cost is not None:
            names.append("policy_cost/TOTAL")
            cols.append(cost)
        out.append(_Fake(np.stack(cols, axis=1), names, regions))
    return out


def test_identical_data_give_identical_es_standard_errors_for_every_policy():
    """The bootstrap resamples are drawn once per comparison: a policy with the reference's
    per-path losses gets the reference's ES standard error, whatever its position."""
    rng = np.random.default_rng(5)
    n = 300
    base = rng.pareto(2.5, n) * 10
    other = 0.7 * base + rng.random(n)
    runs = _fake_runs([(base, None), (other, None), (base.copy(), np.ones(n)), (base.copy(), np.ones(n))])
    ds = cmp.statistics(runs, ["none", "a", "b", "c"], seed=3, n_boot=100)
    se = ds.value_added_loss_es99_se.sel(scope="WORLD").values
    assert se[0] > 0 and se[0] == se[2] == se[3]
    d = ds.delta_value_added_loss_es99_se.sel(scope="WORLD").values
    assert d[2] == d[3] == 0
    # a crash in the reference drops the path from every pair; identical data still agree
    crashed = [np.arange(n) == 7, np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)]
    ds = cmp.statistics(_fake_runs([(base, None), (other, None), (base.copy(), None), (base.copy(), None)], crashed), ["none", "a", "b", "c"], seed=3, n_boot=100)
    se = ds.value_added_loss_es99_se.sel(scope="WORLD").values
    assert np.isfinite(se).all() and se[0] == se[2] == se[3]


def test_loss_avoided_per_dollar_has_a_paired_delta_method_error():
    rng = np.random.default_rng(6)
    n = 400
    ref = rng.gamma(2.0, 10.0, n)
    gain = 1.0 + rng.normal(0, 2.0, n)
    cost = rng.gamma(4.0, 0.5, n)
    runs = _fake_runs([(ref, None), (ref - gain, cost), (ref - gain, np.full(n, 2.0))])
    ds = cmp.statistics(runs, ["none", "varying", "fixed"], seed=1, n_boot=10)
    r = gain.mean() / cost.mean()
    se = np.std(gain - r * cost, ddof=1) / (math.sqrt(n) * cost.mean())
    assert float(ds.loss_avoided_per_dollar.sel(policy="varying")) == pytest.approx(r, rel=1e-12)
    assert float(ds.loss_avoided_per_dollar_se.sel(policy="varying")) == pytest.approx(se, rel=1e-10)
    # a cost that does not vary by path: the paired SE of the Δ mean, divided by the cost
    fixed_se = float(ds.delta_value_added_loss_se_paired.sel(policy="fixed", scope="WORLD")) / 2.0
    assert float(ds.loss_avoided_per_dollar_se.sel(policy="fixed")) == pytest.approx(fixed_se, rel=1e-10)
    assert np.isnan(ds.loss_avoided_per_dollar_se.sel(policy="none"))  # no cost


def test_ratio_printed_with_its_error_and_marked_when_not_significant(capsys):
    rng = np.random.default_rng(7)
    n = 100
    ref = rng.gamma(2.0, 10.0, n)
    noise = rng.normal(0, 5.0, n)
    runs = _fake_runs([(ref, None), (ref + noise - noise.mean() - 0.01, np.full(n, 1e-4)), (ref - 20.0 + 0.1 * noise, np.full(n, 1e-4))])
    ds = cmp.statistics(runs, ["none", "noisy", "clear"], seed=1, n_boot=10)
    ds.attrs.update({"money_unit": "bn", "n_paths": n, "horizon_days": 60, "reference_policy": "none", "es_estimator": "x", "bootstrap_resamples": 10})
    cmp.print_comparison(ds)
    out = capsys.readouterr().out
    rows: dict[str, str] = {}
    for line in out.splitlines():  # the first table's row of each policy
        if line.split()[1:2] in (["noisy"], ["clear"]):
            rows.setdefault(line.split()[1], line)
    assert "n.s." in rows["noisy"] and "n.s." not in rows["clear"]
    per = float(ds.loss_avoided_per_dollar.sel(policy="noisy"))
    assert f"{per:,.3g} ± {float(ds.loss_avoided_per_dollar_se.sel(policy='noisy')):,.3g}" in rows["noisy"]
    assert "0.0001" in rows["clear"]  # a small cost is not printed as 0.00
    assert "ES99 rests on 2 paths: run more paths (at least 400" in out  # 100 paths: 100 - ceil(99) + 1 = 2


def test_frontier_lists_the_reference_once_per_group_with_small_costs_and_thin_tails(tmp_path, capsys):
    rng = np.random.default_rng(8)
    n = 200
    ref = rng.gamma(2.0, 10.0, n)
    files = []
    for j, size in enumerate((1, 2)):
        runs = _fake_runs([(ref, None), (ref - size, np.full(n, 0.001 * size))])
        ds = cmp.statistics(runs, ["none", "joint_stockpile"], seed=1, n_boot=10)
        ds.attrs.update({"money_unit": "bn", "n_paths": n, "reference_policy": "none", "overrides": f"+scenario=full_cutoff policy.joint_stockpile.size={size}"})
        (tmp_path / str(j)).mkdir()
        ds.to_netcdf(tmp_path / str(j) / "compare.nc")
        files.append(tmp_path / str(j) / "compare.nc")
    rows = cmp.frontier_table(files)
    assert [r["policy"] for r in rows] == ["none", "joint_stockpile", "joint_stockpile"]
    assert rows[0]["overrides"] == ["+scenario=full_cutoff"]
    cmp.print_frontier(rows)
    out = capsys.readouterr().out
    assert "0.001" in out and "0.002" in out and "0.00 " not in out
    assert out.count("none (reference)") == 1
    assert "ES99 rests on 3 paths: run more paths" in out  # 200 - ceil(198) + 1 = 3


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
    # the same resampled path ids for both: identical data, identical ES standard errors
    np.testing.assert_array_equal(ds.value_added_loss_es99_se.values[0], ds.value_added_loss_es99_se.values[1])
    assert ds.scope.values[-1] == "WORLD"
    # the world ES equals the run's own mean of its paths at or beyond the VaR's rank
    names = runs[0].metrics.scalar_names([str(r) for r in runs[0].ds.region.values])
    world = runs[0].res.scalars[:, names.index("value_added_loss/WORLD")]
    assert float(ds.value_added_loss_es99.sel(policy="none", scope="WORLD")) == pytest.approx(np.sort(world)[-cmp.es_tail_count(len(world)) :].mean())
    assert float(ds.value_added_loss_es99.sel(policy="none", scope="WORLD")) == pytest.approx(float(runs[0].ds.world_value_added_loss_expected_shortfall.sel(quantile=0.99)), rel=runs[0].metrics.sketch.relative_accuracy)


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


@pytest.mark.parametrize("command", ["run", "simulate", "compare"])
def test_a_lever_named_twice_in_policy_is_refused(command, tmp_path):
    out = tmp_path / "r"
    r = stress(command, "+scenario=full_cutoff", "+policy=[joint_stockpile,joint_stockpile]", f"hydra.run.dir={out}")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stress: error: policy=[") and "is not allowed: each lever once" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "command, args",
    [
        ("run", ("sampler.n_paths=64,0",)),
        ("compare", ("policies=[none]", "sampler.n_paths=64,-3")),
        ("compare", ("policies=[none,joint_stockpile],[none,price_floor]", "policy.joint_stockpile.release_per_day=2")),
    ],
)
def test_a_bad_job_of_a_sweep_is_refused_before_hydra_writes_anything(command, args, tmp_path):
    """Every job of a sweep of comma lists is composed and checked first: the bad second job
    is refused with exit 2 before the first runs, and no sweep folder is made."""
    sweep = tmp_path / "sweep"
    r = stress(command, "--multirun", "+scenario=full_cutoff", *args, "model.horizon_days=60", f"hydra.sweep.dir={sweep}")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stress: error: "), r.stderr
    assert not sweep.exists()
