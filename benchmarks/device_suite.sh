#!/usr/bin/env bash
# The whole benchmark suite in one prepared run on an accelerator machine (a GPU), sized for it:
# the device's own ceilings, the kernel's cost per path-step, the default world's engine at 10^6
# paths (and 10^7 with STRESS_BIG=1), the kernel benchmark at GPU widths and the CPU-vs-device
# difference for one seed. JSON lines go to ${OUT:-benchmarks/results}/${TAG:-gpu}.jsonl.
#
#   OUT=/some/dir TAG=h200 bash benchmarks/device_suite.sh
#
# Needs the package's dependencies importable (hydra-core and omegaconf included).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
log="$out/${TAG:-gpu}.jsonl"
py="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$py" -c "import jax; print(jax.__version__, jax.devices())"
"$py" benchmarks/peak_rates.py --json "$log"
for dt in float32 float64; do
  "$py" benchmarks/profile_step.py --worlds ree_world --precision "$dt" --width 1024 --json "$log"
done
"$py" benchmarks/compare_backends.py --paths 1024 --json "$log"
for dt in float32 float64; do
  "$py" benchmarks/bench_engine.py --paths 1000000 --chunks 65536 262144 --width 1024 --precision "$dt" --numpy-paths 1 --json "$log"
done
if [ "${STRESS_BIG:-0}" = 1 ]; then
  "$py" benchmarks/bench_engine.py --paths 10000000 --chunks 262144 --width 4096 --precision float32 --numpy-paths 1 --json "$log"
fi
"$py" benchmarks/bench_kernel.py --worlds ree_world --widths 256 1024 4096 --paths 65536 --batch 1024 --json "$log"
