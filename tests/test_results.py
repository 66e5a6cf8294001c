"""Risk statistics, the quantile sketch, the Dataset schema and atomic writing."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import SEED

from stress.results.dataset import tail_stats, write_atomic


def test_tail_stats_against_numpy():
    rng = np.random.default_rng(SEED)
    x = rng.lognormal(size=(5000, 3))
    q = np.array([0.5, 0.95, 0.99])
    st = tail_stats(x, q)
    np.testing.assert_allclose(st["mean"], x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(st["se"], x.std(axis=0, ddof=1) / np.sqrt(5000), rtol=1e-12)
    np.testing.assert_array_equal(st["quantile"], np.quantile(x, q, axis=0, method="inverted_cdf"))
    # Expected shortfall: mean of the worst (1 - q) share, computed directly.
    for k, qk in enumerate(q):
        tail = np.sort(x, axis=0)[int(np.ceil(5000 * qk)) - 1 :]
        np.testing.assert_allclose(st["es"][k], tail.mean(axis=0), rtol=1e-12)
    assert np.all(st["lower"] <= st["quantile"]) and np.all(st["quantile"] <= st["upper"])
    assert np.all(st["es"] >= st["quantile"])


def test_quantile_confidence_interval_covers_truth():
    """Order-statistic 95 % intervals for the median of Exp(1) (true value log 2) should cover it
    in about 95 % of 400 repetitions; a binomial 99.9 % band around 0.95 is [0.91, 0.98]."""
    rng = np.random.default_rng(SEED + 1)
    covered = 0
    for _ in range(400):
        st = tail_stats(rng.exponential(size=(400, 1)), np.array([0.5]))
        covered += st["lower"][0, 0] <= np.log(2) <= st["upper"][0, 0]
    assert 0.91 <= covered / 400 <= 0.985


def test_exact_binomial_quantile_bounds_cover_and_flag_what_the_sample_cannot_support():
    """Exact order-statistic intervals: brute-force coverage of the 0.9 quantile of Exp(1) with
    N = 100 over 2,000 samples is at least 0.95 (the construction's guarantee) less 3 binomial
    standard errors (3 x sqrt(0.95 x 0.05 / 2000) = 0.015); at q = 0.99 with N = 100 no rank
    gives a 97.5 % upper bound (P(B <= 99) = 1 - 0.99**100 = 0.63), so it is NaN, not the sample
    maximum (which covers the truth in only 63 % of samples)."""
    rng = np.random.default_rng(SEED + 3)
    truth = -np.log(0.1)
    x = rng.exponential(size=(2000, 100)).T  # 2,000 samples of 100 paths, one per column
    st = tail_stats(x, np.array([0.9, 0.99]))
    covered = (st["lower"][0] <= truth) & (truth <= st["upper"][0])
    assert covered.mean() >= 0.95 - 0.015
    assert np.all(np.isnan(st["upper"][1])) and np.all(np.isfinite(st["lower"][1]))
    assert np.all(st["lower"][0] <= st["quantile"][0]) and np.all(st["quantile"][0] <= st["upper"][0])


def test_statistics_are_taken_in_float64():
    """float32 per-path values are summed in float64: the mean equals the float64 mean of the
    same numbers (a float32 running sum of 2**24 ones plus small values would stall)."""
    x = np.full((2**24 + 8, 1), 1.0, np.float32)
    x[::2] += np.float32(0.5)
    st = tail_stats(x, np.array([0.5]))
    assert st["mean"].dtype == np.float64
    np.testing.assert_allclose(st["mean"], x.astype(np.float64).mean(axis=0), rtol=1e-15)


def test_write_atomic_leaves_nothing_on_failure(tmp_path, monkeypatch):
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    target = tmp_path / "results.nc"
    write_atomic(ds, target)
    with xr.open_dataset(target) as back:
        xr.testing.assert_identical(back.load(), ds)
    before = target.read_bytes()

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        write_atomic(ds.assign(a=ds.a * 2), target)
    assert target.read_bytes() == before  # the old complete file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.nc"]
