"""Host memory against the number of paths: peak resident memory of a whole ``run`` (engine and
Dataset) at several path counts, each in a fresh process, in one invocation.

    python benchmarks/bench_memory.py                        # 4,096 / 32,768 / 131,072 paths, 10 days
    python benchmarks/bench_memory.py --paths 4096 65536 --horizon 30

The statistics come from fixed-size integer accumulators (exact sums, quantile sketches), and the
host keeps per-path values only for the first ``metrics.attribution_paths`` paths, so the peak
should not grow with the paths once they pass that number. Prints one JSON line per path count
(resident memory after the first and the last chunk, the process's peak) and the growth per path
within the largest run, between its first and last chunks (bytes; before the sketches it was 128
retained bytes per path plus about twice that in the tail statistics). The peaks of separate
processes differ by tens of MB from run to run (allocator and compiler), so they are printed
but not used for the growth.
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
prep = pipeline.prepare(cfg)
metrics = pipeline.make_metrics(cfg, prep)
rss = []
def on_chunk(done):
    with open("/proc/self/statm") as fh:
        rss.append(int(fh.read().split()[1]) * 4096 / 2**20)
t = time.perf_counter()
res = pipeline.run_engine(cfg, prep, metrics, on_chunk=on_chunk)
from stress.results.dataset import to_dataset
ds = to_dataset(res.acc, res.scalars, prep.mrio, horizon=cfg.model.horizon_days, quantiles=list(cfg.metrics.quantiles), metrics=metrics,
                year_to_day=cfg.model.year_to_day, attrs={{}}, drivers=res.drivers)
print(json.dumps({{"paths": {n}, "chunks": len(rss), "rss_after_first_chunk_mb": round(rss[0], 1), "rss_after_last_chunk_mb": round(rss[-1], 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "seconds": round(time.perf_counter() - t, 2),
                  "kept_rows": int(res.scalars.shape[0]), "world_va_loss_mean": float(ds.world_value_added_loss_mean)}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, nargs="+", default=[4096, 32768, 131072])
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--horizon", type=int, default=10, help="days (short: memory, not time, is measured)")
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
    b = rows[-1]
    # within the largest run: resident memory after its first and its last chunk
    per_path = (b["rss_after_last_chunk_mb"] - b["rss_after_first_chunk_mb"]) * 2**20 / max(b["paths"] - args.chunk, 1)
    print(json.dumps({"growth_bytes_per_path": round(per_path, 3), "over_paths": b["paths"] - args.chunk, "peak_rss_range_mb": [min(r["peak_rss_mb"] for r in rows), max(r["peak_rss_mb"] for r in rows)]}))


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}


if __name__ == "__main__":
    main()
