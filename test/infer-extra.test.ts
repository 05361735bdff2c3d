import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, SluiceError, type Box } from '../src/index.ts';
import { SessionPool } from '../src/infer/pool.ts';
import { compileCached } from '../src/infer/compile/cache.ts';
import { onnxModel } from '../src/infer/onnx-writer.ts';
import { nms } from '../src/infer/nms.ts';
import { ASSETS, media, tmp } from './helpers.ts';

test('ssd adapter: a model with TF-OD-API outputs (built in code) is auto-detected and mapped to source pixels', async () => {
  // Fixed outputs: two detections above threshold, one below, num_detections = 3 of 4 slots.
  const boxes = new Float32Array([0.1, 0.2, 0.5, 0.6, /**/ 0.5, 0.5, 1.0, 1.0, /**/ 0, 0, 0.1, 0.1, /**/ 0, 0, 1, 1]);
  const model = onnxModel({
    name: 'ssd-fixed',
    nodes: [
      { op: 'Identity', inputs: ['B'], outputs: ['detection_boxes'] },
      { op: 'Identity', inputs: ['C'], outputs: ['detection_classes'] },
      { op: 'Identity', inputs: ['S'], outputs: ['detection_scores'] },
      { op: 'Identity', inputs: ['N'], outputs: ['num_detections'] },
    ],
    initializers: [
      { name: 'B', dims: [1, 4, 4], data: boxes },
      { name: 'C', dims: [1, 4], data: new Float32Array([0, 2, 5, 7]) },
      { name: 'S', dims: [1, 4], data: new Float32Array([0.9, 0.8, 0.3, 0.95]) },
      { name: 'N', dims: [1], data: new Float32Array([3]) },
    ],
    inputs: [{ name: 'images', dims: [1, 3, 64, 64] }],
    outputs: [{ name: 'detection_boxes', dims: [1, 4, 4] }, { name: 'detection_classes', dims: [1, 4] }, { name: 'detection_scores', dims: [1, 4] }, { name: 'num_detections', dims: [1] }],
  });
  const path = join(tmp(), 'ssd.onnx');
  writeFileSync(path, model);
  const p = launch(`testsrc num-frames=2 width=640 height=480 ! infer model=${path} ! fakesink`);
  const got: { label?: string; score: number; box: Box }[][] = [];
  p.addProbe('infer0.src', (f) => { got.push(f.meta.objects.map((o) => ({ label: o.label, score: o.score, box: o.box }))); });
  await p.run();
  assert.equal(got.length, 2);
  const objs = got[0]!;
  // The 4th slot (score 0.95) is beyond num_detections; the 3rd is below threshold 0.5.
  assert.deepEqual(objs.map((o) => o.label), ['person', 'car']);
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) < 1e-3);
  assert.ok(close(objs[0]!.box, [0.2 * 640, 0.1 * 480, 0.6 * 640, 0.5 * 480]), `${objs[0]!.box}`);
  assert.ok(close(objs[1]!.box, [320, 240, 640, 480]), `${objs[1]!.box}`);
});

test('NMS: class-aware keeps overlapping boxes of different classes, agnostic does not', () => {
  const dets = [
    { class: 0, score: 0.9, box: [0, 0, 100, 100] as Box },
    { class: 1, score: 0.8, box: [5, 5, 105, 105] as Box },
    { class: 0, score: 0.7, box: [10, 10, 110, 110] as Box },
    { class: 0, score: 0.6, box: [300, 300, 400, 400] as Box },
  ];
  assert.deepEqual(nms(dets, 0.5, true).map((d) => d.score), [0.9, 0.8, 0.6]);
  assert.deepEqual(nms(dets, 0.5, false).map((d) => d.score), [0.9, 0.6]);
});

test('interval=3 infers every third frame of each stream; a config file sets properties', async () => {
  const dir = tmp();
  const cfg = join(dir, 'detector.yaml');
  // Relative model path resolves next to the config file; a property given inline wins.
  writeFileSync(cfg, `model: ${join(ASSETS, 'models/yolox/yolox_nano.onnx')}\ninterval: 3\nclasses: person\nthreshold: 0.5\n`);
  const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=120 ! infer config=${cfg} threshold=0.6 ! fakesink`);
  p.addProbe('uri0.src', (f) => (f.frame >= 100 ? undefined : 'drop'));
  const seen: [number, number][] = [];
  let minScore = 1;
  p.addProbe('infer0.src', (f) => {
    seen.push([f.frame, f.meta.objects.length]);
    for (const o of f.meta.objects) { assert.equal(o.label, 'person'); minScore = Math.min(minScore, o.score); }
  });
  await p.run();
  assert.equal(seen.length, 20);
  // Frames 100..119 reach infer as the 1st..20th of the stream: the 1st, 4th, 7th... are inferred.
  seen.forEach(([, n], i) => assert.equal(n, i % 3 === 0 ? 1 : 0, `frame index ${i}`));
  assert.ok(minScore >= 0.6, 'the inline threshold overrides the file');
  // An inline value equal to the default still wins over the file (compile=auto vs compile: off).
  writeFileSync(cfg, `model: ${join(ASSETS, 'models/yolox/yolox_nano.onnx')}\ncompile: off\n`);
  const resolved = async (inline: string) => {
    const q = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=2 ! infer config=${cfg} ${inline} ! fakesink`);
    return (await q.run()).elements.infer0!.resolved!.compiled;
  };
  assert.equal(await resolved(''), 'no');
  assert.notEqual(await resolved('compile=auto'), 'no');
});

test('closing a pool while a long run is in flight waits for it (a thread cut off inside onnxruntime aborts the whole process)', { timeout: 120_000 }, async () => {
  // A compiled YOLOX-nano batch of 160 on one thread: 2-3 s on the 2-core box, past the 2 s after
  // which close used to terminate the thread (this process then died with "terminate called").
  const o = { adapter: 'auto', precision: 'fp32' as const, topK: 100, order: 'bgr' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const compiled = await compileCached(join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx'), o, { dir: tmp() });
  const pool = new SessionPool({ model: compiled.path, ep: 'cpu', gpuId: 0, workers: 1, intraOpThreads: 1 });
  const info = await pool.open();
  const n = 160;
  const sab = new SharedArrayBuffer(n * 416 * 416 * 3);
  const t0 = performance.now();
  const inFlight = pool.run(info.inputs[0]!.name, sab, n, { width: 416, height: 416, layout: 'nhwc', uint8: true, ...o }).then(() => performance.now() - t0, (e: Error) => e.message);
  await new Promise((r) => setTimeout(r, 50));
  await pool.close();
  const took = await inFlight;
  assert.equal(typeof took, 'number', `the run in flight finished: ${took}`);
  assert.ok((took as number) > 0);
  console.log(`the run closed over took ${Math.round(took as number)} ms`);
});

test('a dead inference worker rejects its pending and later requests with a coded error (nothing waits forever)', async () => {
  // The thread dies while idle, a request already sent to it: terminating one inside
  // onnxruntime's run aborts the whole process (pool.close waits for runs for that reason).
  const pool = new SessionPool({ model: join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx'), ep: 'cpu', gpuId: 0, workers: 1, intraOpThreads: 1 });
  const info = await pool.open();
  const prep = { width: 416, height: 416, layout: 'nchw' as const, order: 'bgr' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const sab = new SharedArrayBuffer(416 * 416 * 3);
  await pool.run(info.inputs[0]!.name, sab, 1, prep);
  const inner = (pool as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }).workers[0]!;
  const dying = inner.worker.terminate();
  const pending = pool.run(info.inputs[0]!.name, sab, 1, prep);
  await dying;
  await assert.rejects(pending, (e: SluiceError) => e.code === 'SLUICE_ERR_INFER' && /inference worker exited/.test(e.message));
  await assert.rejects(pool.run(info.inputs[0]!.name, sab, 1, prep), (e: SluiceError) => e.code === 'SLUICE_ERR_INFER');
  await pool.close();
});
