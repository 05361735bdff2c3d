// Benchmark: YOLOX-nano on one-by-one-person-detection.mp4 on this machine's CPU.
//  1. inference only: one session, the model run back to back on one real prepared frame;
//  2. one sequential loop: decode -> pre-process -> run -> decode boxes, each awaited in turn;
//  3. the Sluice pipeline `uri ! infer ! fakesink` (workers x threads variants).
// Same process, same frames, same session options. Prints a table, writes bench/infer-cpu.json.
//   node bench/infer-cpu.ts [--frames N]
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { launch } from '../src/index.ts';
import { VideoSource } from '../src/media/source.ts';
import { Preprocessor } from '../src/infer/prep.ts';
import { toTensor } from '../src/infer/tensor.ts';
import { yolox } from '../src/infer/adapters/yolo.ts';
import type { PrepSpec, TensorOut } from '../src/infer/protocol.ts';
import { getLogger } from '../src/core/log.ts';

const args = process.argv.slice(2);
const flag = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1]! : d; };
const frames = Number(flag('--frames', '300'));
const assets = resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared');
const video = join(assets, 'media', 'one-by-one-person-detection.mp4');
const model = join(assets, 'models', 'yolox', 'yolox_nano.onnx');
const cores = availableParallelism();
const spec: PrepSpec = { width: 416, height: 416, layout: 'nchw', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3, intraOpNumThreads: cores, graphOptimizationLevel: 'all' });
const run = async (t: Float32Array) => {
  const r = await session.run({ images: new ort.Tensor('float32', t, [1, 3, 416, 416]) });
  const out: Record<string, TensorOut> = {};
  for (const [k, v] of Object.entries(r)) out[k] = { data: v.data as Float32Array, dims: [...v.dims] };
  return out;
};

async function sequential(): Promise<number> {
  const src = new VideoSource({ location: video, hw: 'none', loop: false, log: getLogger('bench') });
  await src.open();
  const prep = new Preprocessor(416, 416, yolox.prep);
  const px = new Uint8Array(prep.bytes);
  const t0 = performance.now();
  let n = 0;
  let found = 0;
  for (; n < frames; n++) {
    const d = await src.next();
    if (!d) break;
    const place = await prep.into(d.av, px, 0);
    d.av.free();
    const out = await run(toTensor(px, 1, spec));
    const dets = yolox.decode(out, 0, { inW: 416, inH: 416, threshold: 0.3, nmsIou: 0.45, classAware: true, topK: 5 }).objects!;
    for (const det of dets) { det.box = det.box.map((v, i) => (v - (i % 2 ? place.dy : place.dx)) / (i % 2 ? place.sy : place.sx)) as never; found++; }
  }
  const fps = n / ((performance.now() - t0) / 1000);
  prep.close();
  await src.close();
  if (found === 0) throw new Error('the loop found nothing: broken pre-processing');
  return fps;
}

async function inferenceOnly(): Promise<number> {
  const src = new VideoSource({ location: video, hw: 'none', loop: false, log: getLogger('bench') });
  await src.open();
  const prep = new Preprocessor(416, 416, yolox.prep);
  const px = new Uint8Array(prep.bytes);
  for (let i = 0; i < 105; i++) { const d = (await src.next())!; if (i === 104) await prep.into(d.av, px, 0); d.av.free(); }
  const t = Float32Array.from(toTensor(px, 1, spec));
  await src.close();
  prep.close();
  for (let i = 0; i < 5; i++) await run(t);
  const n = Math.min(frames, 150);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run(t);
  return n / ((performance.now() - t0) / 1000);
}

async function pipeline(workers: number, threads: number) {
  const r = await launch(`uri location=${video} num-frames=${frames} hw=none ! infer model=${model} ep=cpu workers=${workers} threads=${threads} ! fakesink`, { statsIntervalMs: 0 }).run();
  return { fps: r.frames / r.wallSeconds, verdict: r.bottleneck?.text ?? '', busy: Object.fromEntries(Object.entries(r.elements).map(([k, v]) => [k, Math.round(v.busy * 100)])) };
}

// Rounds alternate the four measurements so machine noise hits them alike; medians reported.
const rounds = Number(flag('--rounds', '3'));
const threads2 = Math.max(1, Math.floor(cores / 2));
const m: { only: number[]; loop: number[]; p1: Awaited<ReturnType<typeof pipeline>>[]; p2: Awaited<ReturnType<typeof pipeline>>[] } = { only: [], loop: [], p1: [], p2: [] };
for (let r = 0; r < rounds; r++) {
  m.only.push(await inferenceOnly());
  m.loop.push(await sequential());
  m.p1.push(await pipeline(1, cores));
  m.p2.push(await pipeline(2, threads2));
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const inferOnly = med(m.only);
const loopFps = med(m.loop);
const p1 = { fps: med(m.p1.map((x) => x.fps)), busy: m.p1.at(-1)!.busy, verdict: m.p1.at(-1)!.verdict };
const p2 = { fps: med(m.p2.map((x) => x.fps)), busy: m.p2.at(-1)!.busy, verdict: m.p2.at(-1)!.verdict };
const best = p1.fps >= p2.fps ? p1 : p2;
const result = {
  date: new Date().toISOString(), cpus: cores, cpu: cpus()[0]?.model, node: process.version, frames, rounds,
  runs: { inferenceOnly: m.only, loop: m.loop, pipeline1x: m.p1.map((x) => x.fps), pipeline2x: m.p2.map((x) => x.fps) },
  inferenceOnlyFps: inferOnly, loopFps, pipeline1x: p1, pipeline2x: p2,
  pipelineOverLoop: best.fps / loopFps, pipelineOverInferenceOnly: best.fps / inferOnly,
};
writeFileSync(new URL('./infer-cpu.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(`YOLOX-nano 416, ${frames} frames of one-by-one-person-detection.mp4, ${cores} cores, median of ${rounds} alternating rounds`);
console.log(`inference only (1 session, ${cores} threads)   ${inferOnly.toFixed(1)} fps`);
console.log(`sequential loop (same steps)               ${loopFps.toFixed(1)} fps`);
console.log(`pipeline, 1 worker x ${cores} threads            ${p1.fps.toFixed(1)} fps  busy ${JSON.stringify(p1.busy)}`);
console.log(`pipeline, 2 workers x ${threads2} thread(s)           ${p2.fps.toFixed(1)} fps  busy ${JSON.stringify(p2.busy)}`);
console.log(`pipeline / loop = ${(best.fps / loopFps).toFixed(2)}x; pipeline / inference-only = ${(best.fps / inferOnly).toFixed(2)}`);
console.log(`verdict: ${best.verdict}`);
