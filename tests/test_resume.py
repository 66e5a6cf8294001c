"""Runs that lose nothing: the chunk store, resume after SIGKILL and Ctrl-C, every local device
and a local Dask cluster. Each must give the uninterrupted single-process run's numbers bit for
bit (the accumulators are integers merged by addition; a path's randomness depends on its id).

One reference run (in this process) is compared with: a run killed with SIGKILL twice, damaged
on disk, stopped with Ctrl-C and resumed (real subprocesses); a run on 3 forced CPU devices with
another chunk size; and a run on a local Dask cluster of 2 worker processes with a third chunk
size.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stress.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
# 32 chunks of 16 paths: long enough to be killed mid-run, short enough for CI.
ARGS = ["+scenario=full_cutoff", "sampler.n_paths=512", "sampler.chunk_size=16", "model.horizon_days=120", "runtime.progress=none"]
VOLATILE = {
    # what the same numbers may legitimately differ in: time, resume bookkeeping, where it ran
    "created", "wall_time_s", "engine_time_s", "first_chunk_time_s", "config", "chunks_resumed", "chunks_repaired",
    "chunk_size", "n_chunks", "chunks_finished", "devices", "device_count", "local_device_count", "workers", "cluster", "git_commit", "vector_width",
}


def cli(*args: str) -> tuple[int, str]:
    """``python -m stress`` in this process: exit code (0 when it returns) and stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def start(run_dir: Path, *extra: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "stress", "run", *extra, f"hydra.run.dir={run_dir}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def records(run_dir: Path) -> int:
    done = run_dir / "store" / "done"
    return len(list(done.glob("*.json"))) if done.is_dir() else 0


def wait_for(proc: subprocess.Popen, run_dir: Path, n: int, timeout: float = 400) -> None:
    """Until the store records ``n`` finished chunks; the run must still be going (else this
    test would kill nothing)."""
    deadline = time.time() + timeout
    while records(run_dir) < n:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (code {proc.returncode}) before {n} chunks were recorded: {err[-2000:]}")
        if time.time() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"no {n} chunks recorded in {timeout} s")
        time.sleep(0.02)


def same_numbers(a: xr.Dataset, b: xr.Dataset) -> None:
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        assert a[name].attrs == b[name].attrs, name
    for key in set(a.attrs) | set(b.attrs):
        if key not in VOLATILE:
            va, vb = a.attrs.get(key), b.attrs.get(key)
            assert va == vb or (isinstance(va, float) and np.isnan(va) and np.isnan(vb)), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    code, err = cli("run", *ARGS, f"hydra.run.dir={out}")
    assert code == 0, err
    return out / "results.nc"


def test_killed_twice_damaged_interrupted_and_resumed_equals_an_uninterrupted_run(tmp_path, reference):
    run = tmp_path / "run"
    # 1. SIGKILL after 2 chunks: no result file, the finished chunks recorded.
    proc = start(run, *ARGS)
    wait_for(proc, run, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    first = records(run)
    assert first >= 2 and not (run / "results.nc").exists()
    # 2. Resumed (its settings come from the run folder), killed again 6 chunks later.
    proc = start(run, "resume=" + str(run), "runtime.progress=none")
    wait_for(proc, run, first + 6)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    second = records(run)
    assert second >= first + 6 and not (run / "results.nc").exists()
    # 3. Damage: a chunk whose record was never written (killed between its data and its
    # record), one whose data is another chunk's (valid Zarr, wrong numbers) and one whose
    # file is truncated garbage. All must be found and computed again.
    finished = sorted(int(f.stem) for f in (run / "store" / "done").glob("*.json"))
    lost, swapped, garbage = finished[0], finished[1], finished[2]
    (run / "store" / "done" / f"{lost:08d}.json").unlink()
    zarr_dir = run / "store" / "chunks.zarr"
    shutil.copyfile(zarr_dir / "loss_sums" / "c" / str(finished[3]) / "0" / "0" / "0", zarr_dir / "loss_sums" / "c" / str(swapped) / "0" / "0" / "0")
    (zarr_dir / "share_sketch" / "c" / str(garbage) / "0" / "0").write_bytes(b"\x28\xb5\x2f\xfd not zstd")
    # 4. Resumed, then Ctrl-C: stops after the current chunk with a partial result.
    proc = start(run, "resume=" + str(run), "runtime.progress=none")
    wait_for(proc, run, second + 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"chunk {swapped}: its data does not match the SHA-256" in err
    assert f"chunk {garbage}: its data cannot be read" in err
    assert f"continue with: python -m stress run resume={run.resolve()}" in err
    assert "Traceback" not in err
    with xr.open_dataset(run / "results.nc") as part:
        assert part.attrs["partial"] == 1 and part.attrs["n_paths_requested"] == 512
        assert 0 < part.attrs["n_paths"] < 512 and part.attrs["n_paths"] == 16 * part.attrs["chunks_finished"]
        assert part.attrs["n_paths_counted"] + part.attrs["crashed_paths"] == part.attrs["n_paths"]
    # the report reads a partial result and says so
    code, err = cli("report", str(run))
    assert code == 0, err
    assert "PARTIAL RESULT" in (run / "report.html").read_text()
    # 5. Resumed to the end: the same numbers as the uninterrupted run.
    proc = start(run, "resume=" + str(run))
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    assert "resuming" in out
    with xr.open_dataset(reference) as a, xr.open_dataset(run / "results.nc") as b:
        assert b.attrs["partial"] == 0 and b.attrs["chunks_resumed"] > 0
        same_numbers(a, b)


def test_forced_cpu_devices_and_another_chunk_size_give_the_same_numbers(tmp_path, reference):
    run = tmp_path / "devices"
    proc = start(run, *ARGS, "sampler.chunk_size=24", "runtime.devices=3", env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    assert "devices=3" in out
    with xr.open_dataset(reference) as a, xr.open_dataset(run / "results.nc") as b:
        assert b.attrs["devices"] == 3 and b.attrs["device_count"] == 4 and b.attrs["chunk_size"] == 24
        same_numbers(a, b)


def test_local_dask_cluster_equals_a_single_process_run(tmp_path, reference):
    run = tmp_path / "cluster"
    proc = start(run, *ARGS, "sampler.chunk_size=40", "cluster=local", "cluster.workers=2", "cluster.chunks_per_task=3")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    with xr.open_dataset(reference) as a, xr.open_dataset(run / "results.nc") as b:
        assert b.attrs["workers"] == 2 and b.attrs["cluster"] == "local"
        same_numbers(a, b)
    # every chunk was written by a worker process, not by the driver
    pids = {json.loads(f.read_text())["pid"] for f in (run / "store" / "done").glob("*.json")}
    assert proc.pid not in pids and 1 <= len(pids) <= 2


def test_the_store_reads_lazily_with_dask_and_sums_to_the_results(reference):
    store = reference.parent / "store"
    with xr.open_zarr(store / "chunks.zarr", consolidated=False) as z, xr.open_dataset(reference) as ds:
        assert z["count"].chunks is not None  # Dask-backed, read lazily
        assert z.sizes["chunk"] == 32
        assert int(z["count"].sum()) == ds.attrs["n_paths_counted"]
        assert int(z["crashed"].sum()) == ds.attrs["crashed_paths"]
        # the halt-week counts summed over chunks give the run's halt probabilities
        counts = z["constrained_week"].sum("chunk").values
        p = np.cumsum(counts[:, :-1], axis=1) / ds.attrs["n_paths_counted"]
        np.testing.assert_array_equal(p.T.reshape(ds.halt_probability.shape), ds.halt_probability.values)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["n_chunks"] == 32 and manifest["settings"]["sampler"]["n_paths"] == 512
    assert len(list((store / "done").glob("*.json"))) == 32


def test_resume_refuses_other_settings_code_or_folders(tmp_path, reference):
    run = tmp_path / "copy"
    shutil.copytree(reference.parent, run)
    # another setting that changes the numbers
    code, err = cli("run", f"resume={run}", "sampler.seed=3")
    assert code == 2 and "sampler.seed=0 (now 3)" in err and "Traceback" not in err
    # a refused resume does not change what the next one reuses (the manifest's overrides)
    manifest = json.loads((run / "store" / "manifest.json").read_text())
    assert "sampler.n_paths=512" in manifest["overrides"] and not any("seed" in o for o in manifest["overrides"])
    # a damaged manifest: one line, exit 2
    (run / "store" / "manifest.json").write_text(json.dumps({"format": 1, "overrides": []}))
    code, err = cli("run", f"resume={run}")
    assert code == 2 and "lacks settings" in err and "Traceback" not in err
    # another version of the code
    (run / "store" / "manifest.json").write_text(json.dumps({**manifest, "code": "0" * 64}))
    code, err = cli("run", f"resume={run}")
    assert code == 2 and "the same stress code" in err
    (run / "store" / "manifest.json").write_text(json.dumps(manifest))
    # not a run folder; a run folder written into without resume; resume for another command
    code, err = cli("run", f"resume={tmp_path / 'nothing'}")
    assert code == 2 and "store/manifest.json" in err
    code, err = cli("run", *ARGS, f"hydra.run.dir={run}")
    assert code == 2 and f"resume={run}" in err
    code, err = cli("compare", "+scenario=full_cutoff", f"resume={run}")
    assert code == 2 and "python -m stress run only" in err
    # cluster settings in a one-process run would be ignored: refused
    code, err = cli("run", *ARGS, "cluster.workers=3", f"hydra.run.dir={tmp_path / 'other'}")
    assert code == 2 and "cluster.workers=3" in err
    # a resume of a finished run only merges: same numbers, nothing computed
    code, err = cli("run", f"resume={run}")
    assert code == 0, err
    with xr.open_dataset(reference) as a, xr.open_dataset(run / "results.nc") as b:
        assert b.attrs["chunks_resumed"] == 32 and b.attrs["engine_time_s"] == 0
        same_numbers(a, b)


def test_path_ids_beyond_32_bits_are_refused():
    from stress.engine import Layout
    from stress.errors import InputError

    assert Layout.of(2**31 - 1, 65536).n_chunks == 32768
    with pytest.raises(InputError, match="sampler.n_paths"):
        Layout.of(2**31, 1024)
