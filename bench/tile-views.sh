#!/usr/bin/env bash
# tile's cost with and without views, side by side: 4 x a 1080p clip (threaded) -> mux -> tile
# 1280x720 -> fakesink, --report. Usage: bash bench/tile-views.sh CLIP [RUNS]
# (CLIP: e.g. the realistic clip `sluice bench` makes under ~/.cache/sluice/clips). Each run goes
# once with views and once with SLUICE_VIEWS=0 (every cell scaled from the full frame, on the main thread).
set -uo pipefail
CLIP=${1:?clip}; RUNS=${2:-3}
NODE=(node); node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' 2>/dev/null || NODE=(npx node)
S=""; for i in 0 1 2 3; do S="$S uri location=$CLIP threaded=true ! m.sink_$i"; done
for k in $(seq "$RUNS"); do
  for mode in views full; do
    R=$(mktemp --suffix=.json)
    if [ $mode = full ]; then export SLUICE_VIEWS=0; else unset SLUICE_VIEWS; fi
    "${NODE[@]}" bin/sluice.js launch -q --report "$R" "$S mux name=m ! tile width=1280 height=720 ! fakesink" > /dev/null 2>&1
    "${NODE[@]}" -e "const r=JSON.parse(require('fs').readFileSync('$R','utf8')); const t=r.elements.tile0; console.log('$mode', r.wallSeconds+' s,', Math.round(r.frames/r.wallSeconds)+' fps in,', 'tile busy', t.busy.toFixed(2)+',', 'main busy', r.mainThread.busy+',', 'bottleneck', (r.bottleneck||{}).element, JSON.stringify(t.resolved||{}))"
    rm -f "$R"
  done
done
