"""Bad input that used to be accepted silently, crash with a traceback, or write a result first.

Most checks run in-process through the functions the command line calls before Hydra starts;
a few subprocess runs prove exit code 2, one message and no result file end to end.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stress import cli
from stress.__main__ import make_output_dir, parse_args
from stress.config import WorldConfig
from stress.errors import InputError
from stress.sketch import Sketch, quantile_rank, rank_values
from stress.mrio import io as mrio_io
from stress.mrio.ree_world import DATA_DIR as REE_DATA

ROOT = Path(__file__).resolve().parents[1]
CAPACITY_LOSS = ("world=pymrio_test", "shock=capacity_loss", "shock.region=reg2", "shock.sector=mining")


def stress(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stress", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


# (overrides, field named in the error, text of the value in the message)
REFUSED = [
    # 1. a capacity loss that does nothing
    ((*CAPACITY_LOSS, "shock.duration_days=0", "shock.recovery_days=0"), "shock.duration_days", "0"),
    ((*CAPACITY_LOSS, "shock.fraction=0"), "shock.fraction", "0.0"),
    # 2. an export cut-off to nobody
    (("+scenario=full_cutoff", "scenario.destinations=[]"), "scenario.destinations", "[]"),
    # 3. an event that starts after the last simulated day
    (("+scenario=full_cutoff", "scenario.start_day=365"), "scenario.start_day", "365"),
    (("+scenario=full_cutoff", "model.horizon_days=30", "scenario.start_day=30"), "scenario.start_day", "30"),
    ((*CAPACITY_LOSS, "model.horizon_days=100", "shock.start_day=100"), "shock.start_day", "100"),
    # 4. keys the schema does not have, added with a plus
    (("+sampler.foo=1",), "sampler.foo", "1"),
    (("+model.bar=2",), "model.bar", "2"),
    (("+scenario=full_cutoff", "+scenario.cutoff.nonsense=1"), "scenario.cutoff.nonsense", "1"),
    (("+frobnicate=3",), "frobnicate", "3"),
    # 5. a path the world ignores
    (("world=pymrio_test", "world.path=/tmp"), "world.path", "/tmp"),
    # 7. a quantile listed twice
    (("metrics.quantiles=[0.5,0.9,0.5]",), "metrics.quantiles", "0.5 is listed twice"),
    # 9. ids past 32 bits: fold_in would repeat an earlier path's draws
    (("simulate.path_id=5000000000",), "simulate.path_id", "5000000000"),
    (("simulate.path_id=2147483648",), "simulate.path_id", "2147483648"),
    (("sampler.n_paths=2147483648",), "sampler.n_paths", "2147483648"),
    (("sampler.chunk_size=2147483648",), "sampler.chunk_size", "2147483648"),
    (("sampler.seed=-1",), "sampler.seed", "-1"),
    (("sampler.seed=9223372036854775808",), "sampler.seed", "9223372036854775808"),  # 2**63
    # siblings: settings the chosen kind ignores
    (("shock.region=reg2", "shock.fraction=0.5"), "shock.region", "reg2"),
    (("+scenario=baseline", "scenario.products=[magnets]"), "scenario.products", "magnets"),
    # siblings: infinite numbers where only finite ones make sense
    (("metrics.relative_accuracy=inf",), "metrics.relative_accuracy", "inf"),
    (("metrics.relative_accuracy=0",), "metrics.relative_accuracy", "0"),
    (("metrics.attribution_paths=-1",), "metrics.attribution_paths", "-1"),
    (("+scenario=full_cutoff", "scenario.frequency_per_year=0"), "scenario.frequency_per_year", "0"),
    (("model.inventory_days=inf",), "model.inventory_days", "inf"),
    (("+scenario=full_cutoff", "scenario.cutoff.sigma=inf"), "scenario.cutoff.sigma", "inf"),
    # siblings: overrides Hydra used to fail on with an AssertionError or IndexError
    (("scenario.start_day=3",), "scenario.start_day", "3"),
    (("+scenario=full_cutoff", "~scenario.cutoff"), "scenario.cutoff", None),
]


@pytest.mark.parametrize(("overrides", "field", "value"), REFUSED, ids=[" ".join(r[0])[-50:] for r in REFUSED])
def test_config_refused_before_any_work(overrides, field, value):
    with pytest.raises(InputError) as err:
        cli.check_composition(list(overrides))
    assert err.value.field == field
    if value is not None:
        assert value in str(err.value)


ACCEPTED = [
    (*CAPACITY_LOSS, "shock.duration_days=0", "shock.recovery_days=30"),  # a one-off hit, then recovery
    (*CAPACITY_LOSS, "model.horizon_days=100", "shock.start_day=99", "shock.fraction=1.0"),
    ("+scenario=full_cutoff", "scenario.destinations=[USA,EU]", "scenario.start_day=364"),
    ("+scenario=full_cutoff", "scenario.cutoff.median_days=inf"),  # a cut-off that never ends
    ("metrics.quantiles=[0,0.5,1]",),
    ("simulate.path_id=2147483647", "sampler.n_paths=2147483647", "sampler.chunk_size=2147483647"),
    ("sampler.seed=9223372036854775807",),  # 2**63 - 1: jax.random.key takes 64-bit seeds
    ("world.path=/any/folder",),  # checked when the world is loaded
]


@pytest.mark.parametrize("overrides", ACCEPTED, ids=[" ".join(a)[-50:] for a in ACCEPTED])
def test_config_edges_accepted(overrides):
    cli.check_composition(list(overrides))


@pytest.mark.parametrize(
    ("override", "keys"),
    [("+sampler.foo=1", "n_paths, chunk_size, seed"), ("+scenario.cutoff.nonsense=1", "median_days, sigma")],
)
def test_unknown_key_lists_the_allowed_keys(override, keys):
    with pytest.raises(InputError) as err:
        cli.check_composition(["+scenario=full_cutoff", override])
    assert keys in err.value.allowed


FLAGS = [
    ["--cfg", "job"],
    ["-c", "job"],
    ["--cfg=all", "--resolve"],
    ["-c", "hydra", "-p", "hydra.run"],
    ["--package", "sampler", "--cfg", "job"],
    ["--config-name", "config"],
    ["-cn", "config"],
    ["-cp", "/tmp"],
    ["--config-path", "/tmp"],
    ["-cd", "/tmp"],
    ["--config-dir", "/tmp"],
    ["-i", "defaults"],
    ["--info", "searchpath"],
    ["-h"],
    ["--hydra-help"],
    ["-m"],
    ["--multirun"],
    ["-r"],
]
# A bare --info takes the next argument as its value, in Hydra too: it goes last.
FLAG_CASES = [(f, first) for f in FLAGS for first in (True, False)] + [(["--info"], False), (["-i"], False)]


@pytest.mark.parametrize(("flags", "first"), FLAG_CASES, ids=[" ".join(f) + (" first" if b else " last") for f, b in FLAG_CASES])
def test_hydra_flags_and_their_values_are_not_overrides(flags, first):
    overrides = ["+scenario=full_cutoff", "sampler.seed=1"]
    args = [*flags, *overrides] if first else [*overrides, *flags]
    assert parse_args("run", args).overrides == overrides


def test_bad_hydra_flag_is_input_error():
    with pytest.raises(InputError) as err:
        parse_args("run", ["+scenario=full_cutoff", "--cfg", "everything"])
    assert err.value.field == "arguments" and "everything" in err.value.allowed


def test_output_folder_is_created_when_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "a" / "b"
    make_output_dir([f"hydra.run.dir={target}", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert target.is_dir() and not (tmp_path / "sweep").exists()
    make_output_dir([f"hydra.sweep.dir={tmp_path / 'sweep'}"], multirun=True)
    assert (tmp_path / "sweep").is_dir()
    make_output_dir(["+scenario=full_cutoff"])  # the default folder is Hydra's to make
    assert not (tmp_path / "outputs").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_output_folder_that_cannot_be_created():
    with pytest.raises(InputError) as err:
        make_output_dir(["hydra.run.dir=/proc/forbidden"])  # os.access says root may write /proc
    assert err.value.field == "hydra.run.dir" and err.value.value == "/proc/forbidden"


def test_sketch_quantiles_0_and_1_are_the_extremes():
    """Ranks 1 and N read from the sketch are the sample's minimum and maximum, within the
    sketch's relative accuracy."""
    import jax.numpy as jnp

    sk = Sketch()
    data = np.random.default_rng(0).uniform(0.3, 0.6, size=1000)
    counts = np.asarray(sk.add(sk.empty(), jnp.asarray(data), jnp.ones(1000)))
    got = rank_values(counts, sk.values(), np.array([quantile_rank(1000, 0.0), quantile_rank(1000, 1.0)]))
    np.testing.assert_allclose(got, [data.min(), data.max()], rtol=sk.relative_accuracy)


def test_ree_world_from_a_folder(tmp_path, ree_world):
    shutil.copy(REE_DATA / "Z.csv", tmp_path / "Z.csv")
    Y = pd.read_csv(REE_DATA / "Y.csv", index_col=[0, 1])
    Y.iloc[-1, -1] *= 1.5
    Y.to_csv(tmp_path / "Y.csv")
    loaded = mrio_io.load(WorldConfig(name="ree_world", path=str(tmp_path)))
    assert loaded.Y[-1, -1] == pytest.approx(1.5 * ree_world.Y[-1, -1])  # the folder's table, not the shipped one
    assert loaded.meta["data_dir"] == str(tmp_path.resolve())


@pytest.mark.parametrize(("missing", "said"), [("folder", "is not a folder"), ("Y.csv", "Y.csv not found")])
def test_ree_world_folder_missing(tmp_path, missing, said):
    folder = tmp_path / "tables"
    if missing != "folder":
        folder.mkdir()
        shutil.copy(REE_DATA / "Z.csv", folder / "Z.csv")
    with pytest.raises(InputError) as err:
        mrio_io.load(WorldConfig(name="ree_world", path=str(folder)))
    assert err.value.field == "world.path" and err.value.value == str(folder)
    assert said in err.value.allowed


def test_ree_world_folder_with_a_malformed_csv(tmp_path):
    shutil.copy(REE_DATA / "Y.csv", tmp_path / "Y.csv")
    (tmp_path / "Z.csv").write_text('region,sector\n"unclosed\n')
    with pytest.raises(InputError) as err:
        mrio_io.load(WorldConfig(name="ree_world", path=str(tmp_path)))
    assert err.value.field == "world.path"


# ---------------------------------------------------------------------------------------------
# end to end: exit code 2, one line on stderr, no traceback, no result file

CLI_REFUSED = [
    (["run", "+scenario=full_cutoff", "metrics.quantiles=[0.5,0.5]"], "metrics.quantiles"),
    (["run", "+scenario=full_cutoff", "+sampler.foo=1"], "sampler.foo"),
    (["run", "+scenario=full_cutoff", "scenario.destinations=[]"], "scenario.destinations"),
    (["simulate", *CAPACITY_LOSS, "shock.duration_days=0", "shock.recovery_days=0"], "shock.duration_days"),
    (["simulate", "world=pymrio_test", "simulate.path_id=5000000000"], "simulate.path_id"),
    (["simulate", "scenario.start_day=3"], "scenario.start_day"),
    (["run", "+scenario=baseline", "world.path=/nonexistent/ree_tables"], "world.path"),
]


_CUDA = any("cuda" in (d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions())
if not _CUDA:  # without a CUDA plugin, no machine can run on a GPU
    CLI_REFUSED.append((["simulate", "world=pymrio_test", "model.horizon_days=5", "runtime.platform=gpu"], "runtime.platform"))


@pytest.mark.parametrize(("args", "field"), CLI_REFUSED, ids=[" ".join(a[0])[-50:] for a in CLI_REFUSED])
def test_cli_refuses_with_exit_2(tmp_path, args, field):
    res = stress(*args, f"hydra.run.dir={tmp_path / 'out'}")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith(f"stress: error: {field}=") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert not list(tmp_path.rglob("*.nc"))


def test_cli_unwritable_output_folder_as_root_too():
    res = stress("run", "+scenario=baseline", "sampler=smoke", "hydra.run.dir=/proc/forbidden/run")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("stress: error: hydra.run.dir='/proc/forbidden/run'"), res.stderr
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize("flags", [["--cfg", "job"], ["-c", "job", "-p", "scenario"]], ids=" ".join)
def test_cli_cfg_job_prints_the_config_without_running(tmp_path, flags):
    out = tmp_path / "out"
    res = stress("run", "+scenario=full_cutoff", "sampler.seed=5", f"hydra.run.dir={out}", *flags)
    assert res.returncode == 0, res.stderr
    assert "name: full_cutoff" in res.stdout and "exporter: CHN" in res.stdout
    assert ("seed: 5" in res.stdout) == ("-p" not in flags)  # the whole job, or the scenario package only
    assert not out.exists()  # nothing ran, no folder made
