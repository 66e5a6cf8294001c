"""The same paths on this machine's accelerator and on its CPU: the largest relative difference
of the retained per-path results (losses by region, world, costs) for one seed.

    python benchmarks/compare_backends.py [--paths 1024] [--precision float64] [--json out.jsonl]

The accelerator run happens in this process (its default JAX backend); the CPU run in a
subprocess with ``JAX_PLATFORMS=cpu``. Both use the default world's ``full_cutoff`` scenario.
Different backends round differently (fused multiply-adds, reduction orders, transcendental
functions), so the numbers differ in the last digits; this measures by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsonl import emit  # noqa: E402  (benchmarks/jsonl.py, next to this script)


def scalars(paths: int, precision: str, horizon: int, out: Path) -> dict:
    """Run the engine here; save the per-path scalars to ``out`` (.npy) and return provenance."""
    import numpy as np

    from stress.cli import check_composition
    from stress.pipeline import make_metrics, prepare, run_engine

    cfg = check_composition(["+scenario=full_cutoff", f"sampler.n_paths={paths}", f"sampler.chunk_size={paths}", f"model.horizon_days={horizon}", f"runtime.precision={precision}"])
    prep = prepare(cfg)
    metrics = make_metrics(cfg, prep)
    res = run_engine(cfg, prep, metrics)
    np.save(out, res.scalars.astype(np.float64))
    return {"device": prep.provenance["device"], "jax": prep.provenance["jax_version"], "names": metrics.scalar_names(prep.mrio.regions)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1024)
    ap.add_argument("--horizon", type=int, default=365)
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        print(json.dumps(scalars(args.paths, args.precision, args.horizon, args.worker)))
        return
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        here = scalars(args.paths, args.precision, args.horizon, Path(tmp) / "here.npy")
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        cmd = [sys.executable, __file__, "--worker", str(Path(tmp) / "cpu.npy"), "--paths", str(args.paths), "--horizon", str(args.horizon), "--precision", args.precision]
        cpu = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        a, b = np.load(Path(tmp) / "here.npy"), np.load(Path(tmp) / "cpu.npy")
    names = here["names"]
    scale = np.abs(b).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # each column against its largest value (all-zero columns: absolute)
    rel = np.abs(a - b) / scale
    worst = int(np.nanargmax(rel.max(axis=0)))
    row = {
        "what": "compare_backends",
        "device": here["device"],
        "cpu": cpu["device"],
        "jax": here["jax"],
        "precision": args.precision,
        "paths": args.paths,
        "horizon": args.horizon,
        "max_rel_diff": float(np.nanmax(rel)),
        "worst_column": names[worst] if worst < len(names) else str(worst),
        "identical_columns": int((rel.max(axis=0) == 0).sum()),
        "columns": int(a.shape[1]),
        "world_value_added_loss_mean": {"here": float(a[:, names.index("value_added_loss/WORLD")].mean()), "cpu": float(b[:, names.index("value_added_loss/WORLD")].mean())},
    }
    emit(row, args.json)


if __name__ == "__main__":
    main()
