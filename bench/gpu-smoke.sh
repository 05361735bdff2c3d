#!/usr/bin/env bash
# A short device call (after `source .device/4/env.sh`): the naive PyTorch loop alone, with its
# errors shown (it ran past its limit inside gpu-detect twice), and infer gpu-id=all on CUDA
# with threaded NVDEC sources, so the multi-GPU placement path runs on a real GPU.
set -uo pipefail
W=/var/tmp/sluice/smoke
mkdir -p "$W" "${OUT:=$W/out}"
export SLUICE_CACHE_DIR="$W/cache"
M="$PWD/.device/assets/models/yolox/yolox_nano.onnx"
nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader
node bin/sluice.js launch -q "testsrc pattern=objects width=1920 height=1080 num-frames=90 num-objects=8 ! encode preset=ultrafast gop=30 ! file location=$W/clip.mp4"
python3 -c "import cv2; c=cv2.VideoCapture('$W/clip.mp4'); ok,_=c.read(); print('opencv reads the clip:', ok, cv2.__version__)"
timeout 60 python3 bench/gpu_detect.py naive "$W/clip.mp4" 8 2>&1 | tail -3
S=""; for i in 0 1 2 3 4 5 6 7; do S="$S uri location=$W/clip.mp4 loop=true num-frames=600 hw=cuda width=416 format=bgr24 threaded=true ! m. "; done
timeout 90 node bin/sluice.js launch -q "$S mux name=m ! infer model=$M ep=cuda gpu-id=all precision=fp16 ! fakesink" --report "$OUT/smoke.json"
node -e "const r=require('$OUT/smoke.json'); console.log('gpu-id=all:', Math.round(r.fps), 'fps', JSON.stringify(r.elements.infer0.resolved), r.bottleneck && r.bottleneck.text)"
