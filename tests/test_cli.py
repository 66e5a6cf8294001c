"""The command line as a user meets it: composition, subprocess runs, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hydra import compose, initialize_config_dir

from stress import cli
from stress.config import Config

ROOT = Path(__file__).resolve().parents[1]


def stress(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "stress", *args], cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def composed(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return cli.to_config(compose(config_name="config", overrides=list(overrides)))


def test_compose_full_cutoff_defaults():
    cfg = composed("+scenario=full_cutoff")
    assert cfg.scenario is not None and cfg.scenario.name == "full_cutoff"
    assert cfg.scenario.exporter == "CHN" and cfg.scenario.products == ["ree_separation", "magnets"]
    assert cfg.world.name == "ree_world"
    m = cfg.model  # the parameter set of the independent ARIO comparison (ARIO.md)
    assert (m.inventory_days, m.psi, m.inventory_tau, m.alpha_max, m.alpha_tau, m.order_type) == (90.0, 0.8, 60.0, 1.25, 365.0, "alt")
    assert m.horizon_days == 365


def test_compose_overrides_and_lists():
    cfg = composed(
        "+scenario=baseline",
        "sampler.n_paths=10",
        "sampler.seed=7",
        "shock=capacity_loss",
        "shock.region=[reg2,reg5]",
        "shock.sector=mining",
    )
    assert cfg.sampler.n_paths == 10 and cfg.sampler.seed == 7
    assert cfg.shock.region == ["reg2", "reg5"] and cfg.shock.sector == "mining"
    assert cfg.scenario.kind == "baseline"


def test_run_full_cutoff_smoke(tmp_path):
    out = tmp_path / "run"
    res = stress("run", "+scenario=full_cutoff", "sampler=smoke", f"hydra.run.dir={out}")
    assert res.returncode == 0, res.stderr
    assert "chunk 2/2" in res.stdout  # plain progress lines when stdout is not a terminal
    assert "most at risk" in res.stdout and "WORLD" in res.stdout
    assert f"results: {out / 'results.nc'}" in res.stdout
    with xr.open_dataset(out / "results.nc") as ds:
        assert ds.attrs["n_paths"] == 16 and ds.attrs["seed"] == 0 and ds.attrs["scenario"] == "full_cutoff"
        assert "jax_version" in ds.attrs and "device" in ds.attrs and "git_commit" in ds.attrs
        from stress import runtime

        prov = runtime.provenance()  # this process runs the same source on the same machine
        keys = ("stress_version", "git_commit", "jax_version", "jaxlib_version")
        keys += ("jax_backend", "platform", "device_kind", "local_device_count")
        for key in keys:
            assert ds.attrs[key] == prov[key], key
        assert int(ds.attrs["x64"]) == 1 and int(ds.attrs["workers"]) >= 1
        assert "name: full_cutoff" in ds.attrs["config"]  # the resolved config travels with the results
        assert ds.output_loss_mean.dims == ("region", "sector")
        assert ds.region_output_loss_quantile.dims == ("quantile", "region")
        for name, var in ds.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert float(ds.world_output_loss_mean) > 0
        # Expected loss summed over regions equals the world's (both exact means over paths).
        assert float(ds.region_output_loss_mean.sum()) == pytest.approx(float(ds.world_output_loss_mean), rel=1e-12)
    assert not list(out.glob(".results.nc.*"))  # no temporary left behind


def test_run_baseline_gives_zero_loss(tmp_path):
    res = stress("run", "+scenario=baseline", "sampler=smoke", f"hydra.run.dir={tmp_path}")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "results.nc") as ds:
        world = float(ds.baseline_output.sum())
        assert abs(float(ds.world_output_loss_mean)) < 1e-9 * world  # float rounding only
        assert np.abs(ds.output_loss_mean.values).max() < 1e-9 * world
        assert float(ds.halt_probability.max()) == 0.0


def test_simulate_writes_trajectory(tmp_path):
    res = stress(
        "simulate",
        "world=pymrio_test",
        "shock=capacity_loss",
        "shock.region=[reg2,reg5]",
        "shock.sector=mining",
        "shock.fraction=0.5",
        "shock.start_day=5",
        "shock.duration_days=60",
        "shock.recovery_days=90",
        "model.horizon_days=120",
        f"hydra.run.dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "trajectory.nc") as ds:
        assert ds.production.dims == ("day", "region", "sector") and ds.sizes["day"] == 120
        cap = ds.production_capacity / ds.baseline_production
        # Day 4: no loss yet; days 5..64 at half capacity; 90 days of linear recovery after.
        for region in ("reg2", "reg5"):
            c = cap.sel(region=region, sector="mining")
            assert float(c[4]) == pytest.approx(1.0, abs=1e-12)
            assert float(c[5]) == pytest.approx(0.5, abs=1e-12)
        assert float(cap.sel(region="reg1", sector="mining")[30]) >= 1.0
        assert (ds.production <= ds.production_capacity * (1 + 1e-12)).all()


def test_two_runs_in_the_same_second_do_not_collide(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "stress", "run", "+scenario=baseline", "sampler=smoke", "model.horizon_days=10"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    runs = sorted((tmp_path / "outputs" / "run").iterdir())
    assert len(runs) == 2
    assert all((r / "results.nc").exists() for r in runs)


def test_multirun_sweep(tmp_path):
    res = stress(
        "run",
        "--multirun",
        "+scenario=full_cutoff",
        "sampler=smoke",
        "model.horizon_days=150",
        "sampler.seed=1,2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr
    files = sorted(tmp_path.glob("*/results.nc"))
    assert len(files) == 2
    with xr.open_dataset(files[0]) as a, xr.open_dataset(files[1]) as b:
        assert {a.attrs["seed"], b.attrs["seed"]} == {1, 2}
        assert float(a.world_output_loss_mean) != float(b.world_output_loss_mean)


def _bad_table(tmp_path: Path) -> Path:
    import pymrio

    io = pymrio.load_test()
    io.Z.iloc[3, 5] = -10.0
    io.save_all(tmp_path / "bad_mrio")
    return tmp_path / "bad_mrio"


BAD = [
    (["run", "+scenario=nope"], "scenario", "nope"),
    (["run", "scenario=full_cutoff"], "scenario", "+scenario="),
    (["run", "+scenario=full_cutoff", "world=atlantis"], "world", "atlantis"),
    (["frobnicate"], "unknown command", "frobnicate"),
    (["simulate", "world=pymrio_test", "shock=capacity_loss", "shock.region=reg9", "shock.sector=mining"], "shock.region", "reg9"),
    (["simulate", "world=pymrio_test", "shock=capacity_loss", "shock.region=[reg2,reg5]", "shock.sector=gold"], "shock.sector", "gold"),
    (
        ["simulate", "world=pymrio_test", "shock=capacity_loss", "shock.region=reg2", "shock.sector=mining", "shock.duration_days=-5"],
        "shock.duration_days",
        "-5",
    ),
    (
        ["simulate", "world=pymrio_test", "shock=capacity_loss", "shock.region=reg2", "shock.sector=mining", "shock.fraction=1.5"],
        "shock.fraction",
        "1.5",
    ),
    (["run", "+scenario=full_cutoff", "scenario.start_day=-1"], "scenario.start_day", "-1"),
    (["run", "+scenario=full_cutoff", "metrics.quantiles=[0.5,1.5]"], "metrics.quantiles", "1.5"),
    (["run", "+scenario=full_cutoff", "sampler.n_paths=0"], "sampler.n_paths", "0"),
    (["run", "+scenario=full_cutoff", "sampler.n_paths=many"], "n_paths", "many"),
    (["run", "+scenario=full_cutoff", "world=pymrio_test"], "scenario.exporter", "CHN"),
    (["run", "+scenario=full_cutoff", "sampler.n_pathz=5"], "n_pathz", "SamplerConfig"),
    (["run", "+scenario=full_cutoff", "world=pymrio_dir", "world.path=/nonexistent/table"], "world.path", "/nonexistent/table"),
    (["run"], "scenario", "+scenario="),
]


@pytest.mark.parametrize(("args", "field", "value"), BAD, ids=[" ".join(b[0])[:60] for b in BAD])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, field, value):
    out = tmp_path / "out"
    res = stress(*args, f"hydra.run.dir={out}")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert field in res.stderr and value in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert len(res.stderr.strip().splitlines()) <= 6
    assert not list(tmp_path.rglob("*.nc"))


def test_mrio_failing_validation_names_the_rows(tmp_path):
    path = _bad_table(tmp_path)
    res = stress("run", "+scenario=baseline", "world=pymrio_dir", f"world.path={path}", f"hydra.run.dir={tmp_path / 'out'}")
    assert res.returncode == 2, res.stderr
    assert "world[bad_mrio].Z" in res.stderr and "negative" in res.stderr
    assert "reg1/" in res.stderr  # the offending row is named
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.rglob("*.nc"))


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    res = stress("run", "+scenario=baseline", "sampler=smoke", f"hydra.run.dir={blocker / 'run'}")
    assert res.returncode == 2
    assert "hydra.run.dir" in res.stderr and str(blocker) in res.stderr
    assert "Traceback" not in res.stderr
