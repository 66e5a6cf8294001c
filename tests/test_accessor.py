"""The ``.stress`` Dataset accessor: its doctests, VaR/ES against closed forms, interval
coverage over repeated samples, NetCDF round trips, policy dimensions, merges and bad input."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from conftest import SEED
from scipy import stats

import stress.results.accessor as accessor_module
from stress.errors import InputError
from stress.results.accessor import sample_dataset
from stress.sketch import Sketch, tail_from_sketch

A = Sketch().relative_accuracy
M = "value_added_loss/WORLD"


def test_doctests_run_and_pass():
    res = doctest.testmod(accessor_module, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
    assert res.attempted >= 40  # 42 examples written: none may silently vanish


def test_import_stress_stays_light_and_registers_the_accessor():
    """``import stress`` imports neither xarray, jax nor scipy (the accessor registers when
    xarray is imported, in either order)."""
    code = (
        "import sys; import stress; print(sorted(m for m in ('xarray', 'jax', 'scipy') if m in sys.modules)); "
        "import xarray as xr; print(hasattr(xr.Dataset, 'stress'), 'jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True False"
    out = subprocess.run([sys.executable, "-c", "import xarray as xr, stress; print(hasattr(xr.Dataset, 'stress'))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


# ------------------------------------------------------------------------------ against the truth


def widened(lo: float, hi: float) -> tuple[float, float]:
    """Exact order-statistic bounds read from the sketch are within a relative a of the exact
    ones: widen by a for an interval that keeps its guarantee."""
    return lo - A * abs(lo), hi + A * abs(hi)


def test_var_and_es_of_normal_and_pareto_samples_cover_the_truth():
    """N = 20,000: the true VaR inside the (widened) order-statistic interval, the true ES inside
    the ES interval. Normal(10, 2): ES = mu + sigma phi(z) / (1 - q). scipy's pareto(b = 3),
    scale 1: VaR = (1 - q)^(-1/b), ES = VaR b / (b - 1). Eight checks: at 95 % each, one in
    about three seeds fails by chance (at seed 0 the Pareto VaR at 0.9, 2.1544, lay just above
    the upper bound 2.1531), so the checks use 99.9 % intervals (about 1 % of seeds fail; the
    ES interval's is asymptotic); 95 % coverage is measured in the next test."""
    rng = np.random.default_rng(SEED + 10)
    q = [0.9, 0.99]
    b = 3.0
    ds = sample_dataset({"n": 10 + 2 * rng.normal(size=20_000), "p": stats.pareto.rvs(b, size=20_000, random_state=rng)})
    z = stats.norm.ppf(q)
    truth = {
        "n": (10 + 2 * z, 10 + 2 * stats.norm.pdf(z) / (1 - np.array(q))),
        "p": ((1 - np.array(q)) ** (-1 / b), (1 - np.array(q)) ** (-1 / b) * b / (b - 1)),
    }
    for m, (t_var, t_es) in truth.items():
        np.testing.assert_allclose(t_var, stats.norm.ppf(q, 10, 2) if m == "n" else stats.pareto.ppf(q, b), rtol=1e-12)
        vi = ds.stress.var_interval(q, 0.999, measure=m)
        ei = ds.stress.expected_shortfall_interval(q, 0.999, measure=m)
        for j in range(2):
            lo, hi = widened(float(vi.lower[j]), float(vi.upper[j]))
            assert lo <= t_var[j] <= hi, (m, q[j], lo, t_var[j], hi)
            assert float(ei.lower[j]) <= t_es[j] <= float(ei.upper[j]), (m, q[j], float(ei.lower[j]), t_es[j], float(ei.upper[j]))
            assert float(vi.lower[j]) <= float(vi.value_at_risk[j]) <= float(vi.upper[j])


def test_interval_coverage_over_repeated_samples():
    """1,000 samples of N = 500 from N(0, 1) at q = 0.9 (50 tail paths). VaR: the exact interval
    (widened by a) covers in >= 0.95 - 3 binomial SEs (3 sqrt(.95 .05 / 1000) = 0.021) and is
    not grossly conservative (< 0.995; seen: 0.964). ES: the asymptotic normal interval
    undercovers with 50 tail paths (the tail mean is biased low); seen 0.915-0.924 over 400 and
    2,000 samples, asserted within [0.88, 0.97]."""
    sk = Sketch()
    rng = np.random.default_rng(SEED + 11)
    q = 0.9
    t_var, t_es = stats.norm.ppf(q), stats.norm.pdf(stats.norm.ppf(q)) / (1 - q)
    cov_var = cov_es = 0
    S = 1000
    for _ in range(S):
        c = sk.add_numpy(np.zeros(sk.width, np.int64), rng.normal(size=500))
        st = tail_from_sketch(c, sk.values(), np.array([q]))
        lo, hi = widened(st.lower[0], st.upper[0])
        cov_var += lo <= t_var <= hi
        cov_es += st.es_lower[0] <= t_es <= st.es_upper[0]
    assert 0.95 - 3 * np.sqrt(0.95 * 0.05 / S) <= cov_var / S < 0.995, cov_var / S
    assert 0.88 <= cov_es / S <= 0.97, cov_es / S


def test_exceedance_is_monotone_and_consistent_with_var():
    rng = np.random.default_rng(SEED + 12)
    x = np.concatenate([np.zeros(300), rng.lognormal(2, 1.5, 2700)])
    ds = sample_dataset({M: x, "output_loss/WORLD": -x})
    curve = ds.stress.exceedance_curve(measure=None)
    assert bool((curve.diff("loss") <= 0).all())
    assert float(curve.sel(measure=M)[-1]) == 0.0
    qs = [0.1, 0.5, 0.9, 0.99]
    v = ds.stress.var(qs)
    e = ds.stress.exceedance(v.values)
    for j, q in enumerate(qs):
        assert float(e[j]) <= 1 - q + 1 / x.size
    assert float(ds.stress.exceedance(0.0)) == pytest.approx(2700 / 3000, abs=0)


def test_all_zero_losses_give_exact_zeros():
    ds = sample_dataset({M: np.zeros(400)})
    iv, ei = ds.stress.var_interval([0.5, 0.9]), ds.stress.expected_shortfall_interval([0.5, 0.9])
    for da in (iv.value_at_risk, iv.lower, iv.upper, ei.expected_shortfall, ei.lower, ei.upper):
        assert bool((da == 0.0).all())
    assert float(ds.stress.exceedance(0.0)) == 0.0
    assert float(ds.loss_mean[0]) == 0.0 and float(ds.loss_se[0]) == 0.0


# ------------------------------------------------------------------------------ storage and policies


def results_of(ds: xr.Dataset, **kw) -> list[xr.DataArray]:
    return [ds.stress.var([0.5, 0.99], **kw), ds.stress.expected_shortfall([0.5, 0.99], **kw), ds.stress.exceedance([1.0, 100.0], **kw)]


def test_netcdf_round_trip_and_policy_dimension(tmp_path):
    rng = np.random.default_rng(SEED + 13)
    a = sample_dataset({M: rng.lognormal(2, 1, 3000), "output_loss/WORLD": rng.lognormal(3, 1, 3000)}, frequency_per_year=0.1)
    b = sample_dataset({M: rng.lognormal(1, 2, 2000), "output_loss/WORLD": rng.exponential(5, 2000)}, frequency_per_year=0.1)
    a.to_netcdf(tmp_path / "a.nc", engine="netcdf4")
    back = xr.open_dataset(tmp_path / "a.nc", engine="netcdf4")
    for mine, theirs in zip(results_of(a, measure=None), results_of(back, measure=None), strict=True):
        np.testing.assert_array_equal(mine.values, theirs.values)
    # compare-style: concatenated along policy with an outer join on bucket (missing counts NaN)
    both = xr.concat([a, b], dim=xr.DataArray(["reference", "other"], dims="policy", name="policy"), join="outer", combine_attrs="override")
    assert bool(both.loss_sketch.isnull().any())  # the join did leave holes
    both.to_netcdf(tmp_path / "both.nc", engine="netcdf4")
    both = xr.open_dataset(tmp_path / "both.nc", engine="netcdf4")
    for label, alone in (("reference", a), ("other", b)):
        for mine, theirs in zip(results_of(both), results_of(alone), strict=True):
            assert mine.dims[0] == "policy"
            np.testing.assert_array_equal(mine.sel(policy=label).values, theirs.values)
    # attrs lost by a concat that drops them: a clear error, not a KeyError
    dropped = xr.concat([a, b], dim="policy", join="outer", combine_attrs="drop")
    with pytest.raises(InputError, match="relative_accuracy"):
        dropped.stress.var(0.9)


def test_merge_equals_one_run_over_all_paths():
    """Runs over disjoint path ranges merged: sketches bit-identical to one run over all the
    paths, hence identical VaR/ES; the mean and SE recombined in float64 (rtol 1e-13: a few
    roundings of sums of 10^3-10^4 terms)."""
    rng = np.random.default_rng(SEED + 14)
    x = {M: rng.pareto(2.0, 5000) * 10, "output_loss/WORLD": rng.normal(5, 1, 5000)}
    cut = 1234
    one = sample_dataset(x, frequency_per_year=0.5)
    a = sample_dataset({k: v[:cut] for k, v in x.items()}, frequency_per_year=0.5)
    b = sample_dataset({k: v[cut:] for k, v in x.items()}, frequency_per_year=0.5)
    for m in (a.stress.merge(b), b.stress.merge(a)):
        xr.testing.assert_equal(m.loss_sketch.reset_coords(drop=True), one.loss_sketch.reset_coords(drop=True))
        assert m.attrs["n_paths_counted"] == 5000
        np.testing.assert_allclose(m.loss_mean, one.loss_mean, rtol=1e-13)
        np.testing.assert_allclose(m.loss_se, one.loss_se, rtol=1e-13)
        for mine, theirs in zip(results_of(m, measure=None), results_of(one, measure=None), strict=True):
            np.testing.assert_array_equal(mine.values, theirs.values)
    other_layout = sample_dataset({k: v[cut:] for k, v in x.items()}, frequency_per_year=0.5, sketch=Sketch(relative_accuracy=0.01))
    with pytest.raises(InputError, match="same layout"):
        a.stress.merge(other_layout)


def test_compare_differences():
    rng = np.random.default_rng(SEED + 15)
    x = rng.lognormal(2, 1, 4000)
    a, b = sample_dataset({M: x}), sample_dataset({M: 2 * x})
    d = a.stress.compare(b, q=[0.5, 0.99])
    assert float(d.delta_mean) == pytest.approx(x.mean(), rel=1e-12)
    assert float(d.delta_mean_se) == pytest.approx(np.hypot(x.std(ddof=1), 2 * x.std(ddof=1)) / np.sqrt(4000), rel=1e-10)
    np.testing.assert_array_equal(d.delta_value_at_risk.values, (b.stress.var([0.5, 0.99]) - a.stress.var([0.5, 0.99])).values)
    assert "paired" in d.attrs["standard_error"]


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_named():
    ds = sample_dataset({M: np.arange(10.0)}, halt_probability=np.linspace(0, 0.5, 26))
    with pytest.raises(InputError, match=r"measure='nope'.*value_added_loss/WORLD"):
        ds.stress.var(0.9, measure="nope")
    for q in (0.0, -0.1, 1.01, float("nan"), [0.5, 2.0]):
        with pytest.raises(InputError, match=r"^q="):
            ds.stress.var(q)
    with pytest.raises(InputError, match="not a stress run Dataset"):
        xr.Dataset({"a": ("x", [1.0])}).stress.var(0.9)
    with pytest.raises(InputError, match="frequency_per_year"):
        ds.stress.return_period(5.0)
    with pytest.raises(InputError, match="frequency_per_year"):
        sample_dataset({M: np.arange(10.0)}, frequency_per_year=float("nan")).stress.return_period(5.0)
    for w in (0, 27, [4, 30], 2.5):
        with pytest.raises(InputError, match="weeks from 1 to 26"):
            ds.stress.halt_within(w)
    np.testing.assert_array_equal(ds.stress.halt_within([4, 8, 13, 26]).values, np.linspace(0, 0.5, 26)[[3, 7, 12, 25]])
    with pytest.raises(InputError, match="loss_share_sketch"):
        ds.stress.var(0.9, share=True)


def test_share_sketch_per_industry():
    rng = np.random.default_rng(SEED + 16)
    shares = {("CHN", "mining"): rng.beta(2, 8, 1000), ("USA", "magnets"): np.zeros(1000)}
    ds = sample_dataset({M: np.zeros(1000)}, share_samples=shares)
    v = ds.stress.var(0.9, share=True)
    assert v.dims == ("region", "sector") and v.attrs["units"] == "1"
    want = np.quantile(shares[("CHN", "mining")], 0.9, method="inverted_cdf")
    assert abs(float(v.sel(region="CHN", sector="mining")) - want) <= A * want
    assert float(v.sel(region="USA", sector="magnets")) == 0.0
    assert np.isnan(float(v.sel(region="CHN", sector="magnets")))  # no values: NaN, not 0
