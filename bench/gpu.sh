#!/bin/bash
# GPU benchmark, one call on the device machine (after the .device chunks are unpacked):
#   source .device/3/env.sh && SLUICE_TEST_ASSETS=.device/assets bash bench/gpu.sh
set -uo pipefail
A=${SLUICE_TEST_ASSETS:-../shared}
OUT=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
node bin/sluice.js doctor | tee "$OUT/doctor.txt"
if [ -z "${ONLY_PIPE:-}" ]; then
  python3 bench/gpu_torch.py "$OUT" 2>"$OUT/torch.err" | tee "$OUT/torch.jsonl"
  node bench/gpu-infer.ts "$OUT/resnet50.onnx" "$A/models/yolox/yolox_nano.onnx" cuda 2>&1 | tee "$OUT/ort.jsonl"
fi
V=$A/media/one-by-one-person-detection.mp4
for run in "none 4" "cuda 4" "none 8"; do
  set -- $run; hw=$1; w=$2
  P=""; for i in 0 1 2 3 4 5 6 7; do P="$P uri location=$V hw=$hw num-frames=600 ! m. "; done
  node bin/sluice.js launch "$P mux name=m ! infer model=$A/models/yolox/yolox_nano.onnx ep=cuda workers=$w ! fakesink" --report "$OUT/pipe8-$hw-$w.json" -q 2>&1 | tail -3
  python3 -c "import json;r=json.load(open('$OUT/pipe8-$hw-$w.json'));print(json.dumps({'bench':'pipeline-8-streams','decode':'$hw','workers':$w,'fps':r['fps'],'frames':r['frames'],'verdict':r['bottleneck']['text'],'busy':{k:round(v['busy'],2) for k,v in r['elements'].items() if not k.startswith('uri')}}))" | tee -a "$OUT/pipe.jsonl"
done
