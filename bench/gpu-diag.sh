#!/usr/bin/env bash
# bench/gpu-nvdec.ts and bench/gpu-diag.ts in one device call, after `source .device/4/env.sh`.
set -uo pipefail
W=/var/tmp/sluice/bench
mkdir -p "$W" "${OUT:=$W/out}"
export SLUICE_CACHE_DIR="$W/cache" UV_THREADPOOL_SIZE=16
Y="$PWD/.device/assets/models/yolox/yolox_nano.onnx"
[ -f "$W/clip1080.mp4" ] || node bin/sluice.js launch "testsrc pattern=objects width=1920 height=1080 num-frames=300 num-objects=8 ! encode preset=ultrafast gop=30 ! file location=$W/clip1080.mp4" 2>&1 | tail -1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
node bench/gpu-nvdec.ts "$W/clip1080.mp4" 8 5 416 2>&1 | grep -v "^\[W:onnxruntime" | tee "$OUT/nvdec.log"
node bench/gpu-diag.ts "$Y" "$W/clip1080.mp4" 2>&1 | grep -v "^\[W:onnxruntime" | tee "$OUT/diag.log"
