"""The device's own ceilings, measured in the same way on every machine: the matrix-product rate
(FLOP/s) and the copy rate (bytes/s) in float32 and float64, to set the kernel's achieved rates
(``profile_step.py`` counts its FLOPs and bytes per path-step) against.

    python benchmarks/peak_rates.py [--size 4096] [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsonl import emit  # noqa: E402  (benchmarks/jsonl.py, next to this script)

from stress.config import RuntimeConfig  # noqa: E402
from stress.runtime import setup  # noqa: E402


def best_seconds(f, x, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (after a compiling call): the least disturbed one."""
    import jax

    jax.block_until_ready(f(x))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=None, help="matrix side (default: 2048 on a CPU, 8192 on an accelerator)")
    ap.add_argument("--copy-mb", type=int, default=None, help="array size of the copy test (default: 256 MB on a CPU, 2048 MB on an accelerator)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    prov = setup(RuntimeConfig())
    import jax
    import jax.numpy as jnp

    cpu = jax.devices()[0].platform == "cpu"
    size = args.size or (2048 if cpu else 8192)
    mb = args.copy_mb or (256 if cpu else 2048)
    for dtype in ("float32", "float64"):
        a = jnp.ones((size, size), dtype)
        mm = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST))
        t_mm = best_seconds(mm, a, args.repeats)
        x = jnp.ones((mb * 2**20 // jnp.dtype(dtype).itemsize,), dtype)
        cp = jax.jit(lambda x: x * 2)  # one read and one write of every element
        t_cp = best_seconds(cp, x, args.repeats)
        row = {
            "what": "peak_rates",
            "dtype": dtype,
            "device": prov["device"],
            "jax": prov["jax_version"],
            "matmul_size": size,
            "matmul_flops_per_s": 2 * size**3 / t_mm,
            "copy_bytes_per_s": 2 * x.size * x.dtype.itemsize / t_cp,
        }
        emit(row, args.json)


if __name__ == "__main__":
    main()
