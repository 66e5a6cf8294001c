"""Risk statistics, the quantile sketch, the Dataset schema and atomic writing."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import SEED

from stress.metrics import histogram_quantiles
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


def test_histogram_quantiles_within_one_bin():
    rng = np.random.default_rng(SEED + 2)
    lo, hi, bins = -0.25, 1.0, 250
    data = rng.beta(2, 5, size=(20_000, 4))
    hist = np.stack([np.histogram(data[:, j], bins=bins, range=(lo, hi))[0] for j in range(4)])
    q = np.array([0.1, 0.5, 0.95, 0.99])
    got = histogram_quantiles(hist, q, lo, hi)
    want = np.quantile(data, q, axis=0)
    assert np.abs(got - want).max() <= (hi - lo) / bins  # the sketch's stated accuracy


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
