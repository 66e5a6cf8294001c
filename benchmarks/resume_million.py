"""A large run killed twice with SIGKILL and resumed gives the same file as an uninterrupted run.

    python benchmarks/resume_million.py                          # 10^6 paths, full_cutoff, 14 days
    python benchmarks/resume_million.py --paths 100000 --horizon 30

Runs ``python -m stress run +scenario=full_cutoff`` twice in fresh processes: once without a
break, once killed with SIGKILL after ``--kills`` chunk counts and resumed with
``resume=RUN_DIR`` each time until it finishes. Compares every data variable of the two
results.nc bit for bit, and every attribute but the run's times, its config text and its
resume bookkeeping. Prints one JSON line (wall times, chunks finished at each kill, the result)
and appends it to benchmarks/results/resume_<platform>.jsonl. The horizon is short so that two
runs of 10^6 paths fit in about a quarter of an hour on 2 CPU cores; what is measured (the chunk
store and the merge) does not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = {"created", "wall_time_s", "engine_time_s", "first_chunk_time_s", "config", "chunks_resumed", "chunks_repaired"}


def start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "stress", "run", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def records(run: Path) -> int:
    d = run / "store" / "done"
    return len(list(d.glob("*.json"))) if d.is_dir() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--horizon", type=int, default=14)
    ap.add_argument("--kills", type=int, nargs="+", default=[4, 10], help="kill when the store holds this many finished chunks")
    ap.add_argument("--out", type=Path, default=None, help="folder for the two runs (default: a temporary one)")
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="stress-resume-"))
    base = ["+scenario=full_cutoff", f"sampler.n_paths={a.paths}", f"sampler.chunk_size={a.chunk}", f"model.horizon_days={a.horizon}", "runtime.progress=none"]
    t0 = time.perf_counter()
    whole = start([*base, f"hydra.run.dir={out / 'whole'}"])
    _, err = whole.communicate()
    if whole.returncode:
        sys.exit(f"uninterrupted run failed: {err[-2000:]}")
    t_whole = time.perf_counter() - t0
    run = out / "killed"
    t0 = time.perf_counter()
    args = [*base, f"hydra.run.dir={run}"]
    killed_at = []
    for k in a.kills:
        proc = start(args)
        while records(run) < k and proc.poll() is None:
            time.sleep(0.05)
        if proc.poll() is not None:
            sys.exit(f"the run ended before {k} chunks were recorded: {proc.stderr.read()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        killed_at.append(records(run))
        args = [f"resume={run}", "runtime.progress=none"]
    proc = start(args)
    _, err = proc.communicate()
    if proc.returncode:
        sys.exit(f"resumed run failed: {err[-2000:]}")
    t_killed = time.perf_counter() - t0
    with xr.open_dataset(out / "whole" / "results.nc") as x, xr.open_dataset(run / "results.nc") as y:
        differ = [k for k in x.data_vars if not np.array_equal(x[k].values, y[k].values, equal_nan=True)]
        attrs = [k for k in set(x.attrs) | set(y.attrs) if k not in VOLATILE and str(x.attrs.get(k)) != str(y.attrs.get(k))]
        n_vars, counted = len(x.data_vars), int(y.attrs["n_paths_counted"])
    row = {
        "benchmark": "resume_after_sigkill",
        "paths": a.paths,
        "chunk": a.chunk,
        "horizon_days": a.horizon,
        "uninterrupted_wall_s": round(t_whole, 1),
        "killed_and_resumed_wall_s": round(t_killed, 1),
        "chunks_finished_at_each_kill": killed_at,
        "data_variables": n_vars,
        "differing_variables": differ,
        "differing_attributes": attrs,
        "identical": not differ and not attrs,
        "paths_counted": counted,
        "store_mb": round(sum(f.stat().st_size for f in (run / "store").rglob("*") if f.is_file()) / 2**20, 1),
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(row))
    res = ROOT / "benchmarks" / "results" / f"resume_{'cpu' if os.environ.get('JAX_PLATFORMS', 'cpu') == 'cpu' else 'gpu'}_{os.cpu_count()}cores.jsonl"
    with res.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
