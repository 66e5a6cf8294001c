"""What one day of the kernel costs, per path: XLA's own count of FLOPs and bytes for one
vmapped step, the number of kernels (fusions and other ops) XLA launches per simulated day, and
the bytes of state a path carries from day to day, for both kernel forms.

    python benchmarks/profile_step.py                          # pymrio_test and ree_world, float64
    python benchmarks/profile_step.py --worlds ree_world --precision float32 --width 1024

Numbers come from the compiled program (``compiled.cost_analysis()`` and its HLO text), not from
timing, so they do not depend on how busy the machine is. XLA counts a fused element-wise
operation's bytes once per operand read and result written; an operation on data already in
cache still counts, so "bytes" is an upper bound on memory traffic.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsonl import emit  # noqa: E402  (benchmarks/jsonl.py, next to this script)

from stress.config import Config, ModelConfig, RuntimeConfig, ScenarioConfig, WorldConfig  # noqa: E402
from stress.runtime import setup  # noqa: E402

SCENARIOS = {
    "pymrio_test": ScenarioConfig(name="cutoff", kind="export_cutoff", exporter="reg1", products=["mining", "manufactoring"]),
    "ree_world": ScenarioConfig(name="full_cutoff", kind="export_cutoff", exporter="CHN", products=["ree_separation", "magnets"]),
}
SKIP = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}


def loop_body_ops(hlo: str) -> dict[str, int]:
    """Operations XLA runs per iteration of the (single) day loop: the body of the while loop."""
    bodies = set(re.findall(r"body=(%?[\w.\-]+)", hlo))
    comps: dict[str, list[str]] = {}
    cur = None
    for line in hlo.splitlines():
        m = re.match(r"^(?:ENTRY )?(%?[\w.\-]+) .*\{$", line)
        if m:
            cur = m.group(1)
            comps[cur] = []
        elif cur and line.strip() not in ("", "}"):
            comps[cur].append(line)
    counts: dict[str, int] = {}
    for body in bodies:
        for line in comps.get(body, []):
            m = re.search(r"= \S+ ([a-z][\w\-]*)\(", line)
            if m and m.group(1) not in SKIP:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", nargs="+", default=["pymrio_test", "ree_world"])
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--width", type=int, default=32, help="paths vmapped together")
    ap.add_argument("--json", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args()

    prov = setup(RuntimeConfig(precision=args.precision))
    import jax
    import jax.numpy as jnp
    import jax.random as jr

    from stress.metrics import Metrics
    from stress.pipeline import prepare
    from stress.sampler import sample_path_params

    for world in args.worlds:
        cfg = Config(world=WorldConfig(name=world), model=ModelConfig(horizon_days=365), scenario=SCENARIOS[world], runtime=RuntimeConfig(precision=args.precision))
        prep = prepare(cfg)
        key = jr.split(jr.key(0))[1]
        W = args.width
        dis, pp = jax.vmap(lambda i: sample_path_params(jr.fold_in(key, i), prep.spec, prep.tables, prep.params))(jnp.arange(W))  # noqa: B023
        for kernel in ("plain", "compact"):
            model = dataclasses.replace(prep.model, kernel=kernel)
            tab = prep.tables
            par = prep.params

            def one_step(d, s, psi, model=model, tab=tab, par=par):
                t2, p2 = tab._replace(s=s), par._replace(psi=psi)
                state = model.init(t2, model.configure(d), p2)
                return model.step(t2, p2, model.configure(d), state, jnp.asarray(5, tab.X0.dtype))

            def whole(d, s, psi, model=model, tab=tab, par=par):
                return model.simulate(tab._replace(s=s), par._replace(psi=psi), d, 365, Metrics())

            step_c = jax.jit(jax.vmap(one_step)).lower(dis, pp.s, pp.psi).compile()
            init_c = jax.jit(jax.vmap(lambda d, s, psi, model=model, tab=tab, par=par: model.init(tab._replace(s=s), model.configure(d), par._replace(psi=psi)))).lower(dis, pp.s, pp.psi).compile()
            cost = step_c.cost_analysis()
            cost = cost[0] if isinstance(cost, list) else cost
            icost = init_c.cost_analysis()
            icost = icost[0] if isinstance(icost, list) else icost
            state = jax.eval_shape(jax.vmap(lambda d, s, psi, model=model, tab=tab, par=par: model.init(tab._replace(s=s), model.configure(d), par._replace(psi=psi))), dis, pp.s, pp.psi)
            carry = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(state)) / W
            orders = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(state.O)) / W
            ops = loop_body_ops(jax.jit(jax.vmap(whole)).lower(dis, pp.s, pp.psi).compile().as_text())
            row = {
                "world": world,
                "n": prep.mrio.n,
                "kernel": kernel,
                "dtype": args.precision,
                "width": W,
                "jax": prov["jax_version"],
                "device": prov["device"],
                # the step's cost minus that of building its input state (init runs inside the jitted step)
                "flops_per_path_step": (cost.get("flops", 0.0) - icost.get("flops", 0.0)) / W,
                "bytes_per_path_step": (cost.get("bytes accessed", 0.0) - icost.get("bytes accessed", 0.0)) / W,
                "state_bytes_per_path": carry,
                "orders_bytes_per_path": orders,
                "kernels_per_day": sum(ops.values()),
                "ops_per_day": ops,
            }
            emit(row, args.json)


if __name__ == "__main__":
    main()
