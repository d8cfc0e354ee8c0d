#!/usr/bin/env bash
# Every row of docs/benchmarks.md "Fashion-MNIST at 28x28", one model at a time (each run
# under 30 minutes and 4 GB). Usage: bash bench/fashion_mnist_all.sh [MODEL ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/fashion}
IMG=${IMG:-docs/img/fashion}
run() { python bench/fashion_mnist.py --out "$OUT" --img-dir "$IMG" --budget-minutes 20 "$@"; }
declare -A ARGS=(
  [baseline]=""
  [fvsbn]=""
  [made-500]=""
  [made-2x1000]=""
  [rbm]=""
  [nice]=""
  [realnvp]="--n-train 20000"
  [glow]="--n-train 10000"
  [row-lstm]="--n-train 5000 --n-valid 2000"
  [pixelcnn]="--n-train 5000 --n-valid 2000"
  [transformer]="--n-train 1000 --n-valid 500"
)
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(baseline fvsbn made-500 made-2x1000 rbm nice realnvp glow
                                   row-lstm pixelcnn transformer)
for m in "${MODELS[@]}"; do
  # shellcheck disable=SC2086
  run --model "$m" ${ARGS[$m]}
done
