"""Scaling of the ARIO kernel: path-days per second against batch size, world size n and horizon.

    python benchmarks/bench_scaling.py                      # ~5 min on 2 cores
    python benchmarks/bench_scaling.py --sizes 10x20 12x25 20x20 20x30 --batches 8 32 128 512 2048
    python benchmarks/bench_scaling.py --json benchmarks/results/kernel_cpu_2cores.jsonl

Kernel only: ``jax.jit(jax.vmap(lambda d: model.simulate(tables, params, d, T, Metrics())))`` on
pre-sampled disruptions (no sampling, accumulation or host transfer), compiled on a first call
and timed over repeated calls (at least ``--min-seconds``). Three curves:

- batch: paths vmapped together (``pymrio_test``, n = 48, 365 days, compact kernel);
- n: ``pymrio_test`` (48), ``ree_world`` (84) with their export cut-off scenarios, and synthetic
  worlds of ``R x p`` industries (a random productive MRIO and an export restriction of the
  first region's first two products to every other region), both kernels, 365 days;
- horizon: 30, 90 and 365 days on ``ree_world``.

It fits the time per path-day against n (a power law over the measured sizes) and prints a
PROJECTION, not a measurement, to an EXIOBASE-sized world (``--project-n``, 7,987 industries).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_kernel import prepared  # noqa: E402


def synthetic_mrio(R: int, p: int, seed: int = 0):
    """A random productive MRIO of ``R`` regions x ``p`` sectors: dense positive flows ``Z``
    (uniform, every product a real input of every industry), final demand larger than the
    intermediate sales, so column sums of ``Z`` stay well below output (value added > 0)."""
    import numpy as np

    from stress.mrio.tables import Mrio, validate

    rng = np.random.default_rng(seed)
    n, F = R * p, 2
    Z = rng.uniform(0.1, 1.0, (n, n))
    Y = rng.uniform(0.5, 1.5, (n, R * F)) * (Z.sum(axis=1, keepdims=True) / F)  # final demand ~ 1.5 x intermediate sales
    x = Z.sum(axis=1) + Y.sum(axis=1)
    regions = tuple(f"r{i}" for i in range(R))
    sectors = tuple(f"s{i}" for i in range(p))
    return validate(Mrio("synthetic", regions, sectors, ("households", "government"), Z, Y, x, "money"))


def synthetic_disruptions(n: int, R: int, p: int, B: int, dtype, seed: int = 1):
    """``B`` export restrictions (a batched :class:`ario.Disruption`): region 0's first two
    products closed to every other region from day 0, each buyer region reopening on a random
    day in [30, 400) (past the horizon: never), no capacity loss."""
    import jax.numpy as jnp
    import numpy as np

    from stress.propagation.ario import Disruption

    rng = np.random.default_rng(seed)
    export = np.zeros(n)
    export[[0, 1]] = 1
    dest = np.ones(R)
    dest[0] = 0
    z = lambda *shape: jnp.zeros((B, *shape), dtype)  # noqa: E731
    return Disruption(
        loss=z(1, n), loss_start=z(1), loss_days=z(1), loss_recovery=z(1),
        export_mask=jnp.broadcast_to(jnp.asarray(export, dtype), (B, n)),
        dest_mask=jnp.broadcast_to(jnp.asarray(dest, dtype), (B, R)),
        cut_start=z(),
        resume_day=jnp.asarray(rng.integers(30, 400, (B, R, 1)), dtype),
        controlled=jnp.ones((B,), dtype),
        round6=jnp.ones((B,), bool),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128, 512])
    ap.add_argument("--sizes", nargs="+", default=["10x20", "20x20"], help="synthetic worlds, REGIONSxSECTORS")
    ap.add_argument("--n-paths", type=int, default=32, help="paths per measurement of the n curve (half of it above n = 84)")
    ap.add_argument("--horizons", type=int, nargs="+", default=[30, 90, 365])
    ap.add_argument("--kernels", nargs="+", default=["compact", "plain"], choices=["compact", "plain"])
    ap.add_argument("--project-n", type=int, default=7987, help="n of the projection (EXIOBASE 3: 49 regions x 163 industries)")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="time repeated calls for at least this long")
    ap.add_argument("--json", type=Path, default=None, help="append the JSON lines here")
    args = ap.parse_args()

    prep48 = prepared("pymrio_test", args.precision, 365)
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np

    from stress.metrics import Metrics
    from stress.propagation import ario
    from stress.sampler import sample_path

    dtype = jnp.float64 if args.precision == "float64" else jnp.float32
    base = {"jax": prep48.provenance["jax_version"], "device": prep48.provenance["device"], "cpus": os.cpu_count(), "machine": platform.machine(), "dtype": args.precision}
    rows = []

    def emit(row):
        row = {**base, "impl": "jax-kernel", **row}
        rows.append(row)
        print(json.dumps(row), flush=True)

    def measure(curve, world, model, tables, params, dis, T):
        """Compile on a first call, then time calls until --min-seconds have passed: one row."""
        f = jax.jit(jax.vmap(lambda d: model.simulate(tables, params, d, T, Metrics())))
        t0 = time.perf_counter()
        jax.block_until_ready(f(dis))
        first = time.perf_counter() - t0
        calls, t0 = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - t0 < args.min_seconds:
            jax.block_until_ready(f(dis))
            calls += 1
        dt = (time.perf_counter() - t0) / calls
        B = dis.export_mask.shape[0]
        n = tables.X0.shape[0]
        emit({"curve": curve, "world": world, "kernel": model.kernel, "n": n, "horizon": T, "width": B, "paths": B, "calls": calls, "seconds": round(dt, 4), "first_call_s": round(first, 3), "path_days_per_s": B * T / dt, "us_per_path_day": 1e6 * dt / (B * T)})

    def sampled(prep, B):
        key_paths = jr.split(jr.key(0))[1]
        return jax.jit(jax.vmap(lambda pid: sample_path(jr.fold_in(key_paths, pid), prep.spec)))(jnp.arange(B))

    model = lambda k: ario.Ario(order_type="alt", boario_quirks=True, kernel=k)  # noqa: E731
    # batch size
    for B in args.batches:
        measure("batch", "pymrio_test", model("compact"), prep48.tables, prep48.params, sampled(prep48, B), 365)
    # world size
    prep84 = prepared("ree_world", args.precision, 365)
    worlds = [("pymrio_test", prep48.tables, prep48.params, sampled(prep48, args.n_paths)), ("ree_world", prep84.tables, prep84.params, sampled(prep84, args.n_paths))]
    for size in args.sizes:
        R, p = map(int, size.split("x"))
        tables = ario.build_tables(synthetic_mrio(R, p), inventory_days=90.0, year_to_day=365.0, boario_quirks=True, dtype=dtype)
        params = ario.build_params(psi=0.8, inventory_tau=60.0, alpha_base=1.0, alpha_max=1.25, alpha_tau=365.0, dtype=dtype)
        worlds.append((f"synthetic_{size}", tables, params, synthetic_disruptions(R * p, R, p, max(8, args.n_paths // 2), dtype)))
    for k in args.kernels:
        for world, tables, params, dis in worlds:
            measure("n", world, model(k), tables, params, dis, 365)
    # horizon
    dis84 = worlds[1][3]
    for T in args.horizons:
        measure("horizon", "ree_world", model("compact"), prep84.tables, prep84.params, dis84, T)

    # fit time per path-day ~ a n^k over the n curve; project (NOT measured) to --project-n
    for k in args.kernels:
        pts = [(r["n"], r["us_per_path_day"]) for r in rows if r.get("curve") == "n" and r["kernel"] == k]
        ns, us = np.array(pts, float).T
        slope, icept = np.polyfit(np.log(ns), np.log(us), 1)
        big = ns.argmax()
        proj_fit = np.exp(icept) * args.project_n**slope
        proj_n2 = us[big] * (args.project_n / ns[big]) ** 2  # ~n^2 from the largest measured world
        row = {
            **base, "impl": "projection", "kernel": k, "fit_exponent": round(float(slope), 3), "fit_points_n": [int(v) for v in ns],
            "projected_n": args.project_n, "projected_us_per_path_day_fit": float(proj_fit), "projected_us_per_path_day_n2": float(proj_n2),
            "projected_path_days_per_s_fit": 1e6 / proj_fit, "projected_path_days_per_s_n2": 1e6 / proj_n2,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        # Every use of the orders touches all n^2 entries of Z0 per path and day, so the cost grows
        # at least as n^2 once the per-call overhead that dominates small worlds is amortised:
        # the n^2 line is the estimate; a fitted exponent below 2 is optimistic.
        print(
            f"PROJECTION (not measured), kernel {k}: at n = {args.project_n:,}: {proj_n2 / 1e3:,.1f} ms per path-day "
            f"scaling as n^2 from n = {int(ns[big])} ({1e6 / proj_n2:,.1f} path-days/s; 10^4 paths x 365 days: "
            f"{1e4 * 365 * proj_n2 / 1e6 / 3600:,.1f} h); the fit n^{slope:.2f} over n = {', '.join(str(int(v)) for v in ns)} "
            f"would give {proj_fit / 1e3:,.1f} ms (optimistic: small worlds are dominated by per-call overhead)"
        )
    if args.json:
        with args.json.open("a") as fh:
            for row in rows:
                fh.write(json.dumps({"date": time.strftime("%Y-%m-%d"), "bench": "scaling", **row}) + "\n")


if __name__ == "__main__":
    main()
