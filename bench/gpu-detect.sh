#!/usr/bin/env bash
# bench/gpu-detect.ts in one device call, after `source .device/4/env.sh`. The YOLOX model and a
# real clip travel in .device/assets (git-ignored; bench/gpu-detect-assets.sh lays them out).
set -uo pipefail
W=/var/tmp/sluice/bench
mkdir -p "$W" "${OUT:=$W/out}"
export SLUICE_CACHE_DIR="$W/cache" SLUICE_TEST_ASSETS="$PWD/.device/assets" UV_THREADPOOL_SIZE=32
node bench/gpu-detect.ts --ssd "$W/ssd300.onnx" --yolox "$PWD/.device/assets/models/yolox/yolox_nano.onnx" --work "$W" --out "$OUT" --seconds "${SECONDS_PER_RUN:-12}" "$@" 2>&1 | tee "$OUT/gpu-detect.log" | grep -v "^\[W:onnxruntime"
