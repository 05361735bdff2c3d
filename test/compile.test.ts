import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { launch, type ObjectMeta } from '../src/index.ts';
import { compileModel, modelInfoOf, COMPILED_INPUT } from '../src/infer/compile/compile.ts';
import { compileCached } from '../src/infer/compile/cache.ts';
import { decodeModel, encodeModel, int64Tensor } from '../src/infer/compile/onnx.ts';
import { onnxModel } from '../src/infer/onnx-writer.ts';
import { iou } from '../src/infer/nms.ts';
import { ASSETS, media, sluice, tmp } from './helpers.ts';

// Compiled models of this file go to their own cache (and the first build of each is timed).
process.env.SLUICE_CACHE_DIR = tmp();
const model = (p: string) => join(ASSETS, 'models', p);

/** Objects `infer` finds on chosen frames of a video, with the given extra properties. */
async function detect(video: string, frames: number[], props: string): Promise<{ objects: Map<number, ObjectMeta[]>; warnings: string[]; resolved: Record<string, unknown> }> {
  const want = new Set(frames);
  const p = launch(`uri location=${video} num-frames=${Math.max(...frames) + 1} ! infer ${props} ! fakesink`);
  p.addProbe('uri0.src', (f) => (want.has(f.frame) ? undefined : 'drop'));
  const objects = new Map<number, ObjectMeta[]>();
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  p.addProbe('infer0.src', (f) => { objects.set(f.frame, structuredClone(f.meta.objects)); });
  await p.run();
  return { objects, warnings, resolved: p.report().elements.infer0!.resolved ?? {} };
}

/** Every uncompiled box has a compiled twin: same class, IoU >= minIou, score within maxDiff. */
function assertSame(ref: Map<number, ObjectMeta[]>, got: Map<number, ObjectMeta[]>, minIou: number, maxDiff: number, what: string): number {
  let n = 0;
  for (const [f, objs] of ref) {
    const g = got.get(f) ?? [];
    assert.equal(g.length, objs.length, `${what} frame ${f}: ${g.length} boxes compiled vs ${objs.length}`);
    for (const o of objs) {
      const m = g.find((x) => x.class === o.class && iou(x.box, o.box) >= minIou && Math.abs(x.score - o.score) <= maxDiff);
      assert.ok(m, `${what} frame ${f}: no compiled match for ${o.label} ${o.score.toFixed(3)} [${o.box.map(Math.round)}] in ${JSON.stringify(g.map((x) => [x.label, x.score.toFixed(3), x.box.map(Math.round)]))}`);
      n++;
    }
  }
  return n;
}

const CASES: [string, string, string, number[]][] = [
  ['YOLOX-nano', 'yolox/yolox_nano.onnx', 'bottle-detection.mp4', [120, 492]],
  ['YOLOX-nano', 'yolox/yolox_nano.onnx', 'one-by-one-person-detection.mp4', [105, 200]],
  ['NanoDet-m', 'nanodet/nanodet_m_320.onnx', 'bottle-detection.mp4', [492]],
  ['NanoDet-m', 'nanodet/nanodet_m_320.onnx', 'one-by-one-person-detection.mp4', [105]],
  ['UltraFace-320', 'ultraface/version-RFB-320.onnx', 'face-demographics-walking-and-pause.mp4', [20, 60]],
  ['UltraFace-640', 'ultraface/version-RFB-640.onnx', 'head-pose-face-detection-female-and-male.mp4', [40]],
  ['YuNet', 'yunet/face_detection_yunet_120x160.onnx', 'face-demographics-walking-and-pause.mp4', [20, 60]],
];

test('compiled detectors (uint8 in, decode + top-k in the graph) give the uncompiled detections on real frames', async () => {
  let total = 0;
  for (const [name, file, video, frames] of CASES) {
    const ref = await detect(media(video), frames, `model=${model(file)} compile=off`);
    const got = await detect(media(video), frames, `model=${model(file)}`);
    assert.equal(ref.resolved.compiled, 'no');
    assert.match(String(got.resolved.compiled), /built|cached/, `${name}: ${JSON.stringify(got.resolved)}`);
    assert.equal(got.resolved.postInGraph, true, name);
    total += assertSame(ref.objects, got.objects, 0.9, 0.02, `${name} ${video}`);
  }
  // The frames hold real objects: bottles, people, faces.
  assert.ok(total >= 12, `only ${total} detections compared`);
});

test('YuNet keeps batch 1 with a warning naming its batch-less output; landmarks survive compilation', async () => {
  const frames = [20];
  const ref = await detect(media('face-demographics-walking-and-pause.mp4'), frames, `model=${model('yunet/face_detection_yunet_120x160.onnx')} compile=off`);
  const got = await detect(media('face-demographics-walking-and-pause.mp4'), frames, `model=${model('yunet/face_detection_yunet_120x160.onnx')} batch-size=4`);
  assert.ok(got.warnings.some((w) => /batch stays 1: output "loc" has no batch dimension/.test(w)), got.warnings.join('\n'));
  assert.equal(got.resolved.dynamicBatch, false);
  const r = ref.objects.get(20)!, g = got.objects.get(20)!;
  assert.ok(r.length >= 1);
  for (const o of r) {
    const m = g.find((x) => iou(x.box, o.box) > 0.9)!;
    const a = o.attributes.landmarks as number[], b = m.attributes.landmarks as number[];
    assert.equal(b.length, 10);
    assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1), `landmarks ${a} vs ${b}`);
  }
});

test('batch N gives the rows of N runs of batch 1 (compiled YOLOX, three real frames)', async () => {
  const src = readFileSync(model('yolox/yolox_nano.onnx'));
  const r = await compileModel(src, { adapter: 'auto', precision: 'fp32', topK: 100, order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
  assert.equal(r.info.batch, 'dynamic');
  assert.deepEqual(r.info.notes, ['batch freed in Reshape_405, Reshape_413, Reshape_421']);
  const img = 416 * 416 * 3;
  const px = new Uint8Array(3 * img);
  [[ 'one-by-one-person-detection.mp4', 105 ], ['bottle-detection.mp4', 492], ['car-detection.mp4', 30]].forEach(([v, f], i) => {
    px.set(execFileSync('ffmpeg', ['-v', 'error', '-i', media(v as string), '-vf', `select=eq(n\\,${f}),scale=416:416`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-'], { maxBuffer: 1 << 24 }), i * img);
  });
  const s = await ort.InferenceSession.create(r.bytes, { logSeverityLevel: 3 });
  const best: number[] = [];
  const all = await s.run({ [COMPILED_INPUT]: new ort.Tensor('uint8', px, [3, 416, 416, 3]) });
  assert.deepEqual(all.sluice_boxes!.dims, [3, 100, 4]);
  for (let i = 0; i < 3; i++) {
    const one = await s.run({ [COMPILED_INPUT]: new ort.Tensor('uint8', px.subarray(i * img, (i + 1) * img), [1, 416, 416, 3]) });
    for (const k of ['sluice_scores', 'sluice_boxes', 'sluice_classes']) {
      const a = one[k]!.data as Float32Array, b = (all[k]!.data as Float32Array).subarray(i * a.length, (i + 1) * a.length);
      const worst = a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]!)), 0);
      assert.ok(worst < 1e-3, `${k} row ${i}: differs by ${worst}`);
    }
    best.push((one.sluice_scores!.data as Float32Array)[0]!);
  }
  // Real objects, not noise: the bottles (frame 1) are found with confidence.
  assert.ok(best[1]! > 0.6, `best scores ${best}`);
  await s.release();
});

test('a compiled model is reused from the cache (no rebuild); a corrupt entry is rebuilt with a warning', async () => {
  const dir = tmp();
  const o = { adapter: 'auto', precision: 'fp32' as const, topK: 200, order: 'bgr' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const first = await compileCached(model('nanodet/nanodet_m_320.onnx'), o, { dir });
  const second = await compileCached(model('nanodet/nanodet_m_320.onnx'), o, { dir });
  assert.equal(first.cached, false);
  assert.equal(second.cached, true);
  assert.equal(second.path, first.path);
  assert.ok(second.ms < first.ms / 3, `cache hit took ${second.ms.toFixed(0)} ms, the build ${first.ms.toFixed(0)} ms`);
  // Another option is another entry.
  const other = await compileCached(model('nanodet/nanodet_m_320.onnx'), { ...o, topK: 50 }, { dir });
  assert.notEqual(other.path, first.path);
  writeFileSync(first.path, 'not a model');
  const again = await compileCached(model('nanodet/nanodet_m_320.onnx'), o, { dir });
  assert.equal(again.cached, false);
  assert.ok(again.warnings.some((w) => /corrupt/.test(w)), again.warnings.join('; '));
  assert.equal(modelInfoOf(decodeModel(readFileSync(again.path))).inputs[0]!.type, 'uint8');
});

test('boxes+scores heads with more classes and a symbolic row count compile (SSD export layout)', async () => {
  // input -> 1x1 conv -> scores [B,N,4] (softmax); boxes [B,N,4] a fixed 8x8 box per cell
  // (broadcast over the batch); N = H*W is left unnamed in the file.
  const w = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.02);
  const path = join(tmp(), 'boxes-scores.onnx');
  writeFileSync(path, onnxModel({
    name: 'ssd-like',
    nodes: [
      { op: 'Conv', inputs: ['x', 'wb'], outputs: ['b'] },
      { op: 'Reshape', inputs: ['b', 'sb'], outputs: ['b2'] },
      { op: 'Transpose', inputs: ['b2'], outputs: ['b3'], attrs: { perm: [0, 2, 1] } },
      { op: 'Mul', inputs: ['b3', 'zero'], outputs: ['b4'] },
      { op: 'Add', inputs: ['b4', 'cells'], outputs: ['boxes'] },
      { op: 'Conv', inputs: ['x', 'ws', 'bs'], outputs: ['s'] },
      { op: 'Reshape', inputs: ['s', 'ss'], outputs: ['s2'] },
      { op: 'Transpose', inputs: ['s2'], outputs: ['s3'], attrs: { perm: [0, 2, 1] } },
      { op: 'Softmax', inputs: ['s3'], outputs: ['scores'], attrs: { axis: -1 } },
    ],
    initializers: [
      { name: 'wb', dims: [4, 3, 1, 1], data: w(12, 1) },
      { name: 'zero', dims: [1], data: new Float32Array([0]) },
      { name: 'cells', dims: [1, 48 * 64, 4], data: Float32Array.from({ length: 48 * 64 * 4 }, (_, i) => { const c = i >> 2, x = (c % 64) / 64, y = Math.floor(c / 64) / 48; return [x, y, x + 8 / 64, y + 8 / 48][i & 3]!; }) },
      // Class c (1..3) scores colour channel c; distinct biases keep grey pixels from tying.
      { name: 'ws', dims: [4, 3, 1, 1], data: new Float32Array([0, 0, 0, 9, -3, -3, -3, 9, -3, -3, -3, 9]) },
      { name: 'bs', dims: [4], data: new Float32Array([0, 0.3, 0.6, 0.9]) },
    ],
    inputs: [{ name: 'x', dims: ['batch', 3, 48, 64] }],
    outputs: [{ name: 'boxes', dims: ['batch', 'n', 4] }, { name: 'scores', dims: ['batch', 'n', 4] }],
  }));
  // Reshape targets as int64 initializers: [0, C, -1].
  const m = decodeModel(readFileSync(path));
  m.graph!.initializer!.push(int64Tensor('sb', [3], [0, 4, -1]), int64Tensor('ss', [3], [0, 4, -1]));
  writeFileSync(path, encodeModel(m));
  const props = `model=${path} adapter=ultraface threshold=0.3 nms-iou=0.5 mean=0 std=255 scale=1`;
  const ref = await detect(media('car-detection.mp4'), [10, 50], `${props} compile=off`);
  // More candidates than rows: K = min(4000, N) is taken at run time (N is symbolic in the file).
  const got = await detect(media('car-detection.mp4'), [10, 50], `${props} candidates=4000`);
  assert.equal(got.resolved.postInGraph, true);
  // Three foreground classes: labels are class numbers, not "face".
  const n = assertSame(ref.objects, got.objects, 0.9, 0.02, 'boxes+scores');
  assert.ok(n > 0, 'the made-up head finds something to compare');
  assert.ok([...got.objects.values()].flat().every((o) => o.label !== 'face'));
});

/** A YOLO v8 ([1,4+C,N]) or v5 ([1,N,5+C]) head over 4x4 cells of the input, built in code. */
function yoloModel(layout: 'v8' | 'v5'): string {
  const C = 3, cells = 256, n = layout === 'v8' ? cells : 252; // v5 rows = 3 x (8 x 8 + 4 x 4 + 2 x 2) for 64x64
  const boxes: number[] = [];
  for (let k = 0; k < 4; k++) for (let i = 0; i < n; i++) boxes.push([(i % 16) * 4 + 2, Math.floor(i / 16) * 4 + 2, 8, 8][k]!);
  const nodes: { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, number | number[]> }[] = [
    { op: 'AveragePool', inputs: ['x'], outputs: ['p'], attrs: { kernel_shape: [4, 4], strides: [4, 4] } },
    { op: 'Conv', inputs: ['p', 'wc', 'bc'], outputs: ['c'] },
    { op: 'Reshape', inputs: ['c', 'sc'], outputs: ['c2'] },
    { op: 'Slice', inputs: ['c2', 'zero_i', 'n_i', 'two_i'], outputs: ['c3'] },
    { op: 'Sigmoid', inputs: ['c3'], outputs: ['cls'] },
    // Boxes: a fixed 8x8 box per cell, broadcast over the batch through 0 x (a batch-shaped tensor).
    { op: 'Slice', inputs: ['c3', 'zero_i', 'one_i', 'one_axis'], outputs: ['c4'] },
    { op: 'Mul', inputs: ['c4', 'zero'], outputs: ['z'] },
    { op: 'Add', inputs: ['z', 'boxes'], outputs: ['b'] },
  ];
  if (layout === 'v8') nodes.push({ op: 'Concat', inputs: ['b', 'cls'], outputs: ['output0'], attrs: { axis: 1 } });
  else {
    nodes.push({ op: 'Slice', inputs: ['cls', 'zero_i', 'one_i', 'one_axis'], outputs: ['obj'] });
    nodes.push({ op: 'Concat', inputs: ['b', 'obj', 'cls'], outputs: ['t'], attrs: { axis: 1 } });
    nodes.push({ op: 'Transpose', inputs: ['t'], outputs: ['output0'], attrs: { perm: [0, 2, 1] } });
  }
  const path = join(tmp(), `yolo-${layout}.onnx`);
  const m = decodeModel(onnxModel({
    name: `yolo-${layout}`, nodes,
    initializers: [
      { name: 'wc', dims: [C, 3, 1, 1], data: new Float32Array([12, -6, -6, -6, 12, -6, -6, -6, 12]) },
      { name: 'bc', dims: [C], data: new Float32Array([-0.5, -0.8, -1.1]) },
      { name: 'zero', dims: [1], data: new Float32Array([0]) },
      { name: 'boxes', dims: [1, 4, n], data: Float32Array.from(boxes) },
    ],
    inputs: [{ name: 'x', dims: [1, 3, 64, 64] }],
    outputs: [{ name: 'output0', dims: layout === 'v8' ? [1, 4 + C, n] : [1, n, 5 + C] }],
  }));
  m.graph!.initializer!.push(int64Tensor('sc', [3], [1, C, cells]), int64Tensor('zero_i', [1], [0]), int64Tensor('n_i', [1], [n]), int64Tensor('two_i', [1], [2]), int64Tensor('one_i', [1], [1]), int64Tensor('one_axis', [1], [1]));
  writeFileSync(path, encodeModel(m));
  return path;
}

test('YOLO v8 and v5 layouts (built in code): compiled decode + top-k equal the worker decode, with a dynamic batch', async () => {
  for (const layout of ['v8', 'v5'] as const) {
    const path = yoloModel(layout);
    // v5 scores are objectness x class (~0.4 x 0.4 on grey), v8 the class alone.
    const props = `model=${path} adapter=yolo mean=0 std=255 scale=1 threshold=${layout === 'v8' ? 0.3 : 0.1} candidates=300`;
    const ref = await detect(media('car-detection.mp4'), [10, 50], `${props} compile=off`);
    const got = await detect(media('car-detection.mp4'), [10, 50], props);
    assert.equal(got.resolved.postInGraph, true, layout);
    assert.equal(got.resolved.dynamicBatch, true, `${layout}: ${got.warnings.join('; ')}`);
    const n = assertSame(ref.objects, got.objects, 0.9, 0.02, `yolo ${layout}`);
    assert.ok(n > 0, `${layout}: the made-up head finds something`);
  }
});

test('what cannot be compiled runs as it is, with a warning naming the node; fp16 on the cpu says so', async () => {
  // Hardmax changed meaning between opsets; the compiler refuses to lift an opset-9 graph holding it.
  const path = join(tmp(), 'old-op.onnx');
  writeFileSync(path, onnxModel({
    name: 'old', opset: 9,
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
      { op: 'Hardmax', inputs: ['f'], outputs: ['y'], name: 'the_hardmax' },
    ],
    initializers: [],
    inputs: [{ name: 'x', dims: [1, 3, 32, 32] }],
    outputs: [{ name: 'y', dims: [1, 3] }],
  }));
  const r = await detect(media('car-detection.mp4'), [3], `model=${path} adapter=classify`);
  assert.ok(r.warnings.some((w) => /node the_hardmax \(Hardmax\) is not known to keep its meaning/.test(w) && /running the model as it is/.test(w)), r.warnings.join('\n'));
  assert.equal(r.resolved.compiled, 'no');
  const h = await detect(media('car-detection.mp4'), [3], `model=${model('yolox/yolox_nano.onnx')} precision=fp16 ep=cpu`);
  assert.ok(h.warnings.some((w) => /precision=fp16: the cpu provider has no fp16 kernels/.test(w)), h.warnings.join('\n'));
  assert.equal(h.resolved.precision, 'fp32');
});

test('sluice models compile writes a uint8, dynamic-batch model with candidate outputs', async () => {
  const out = join(tmp(), 'yolox-compiled.onnx');
  const r = await sluice(['models', 'compile', model('yolox/yolox_nano.onnx'), '-o', out, '--precision', 'fp16', '--top-k', '50']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /yolox.*fp16.*dynamic batch/s);
  const info = modelInfoOf(decodeModel(readFileSync(out)));
  assert.deepEqual(info.inputs, [{ name: 'sluice_input', type: 'uint8', shape: [-1, 416, 416, 3] }]);
  assert.deepEqual(info.outputs.map((o) => [o.name, o.shape]), [['sluice_scores', [-1, 50]], ['sluice_boxes', [-1, 50, 4]], ['sluice_classes', [-1, 50]]]);
  // fp16 weights: about half the bytes of the fp32 original.
  const ratio = readFileSync(out).length / readFileSync(model('yolox/yolox_nano.onnx')).length;
  assert.ok(ratio < 0.6, `compiled fp16 is ${ratio.toFixed(2)} of the original`);
  const bad = await sluice(['models', 'compile', join(tmp(), 'missing.onnx'), '-o', out]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SLUICE_ERR_FILE_NOT_FOUND/);
});
