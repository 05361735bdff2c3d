#!/usr/bin/env bash
# bench/gpu-display.ts in one call. On the GPU machine, after `source .device/4/env.sh` (the YOLOX
# model and the real video travel in .device/assets: bench/gpu-detect-assets.sh lays them out):
#   bash bench/gpu-display.sh                      # 16 streams, unpaced and live-paced, ep=cuda
#   N=32 MODES=unpaced bash bench/gpu-display.sh   # 32 streams unpaced
# On a CPU box, as a smoke check:  N=2 SECONDS=5 EP=cpu bash bench/gpu-display.sh
# Environment: N (streams, 16), SECONDS or SECONDS_PER_RUN (measured per mode, 20), MODES
# (unpaced,live), EP (cuda with a GPU, else cpu), HW (uri hw=, none), INFER / SRC (extra infer /
# uri properties); further arguments go to bench/gpu-display.ts.
DUR=${SECONDS_PER_RUN:-$SECONDS}  # bash counts SECONDS up from the value given: read it first
set -uo pipefail
[ "${DUR:-0}" -gt 0 ] 2>/dev/null || DUR=20
W=/var/tmp/sluice/bench
mkdir -p "$W" "${OUT:=$W/out}"
if [ -d .device/assets ]; then export SLUICE_TEST_ASSETS="$PWD/.device/assets"; fi
export SLUICE_CACHE_DIR="${SLUICE_CACHE_DIR:-$W/cache}" UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-32}"
A="${SLUICE_TEST_ASSETS:-../shared}"
# Node 24 runs the .ts sources (env.sh puts it on PATH on the GPU machine); elsewhere the project's own.
NODE=(node); node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' 2>/dev/null || NODE=(npx node)
EPARG=(); [ -n "${EP:-}" ] && EPARG=(--ep "$EP")
"${NODE[@]}" bench/gpu-display.ts --model "$A/models/yolox/yolox_nano.onnx" --streams "${N:-16}" --seconds "$DUR" --modes "${MODES:-unpaced,live}" --hw "${HW:-none}" --out "$OUT" "${EPARG[@]}" ${INFER:+--infer "$INFER"} ${SRC:+--src "$SRC"} "$@" 2>&1 | tee "$OUT/gpu-display-${N:-16}.log" | grep -v "^\[W:onnxruntime"
