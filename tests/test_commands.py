"""The calibrate and backtest commands as a user runs them, and what the posterior replaces."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_cli import stress


def test_backtest_runs_and_reports_percentiles(tmp_path):
    out = tmp_path / "bt"
    r = stress("backtest", "sampler.n_paths=16", "sampler.chunk_size=16", f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    assert "held-out observations inside the 90 % band" in r.stdout
    with xr.open_dataset(out / "backtest.nc") as ds:
        assert set(ds.observable.values) >= {"exports_may_2025", "first_assembly_halt_days", "eu_licences_approved_day61"}
        assert ((ds.percentile >= 0) & (ds.percentile <= 1)).all()
        assert (ds.predictive_q05 <= ds.predictive_q95).all()
        # the licence shares at day 61 were held out of the licence model; May exports were fitted
        assert int(ds.held_out.sel(observable="eu_licences_approved_day61")) == 1
        assert int(ds.held_out.sel(observable="exports_may_2025")) == 0
        assert ds.month.values[1] == "2025-05"
        assert int(ds.attrs["crashed_paths"]) == 0


def test_backtest_without_posterior_counts_everything_as_held_out(tmp_path):
    out = tmp_path / "bt"
    r = stress(
        "backtest", "calibration.posterior=none", "scenario.controlled_share=0.74", "sampler.n_paths=8", "sampler.chunk_size=8", f"hydra.run.dir={out}"
    )
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(out / "backtest.nc") as ds:
        assert (ds.held_out == 1).all()


@pytest.mark.parametrize(
    "args, field",
    [
        (("+scenario=full_cutoff",), "scenario"),
        (("scenario.exporter=USA",), "scenario.exporter"),
        (("scenario.start_date=2024-01-01",), "scenario.start_date"),
        (("calibration.posterior=none",), "scenario.controlled_share"),
    ],
)
def test_backtest_refuses_changes_to_the_episode(args, field, tmp_path):
    r = stress("backtest", *args, "sampler.n_paths=8", "sampler.chunk_size=8", f"hydra.run.dir={tmp_path / 'bt'}")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{field}=" in r.stderr
    assert not (tmp_path / "bt" / "backtest.nc").exists()


def test_backtest_keeps_hydra_flags_working(tmp_path):
    r = stress("backtest", "--cfg", "job", "calibration.posterior=none")
    assert r.returncode == 0, r.stderr
    assert "april_2025_controls" in r.stdout


def test_posterior_replaced_settings_are_refused(tmp_path):
    """With a posterior in use the scenario's cut-off and licence priors are not used: setting
    them is refused, and allowed with calibration.posterior=none."""
    r = stress("run", "+scenario=full_cutoff", "scenario.cutoff.median_days=120", f"hydra.run.dir={tmp_path / 'a'}")
    assert r.returncode == 2 and "scenario.cutoff.median_days=" in r.stderr and "calibration.posterior=none" in r.stderr
    r = stress(
        "run",
        "+scenario=full_cutoff",
        "scenario.cutoff.median_days=120",
        "calibration.posterior=none",
        "sampler.n_paths=8",
        "sampler.chunk_size=8",
        "model.horizon_days=30",
        f"hydra.run.dir={tmp_path / 'b'}",
    )
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(tmp_path / "b" / "results.nc") as ds:
        assert ds.attrs["posterior"].startswith("none")


def test_missing_posterior_file_is_bad_input(tmp_path):
    r = stress("run", "+scenario=full_cutoff", f"calibration.posterior={tmp_path / 'nope.nc'}", f"hydra.run.dir={tmp_path / 'a'}")
    assert r.returncode == 2 and "calibration.posterior=" in r.stderr and "Traceback" not in r.stderr


def test_calibrate_refuses_an_unconverged_fit_then_forces_it(tmp_path):
    """Five warm-up steps cannot converge: the fit is refused (exit 2, nothing written); with
    force it is written and the warnings are recorded."""
    args = ("calibrate", "calibration.models=[regime]", "calibration.chains=2", "calibration.warmup=5", "calibration.samples=20")
    r = stress(*args, f"hydra.run.dir={tmp_path / 'a'}")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "calibration.regime." in r.stderr and "not published" in r.stderr
    assert not (tmp_path / "a" / "posterior.nc").exists()
    r = stress(*args, "calibration.force=true", f"hydra.run.dir={tmp_path / 'b'}")
    assert r.returncode == 0, r.stderr
    tree = xr.open_datatree(tmp_path / "b" / "posterior.nc")
    assert "posterior" in tree.children and int(tree.attrs["published_with_warnings"]) == 1
    assert np.isfinite(tree["posterior"]["cutoff_median_days"].values).all()
