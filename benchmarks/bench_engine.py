"""Throughput of the engine (path-days per second) at several chunk sizes, against a plain
NumPy implementation of the same daily step (``stress.propagation.reference``), in one run.

    python benchmarks/bench_engine.py                       # default world, full_cutoff
    python benchmarks/bench_engine.py --chunks 256 1024 4096 --paths 8192 --json out.jsonl

For each chunk size the engine runs ``--paths`` paths of the full_cutoff scenario (365 days)
twice: the first run includes compilation (reported separately), the second is timed. The
NumPy baseline steps ``--numpy-paths`` paths day by day with the same sampled disruptions.
Prints one JSON line per measurement and the ratio of the best engine rate to NumPy's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stress.config import Config, RuntimeConfig, ScenarioConfig, WorldConfig  # noqa: E402
from stress.runtime import setup  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="ree_world")
    ap.add_argument("--paths", type=int, default=4096)
    ap.add_argument("--chunks", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--width", type=int, default=None, help="paths vectorised together inside a chunk (default: the engine's for the platform and kernel)")
    ap.add_argument("--horizon", type=int, default=365)
    ap.add_argument("--numpy-paths", type=int, default=8)
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--json", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args()

    prov = setup(RuntimeConfig())
    import jax
    import jax.random as jr
    import numpy as np

    from stress import engine
    from stress.config import ModelConfig
    from stress.metrics import Metrics
    from stress.pipeline import prepare
    from stress.propagation import ario
    from stress.propagation import reference as ref
    from stress.sampler import sample_path

    if args.world == "ree_world":
        sc = ScenarioConfig(name="full_cutoff", kind="export_cutoff", exporter="CHN", products=["ree_separation", "magnets"])
    else:
        sc = ScenarioConfig(name="cutoff", kind="export_cutoff", exporter="reg1", products=["mining", "manufactoring"])
    cfg = Config(
        world=WorldConfig(name=args.world),
        model=ModelConfig(horizon_days=args.horizon),
        scenario=sc,
        runtime=RuntimeConfig(precision=args.precision),
    )
    prep = prepare(cfg)
    key_paths = jr.split(jr.key(0))[1]
    T = args.horizon
    common = {
        "world": args.world,
        "n": prep.mrio.n,
        "horizon": T,
        "jax": prov["jax_version"],
        "device": prov["device"],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "dtype": args.precision,
    }
    rows = []

    def emit(row):
        row = {**common, **row}
        rows.append(row)
        line = json.dumps(row)
        print(line, flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(line + "\n")

    for chunk in args.chunks:
        kw = dict(horizon=T, n_paths=args.paths, chunk_size=chunk, width=args.width)
        t0 = time.perf_counter()
        engine.run(key_paths, prep.model, Metrics(), prep.tables, prep.params, prep.spec, **{**kw, "n_paths": min(chunk, args.paths)})
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = engine.run(key_paths, prep.model, Metrics(), prep.tables, prep.params, prep.spec, **kw)
        dt = time.perf_counter() - t0
        emit(
            {
                "impl": "jax-engine",
                "chunk": chunk,
                "width": args.width,
                "paths": args.paths,
                "seconds": round(dt, 4),
                "first_chunk_with_compile_s": round(first, 3),
                "path_days_per_s": args.paths * T / dt,
                "chunks": res.n_chunks,
            }
        )

    # NumPy: the same step, one path at a time, day by day, with the same disruptions.
    m = prep.mrio
    R = len(m.regions)
    rp = ref.prepare(m.Z, m.Y, m.x, R, len(m.sectors))
    avail = jax.jit(jax.vmap(ario.availability, in_axes=(None, 0)))
    t_np = 0.0
    for pid in range(args.numpy_paths):
        dis = sample_path(jr.fold_in(key_paths, pid), prep.spec)
        beta = np.asarray(avail(dis, jax.numpy.arange(T + 1)))
        t0 = time.perf_counter()
        ref.simulate(rp, T, beta_schedule=beta[:T])
        t_np += time.perf_counter() - t0
    np_rate = args.numpy_paths * T / t_np
    emit({"impl": "numpy-reference", "dtype": "float64", "paths": args.numpy_paths, "seconds": round(t_np, 4), "path_days_per_s": np_rate})
    best = max(r["path_days_per_s"] for r in rows if r["impl"] == "jax-engine")
    print(f"best engine rate {best:,.0f} path-days/s; NumPy {np_rate:,.0f} path-days/s; ratio {best / np_rate:.1f}x")


if __name__ == "__main__":
    main()
