"""Host memory against the number of paths: peak resident memory of a whole ``run`` (engine and
Dataset) at several path counts, each in a fresh process, in one invocation.

    python benchmarks/bench_memory.py                        # 2,048 / 8,192 / 32,768 paths
    python benchmarks/bench_memory.py --paths 4096 65536 --horizon 30

The statistics come from fixed-size integer accumulators (exact sums, quantile sketches), and the
host keeps per-path values only for the first ``metrics.attribution_paths`` paths, so the peak
should not grow with the paths once they pass that number. Prints one JSON line per path count
and the growth per extra path between the smallest and largest runs (bytes; before the sketches
it was 128 retained bytes per path plus about twice that in the tail statistics).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import resource, sys, time, json
sys.path.insert(0, {root!r})
from stress.cli import check_composition
from stress import pipeline
cfg = check_composition(["+scenario=full_cutoff", "sampler.n_paths={n}", "sampler.chunk_size={chunk}",
                         "model.horizon_days={horizon}", "metrics.attribution_paths={attr}", "runtime.progress=none"])
t = time.perf_counter()
out = pipeline.simulate_paths(cfg)
print(json.dumps({{"paths": {n}, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": round(time.perf_counter() - t, 2), "kept_rows": int(out.res.scalars.shape[0]),
                  "world_va_loss_mean": float(out.ds.world_value_added_loss_mean)}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, nargs="+", default=[2048, 8192, 32768])
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--horizon", type=int, default=30, help="days (short: memory, not time, is measured)")
    ap.add_argument("--attribution-paths", type=int, default=1024)
    args = ap.parse_args()
    rows = []
    for n in args.paths:
        code = CHILD.format(root=str(ROOT), n=n, chunk=args.chunk, horizon=args.horizon, attr=args.attribution_paths)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"JAX_PLATFORMS": "cpu", **_env()})
        if res.returncode:
            sys.exit(res.stderr[-2000:])
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    a, b = rows[0], rows[-1]
    per_path = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 2**20 / max(b["paths"] - a["paths"], 1)
    print(json.dumps({"growth_bytes_per_path": round(per_path, 2), "from_paths": a["paths"], "to_paths": b["paths"]}))


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}


if __name__ == "__main__":
    main()
