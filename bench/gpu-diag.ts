// Where the end-to-end GPU time goes, when bench/gpu-detect.ts shows the pipeline far below the
// model-only ceiling: (1) per-call times of the compiled model at several batch sizes, with and
// without padding; (2) 8 streams of 1080p scaled to the model input, packed bgr24 vs planar;
// (3) the detection pipeline at several batch sizes with infer's per-call stats (frames per
// call, model run ms, round trip ms). One device call:
//   node bench/gpu-diag.ts YOLOX.onnx CLIP_1080p.mp4
import { SessionPool } from '../src/infer/pool.ts';
import { compileCached } from '../src/infer/compile/cache.ts';
import { launch } from '../src/index.ts';

const [yolox, clip] = process.argv.slice(2) as [string, string];
const c = await compileCached(yolox, { adapter: 'yolox', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], precision: 'fp16', topK: 200 });
const pool = new SessionPool({ model: c.path, ep: 'cuda', gpuId: 0, workers: 1, intraOpThreads: 1 });
let t = performance.now();
const info = await pool.open([1, 8, 32]);
console.log(`open + warm-up of batch 1, 8, 32: ${Math.round(performance.now() - t)} ms`);
const sab = new SharedArrayBuffer(32 * 416 * 416 * 3);
const prep = { width: 416, height: 416, layout: 'nhwc' as const, order: 'bgr' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], uint8: true };
const decode = { adapter: 'yolox', params: { inW: 416, inH: 416, threshold: 0.3, nmsIou: 0.45, classAware: true, topK: 5 }, candidates: { classAware: true } };
for (const [n, runAs] of [[1, 1], [8, 8], [32, 32], [5, 32], [5, undefined]] as const) {
  const ms: string[] = [];
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    const r = await pool.run(info.inputs[0]!.name, sab, n, prep, decode, runAs);
    ms.push(`${Math.round(performance.now() - t)} (run ${r.timing.run.toFixed(1)})`);
  }
  console.log(`n=${n} runAs=${runAs ?? 'n'}: ms per call ${ms.join(', ')}`);
}
await pool.close();

const streams = (n: number, tail: string) => Array.from({ length: n }, (_, i) => `uri location=${clip} num-frames=150 hw=none name=s${i} ! m.`).join('  ') + `  mux name=m ! ${tail}`;
async function timed(name: string, desc: string): Promise<void> {
  const p = launch(desc);
  let playing = 0;
  p.bus.on('state-changed', (m) => { if (m.source === 'pipeline' && m.current === 'playing') playing = performance.now(); });
  const t0 = performance.now();
  await p.run();
  const r = p.report();
  const inf = Object.values(r.elements).find((e) => e.type === 'infer');
  console.log(`${name}: ${r.frames} frames, ${(r.frames / ((performance.now() - playing) / 1000)).toFixed(0)} fps while playing (start ${((playing - t0) / 1000).toFixed(1)} s)${inf ? `; infer ${JSON.stringify(inf.resolved)}` : ''}; ${r.bottleneck?.text ?? ''}`);
}
await timed('scale bgr24 (compiled input)', streams(8, 'scale width=416 height=416 format=bgr24 ! fakesink'));
await timed('scale gbrp (old planar input)', streams(8, 'scale width=416 height=416 format=gbrp ! fakesink'));
for (const props of ['batch-size=1 workers=4', 'batch-size=8', 'batch-size=32', 'compile=off workers=8']) {
  await timed(`yolox ${props}`, streams(8, `infer model=${yolox} ep=cuda precision=fp16 ${props} ! fakesink`));
}
