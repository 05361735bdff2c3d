// Slipstream over RTSP, as the seed does it: N RTSP cameras in, batched detection, tracking,
// drawing, a tiled stream out at rtsp://127.0.0.1:8554/ds (open it in VLC or ffplay), and a probe
// that prints the counts of every frame. Run from the repository root (npx node: the Node 24 the
// clone installs, which runs TypeScript; a system Node 20 does not):
//   npx node examples/slipstream-rtsp.ts rtsp://cam1/stream rtsp://cam2/stream [--port 8554] [--frames N]
// Cameras that drop reconnect on their own; the others keep flowing.
import { launch } from '../src/index.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1]! : def; };
const port = flag('--port', '8554');
const frames = Number(flag('--frames', '-1'));
const model = flag('--model', `${process.env.SLUICE_TEST_ASSETS ?? '../shared'}/models/yolox/yolox_nano.onnx`);
const cameras = args;
if (cameras.length === 0) {
  console.error('usage: npx node examples/slipstream-rtsp.ts RTSP_URL... [--port 8554] [--frames N] [--model M]');
  process.exit(2);
}

const sources = cameras.map((url) => `uri location=${url} protocols=tcp num-frames=${frames} ! m.`).join('  ');
const p = launch(`${sources}  mux name=m width=640 height=360 ! infer model=${model} ! track ! osd fps=true ! tile width=1280 height=720 ! encode preset=veryfast tune=zerolatency gop=30 ! rtsp port=${port} mount=/ds`);

// The seed's probe: one line per frame with its object counts by class.
p.addProbe('track0.src', (f) => {
  const count = (labels: string[]) => f.meta.objects.filter((o) => labels.includes(o.label ?? '')).length;
  console.log(`Frame Number=${f.frame} Stream=${f.stream} Number of Objects=${f.meta.objects.length} Vehicle_count=${count(['car', 'bus', 'truck', 'motorbike', 'bicycle'])} Person_count=${count(['person'])}`);
});
p.bus.on('element', (m) => { if (m.name === 'rtsp-url') console.error(`*** Sluice: streaming at ${String(m.data.url)} ***`); });
p.bus.on('warning', (m) => console.error(`warning: ${m.source}: ${m.message}`));
process.once('SIGINT', () => p.sendEosRequest());
const r = await p.run();
console.error(`${r.frames} frames in ${r.wallSeconds.toFixed(1)} s; ${r.bottleneck?.text ?? ''}`);
