#!/usr/bin/env bash
# Device checks for a session lent a CUDA machine (see README "GPU"): the gpu-marked tests,
# the GPU kernel benchmarks and their summary, in one call. Needs python3 with numpy,
# cupy, pytest and pytest-benchmark (minigen itself is used from this checkout).
# Logs and the benchmark JSON go to $OUT (default ./gpu-out).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi -L
python3 -c "import sys, numpy, cupy; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__)"
python3 -m minigen info 2>&1 | tee "$OUT/info.txt"
timeout "${GPU_TEST_TIMEOUT:-300}" python3 -m pytest tests -m gpu -q -p no:cacheprovider -rfE \
    ${PYTEST_ARGS:-} >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit: $?"; grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/gpu_tests.log" | tail -40
timeout "${GPU_BENCH_TIMEOUT:-240}" python3 -m pytest bench/bench_gpu.py --benchmark-enable -q \
    -p no:cacheprovider --benchmark-json "$OUT/gpu.json" ${BENCH_ARGS:-} >"$OUT/gpu_bench.log" 2>&1
echo "gpu bench exit: $?"; grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/gpu_bench.log" | tail -20
[ -f "$OUT/gpu.json" ] && python3 bench/gpu_summary.py "$OUT/gpu.json" | tee "$OUT/summary.txt"
