"""The ARIO kernel against NumPy written the way BoARIO would write it, in one run.

    python benchmarks/bench_kernel.py                       # both worlds, float64 and float32 (~10 min on 2 cores)
    python benchmarks/bench_kernel.py --worlds pymrio_test --paths 8192 --widths 8 32 128 512
    python benchmarks/bench_kernel.py --json benchmarks/results/kernel_cpu_2cores.jsonl

For each world (``pymrio_test``, n = 48, scenario ``cutoff``; ``ree_world``, n = 84, scenario
``full_cutoff``; 365 days) and each precision, a fresh worker process (the precision is fixed
per process, before any JAX array exists):

1. checks, in float64, that NumPy's production trajectories (``benchmarks/ario_numpy.py``, one
   path at a time and batched) match the JAX kernel's (``Ario.simulate`` without a reducer,
   ``kernel="plain"`` and ``"compact"``) within ``--rtol`` relative on ``--check-paths`` sampled
   paths, and that the sampled paths lose no capacity (the NumPy step has none): otherwise it
   stops with an error;
2. times the one-path NumPy loop (``--numpy-paths`` paths, one after the other) and the
   vectorised NumPy step (one batch of ``--batch`` paths);
3. times the engine (``engine.run`` with ``Metrics()``: sampling, kernel, metrics, accumulation)
   for each kernel and vector width on one chunk of ``--paths`` paths: a first run compiles,
   the second is timed.

A last fresh process times the first engine chunk (compile and run) on the default world in
float64 and subtracts a second call's run time: the compile time. The script prints one JSON
line per measurement (JAX version, device, dtype, CPU count, n, horizon, width, paths), then the
ratios of the best JAX rates to NumPy's (also as JSON lines), and appends all of them to
``--json`` when given. Rates are path-days per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

SCENARIOS = {
    "pymrio_test": dict(name="cutoff", kind="export_cutoff", exporter="reg1", products=["mining", "manufactoring"]),
    "ree_world": dict(name="full_cutoff", kind="export_cutoff", exporter="CHN", products=["ree_separation", "magnets"]),
}
PREFIX = "@row "  # marks a worker's JSON lines on its stdout


def prepared(world: str, dtype: str, horizon: int):
    """The world, tables, model and shock spec of the benchmark scenario (sets up JAX)."""
    from stress.config import Config, ModelConfig, RuntimeConfig, ScenarioConfig, WorldConfig
    from stress.pipeline import prepare

    cfg = Config(
        world=WorldConfig(name=world),
        model=ModelConfig(horizon_days=horizon),
        scenario=ScenarioConfig(**SCENARIOS[world]),
        runtime=RuntimeConfig(precision=dtype),
    )
    return prepare(cfg)


def common_fields(prep, world: str, dtype: str, horizon: int) -> dict:
    return {
        "world": world,
        "n": prep.mrio.n,
        "horizon": horizon,
        "dtype": dtype,
        "jax": prep.provenance["jax_version"],
        "device": prep.provenance["device"],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def schedules(dis, horizon: int):
    """Licensed shares ``beta(t)`` (T + 1, B, n, R) of a batch of sampled disruptions; stops
    if any of them loses capacity on some day (the NumPy step models none)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from stress.propagation import ario

    days = jnp.arange(horizon + 1, dtype=dis.export_mask.dtype)
    per_day = lambda d: jax.vmap(lambda t: (ario.availability(d, t), ario.capacity_loss(d, t, round6_values=True)))(days)  # noqa: E731
    beta, loss = jax.jit(jax.vmap(per_day))(dis)
    if np.any(np.asarray(loss) != 0):
        sys.exit("bench_kernel: a sampled path loses capacity; the NumPy step implements export restrictions only")
    return np.moveaxis(np.asarray(beta), 1, 0)


def worker(world: str, dtype: str, args: argparse.Namespace) -> None:
    """Check and time one world in one precision; print the rows with :data:`PREFIX`."""
    prep = prepared(world, dtype, args.horizon)
    import ario_numpy
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np

    from stress import engine
    from stress.metrics import Metrics
    from stress.propagation import ario
    from stress.sampler import sample_path

    T = args.horizon
    common = common_fields(prep, world, dtype, T)
    emit = lambda row: print(PREFIX + json.dumps({**common, **row}), flush=True)  # noqa: E731
    key_paths = jr.split(jr.key(0))[1]
    sample = jax.jit(jax.vmap(lambda pid: sample_path(jr.fold_in(key_paths, pid), prep.spec)))
    tab = ario_numpy.from_jax(prep.tables, prep.params)
    models = {k: ario.Ario(order_type=prep.model.order_type, boario_quirks=prep.model.boario_quirks, kernel=k) for k in args.kernels}

    # 1. correctness: NumPy (one path, and batched) against both JAX kernels, float64
    if dtype == "float64" and args.check_paths > 0:
        dis = sample(jnp.arange(args.check_paths))
        beta = schedules(dis, T)
        X_batch = ario_numpy.simulate(tab, beta)  # (T, B, n)
        for k, model in models.items():
            X_jax = np.asarray(jax.jit(jax.vmap(lambda d, m=model: m.simulate(prep.tables, prep.params, d, T).production))(dis))  # (B, T, n)
            for impl, X_np in (("numpy-loop", None), ("numpy-vectorised", X_batch)):
                errs = []
                for b in range(args.check_paths):
                    x = ario_numpy.simulate(tab, beta[:, b]) if X_np is None else X_np[:, b]
                    ref = X_jax[b]
                    errs.append(float(np.max(np.abs(x - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny))))
                err = max(errs)
                emit({"impl": "check", "numpy": impl, "kernel": k, "paths": args.check_paths, "max_rel_err": err, "rtol": args.rtol})
                if not err <= args.rtol:
                    sys.exit(f"bench_kernel: {impl} and JAX kernel {k!r} disagree on {world}: max relative error {err:.3g} > {args.rtol:g}")

    # 2. NumPy: one path at a time, then one batch
    dis = sample(jnp.arange(max(args.numpy_paths, args.batch)))
    beta = schedules(dis, T)
    t0 = time.perf_counter()
    for b in range(args.numpy_paths):
        ario_numpy.simulate(tab, beta[:, b])
    dt = time.perf_counter() - t0
    emit({"impl": "numpy-loop", "width": 1, "paths": args.numpy_paths, "seconds": round(dt, 4), "path_days_per_s": args.numpy_paths * T / dt})
    t0 = time.perf_counter()
    ario_numpy.simulate(tab, beta[:, : args.batch])
    dt = time.perf_counter() - t0
    emit({"impl": "numpy-vectorised", "width": args.batch, "paths": args.batch, "seconds": round(dt, 4), "path_days_per_s": args.batch * T / dt})

    # 3. the engine, each kernel and width: one chunk of --paths paths, compiled on a first run
    for k, model in models.items():
        for width in args.widths:
            kw = dict(horizon=T, n_paths=args.paths, chunk_size=args.paths, width=width)
            t0 = time.perf_counter()
            engine.run(key_paths, model, Metrics(), prep.tables, prep.params, prep.spec, **kw)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            engine.run(key_paths, model, Metrics(), prep.tables, prep.params, prep.spec, **kw)
            dt = time.perf_counter() - t0
            emit(
                {
                    "impl": "jax-engine",
                    "kernel": k,
                    "width": width,
                    "paths": args.paths,
                    "chunk": args.paths,
                    "seconds": round(dt, 4),
                    "first_run_s": round(first, 3),
                    "path_days_per_s": args.paths * T / dt,
                }
            )


def compile_worker(args: argparse.Namespace) -> None:
    """First engine chunk (compile and run) in this fresh process, minus a second call's run."""
    import time as _time

    t_start = _time.perf_counter()
    prep = prepared("ree_world", "float64", args.horizon)
    import jax.random as jr

    from stress import engine
    from stress.metrics import Metrics

    setup_s = _time.perf_counter() - t_start
    key_paths = jr.split(jr.key(0))[1]
    kw = dict(horizon=args.horizon, n_paths=args.compile_paths, chunk_size=args.compile_paths, width=8)
    t0 = _time.perf_counter()
    engine.run(key_paths, prep.model, Metrics(), prep.tables, prep.params, prep.spec, **kw)
    first = _time.perf_counter() - t0
    t0 = _time.perf_counter()
    engine.run(key_paths, prep.model, Metrics(), prep.tables, prep.params, prep.spec, **kw)
    second = _time.perf_counter() - t0
    row = {
        **common_fields(prep, "ree_world", "float64", args.horizon),
        "impl": "compile",
        "kernel": prep.model.kernel,
        "width": 8,
        "paths": args.compile_paths,
        "setup_s": round(setup_s, 3),
        "first_call_s": round(first, 3),
        "second_call_s": round(second, 3),
        "compile_s": round(first - second, 3),
    }
    print(PREFIX + json.dumps(row), flush=True)


def run_worker(argv: list[str]) -> list[dict]:
    """Run this script as a worker process; its rows (it streams its other output)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    rows = []
    for line in proc.stdout:
        if line.startswith(PREFIX):
            rows.append(json.loads(line[len(PREFIX) :]))
            print(line[len(PREFIX) :], end="", flush=True)
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0:
        sys.exit(f"bench_kernel: worker {' '.join(argv)} failed (exit {proc.returncode})")
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Best JAX rate per world and dtype against the NumPy rates of the same world."""
    out = []
    rate = lambda impl, world, dtype: max((r["path_days_per_s"] for r in rows if r["impl"] == impl and r["world"] == world and r["dtype"] == dtype), default=None)  # noqa: E731
    for world in dict.fromkeys(r["world"] for r in rows if r["impl"] == "jax-engine"):
        for dtype in ("float64", "float32"):
            best = rate("jax-engine", world, dtype)
            if best is None:
                continue
            jr = next(r for r in rows if r["impl"] == "jax-engine" and r["world"] == world and r["dtype"] == dtype and r["path_days_per_s"] == best)
            row = {"impl": "ratio", "world": world, "n": jr["n"], "dtype": dtype, "jax": jr["jax"], "device": jr["device"], "cpus": jr["cpus"], "horizon": jr["horizon"]}
            row.update(best_jax=best, best_kernel=jr["kernel"], best_width=jr["width"])
            for np_dtype in dict.fromkeys((dtype, "float64")):
                loop, vec = rate("numpy-loop", world, np_dtype), rate("numpy-vectorised", world, np_dtype)
                if loop is not None:
                    row[f"numpy_loop_{np_dtype}"] = loop
                    row[f"jax_over_numpy_loop_{np_dtype}"] = best / loop
                if vec is not None:
                    row[f"numpy_vectorised_{np_dtype}"] = vec
                    row[f"jax_over_numpy_vectorised_{np_dtype}"] = best / vec
            out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", nargs="+", default=["pymrio_test", "ree_world"], choices=list(SCENARIOS))
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--kernels", nargs="+", default=["compact", "plain"], choices=["compact", "plain"])
    ap.add_argument("--widths", type=int, nargs="+", default=[8, 32, 128], help="paths vmapped together (multiples of 8)")
    ap.add_argument("--paths", type=int, default=1024, help="engine paths (one chunk) per measurement")
    ap.add_argument("--numpy-paths", type=int, default=4, help="paths of the one-path NumPy loop")
    ap.add_argument("--batch", type=int, default=128, help="paths of the vectorised NumPy batch")
    ap.add_argument("--check-paths", type=int, default=3, help="paths checked against the JAX kernels (float64)")
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--horizon", type=int, default=365)
    ap.add_argument("--compile-paths", type=int, default=256, help="chunk of the compile-time measurement (0: skip it)")
    ap.add_argument("--json", type=Path, default=None, help="append the JSON lines here")
    ap.add_argument("--worker", nargs=2, metavar=("WORLD", "DTYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--compile-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if any(w % 8 for w in args.widths) or args.paths % max(args.widths):
        ap.error("widths must be multiples of 8 and divide --paths")
    if args.worker:
        return worker(*args.worker, args)
    if args.compile_worker:
        return compile_worker(args)

    shared = ["--kernels", *args.kernels, "--widths", *map(str, args.widths), "--paths", str(args.paths), "--numpy-paths", str(args.numpy_paths)]
    shared += ["--batch", str(args.batch), "--check-paths", str(args.check_paths), "--rtol", str(args.rtol), "--horizon", str(args.horizon)]
    rows = []
    for world in args.worlds:
        for dtype in args.dtypes:
            rows += run_worker(["--worker", world, dtype, *shared])
    if args.compile_paths > 0:
        rows += run_worker(["--compile-worker", "--horizon", str(args.horizon), "--compile-paths", str(args.compile_paths)])
    summary = ratios(rows)
    for row in summary:
        print(json.dumps(row), flush=True)
    rows += summary
    if args.json:
        with args.json.open("a") as fh:
            for row in rows:
                fh.write(json.dumps({"date": time.strftime("%Y-%m-%d"), **row}) + "\n")
    print()
    for row in summary:
        print(f"{row['world']} (n = {row['n']}), {row['dtype']}: best JAX {row['best_jax']:,.0f} path-days/s ({row['best_kernel']}, width {row['best_width']})")
        for key, value in row.items():
            if key.startswith("jax_over"):
                print(f"    {key}: {value:.1f}x   (NumPy {row[key.replace('jax_over_', '')]:,.0f} path-days/s)")
    for row in rows:
        if row["impl"] == "compile":
            print(f"first engine chunk on ree_world, float64: {row['first_call_s']:.1f} s, second {row['second_call_s']:.1f} s: compile {row['compile_s']:.1f} s")


if __name__ == "__main__":
    main()
