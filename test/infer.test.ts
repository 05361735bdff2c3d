import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { launch, type Frame, type FrameMeta, SluiceError } from '../src/index.ts';
import { ASSETS, media, tmp } from './helpers.ts';
import { yolox } from '../src/infer/adapters/yolo.ts';
import { nanodet } from '../src/infer/adapters/nanodet.ts';
import { ultraface } from '../src/infer/adapters/ultraface.ts';
import { yunet } from '../src/infer/adapters/yunet.ts';
import { iou } from '../src/infer/nms.ts';
import type { TensorOut } from '../src/infer/protocol.ts';

const model = (p: string) => join(ASSETS, 'models', p);

/** Run `infer` on chosen frames of a video (others are dropped before inference). */
async function inferOn(video: string, frames: number[], props: string): Promise<Map<number, { meta: FrameMeta; frame: Frame }>> {
  const want = new Set(frames);
  const last = Math.max(...frames);
  const p = launch(`uri location=${video} num-frames=${last + 1} ! infer ${props} ! fakesink`);
  p.addProbe('uri0.src', (f) => (want.has(f.frame) ? undefined : 'drop'));
  const got = new Map<number, { meta: FrameMeta; frame: Frame }>();
  p.addProbe('infer0.src', (f) => { got.set(f.frame, { meta: structuredClone(f.meta), frame: { ...f, pixels: null } }); });
  await p.run();
  assert.deepEqual([...got.keys()].sort((a, b) => a - b), [...want].sort((a, b) => a - b));
  return got;
}

const people = (m: FrameMeta) => m.objects.filter((o) => o.label === 'person');

test('YOLOX-nano: a person at 0.8+ around 10.5 s, bottles in bottle-detection', async () => {
  const r = await inferOn(media('one-by-one-person-detection.mp4'), [105], `model=${model('yolox/yolox_nano.onnx')}`);
  const p = people(r.get(105)!.meta);
  assert.equal(p.length, 1);
  assert.ok(p[0]!.score >= 0.8, `score ${p[0]!.score}`);
  // SOURCES.md: person 0.88 at [380,17,517,404] (source pixels).
  assert.ok(iou(p[0]!.box, [380, 17, 517, 404]) > 0.9, `box ${p[0]!.box}`);
  const b = await inferOn(media('bottle-detection.mp4'), [492], `model=${model('yolox/yolox_nano.onnx')} classes=bottle`);
  const bottles = b.get(492)!.meta.objects;
  assert.ok(bottles.length >= 2 && bottles.every((o) => o.label === 'bottle' && o.score > 0.8), JSON.stringify(bottles));
});

test('NanoDet-m and the light person detector find the same person', async () => {
  const n = await inferOn(media('one-by-one-person-detection.mp4'), [105], `model=${model('nanodet/nanodet_m_320.onnx')}`);
  const pn = people(n.get(105)!.meta);
  assert.equal(pn.length, 1);
  assert.ok(pn[0]!.score > 0.6);
  assert.ok(iou(pn[0]!.box, [380, 17, 517, 404]) > 0.85, `box ${pn[0]!.box}`);
  const l = await inferOn(media('one-by-one-person-detection.mp4'), [105], `model=${model('light_person_detector/light_person_detector_192.onnx')} labels=${writeLabels(['person'])}`);
  const pl = l.get(105)!.meta.objects;
  assert.equal(pl.length, 1);
  assert.equal(pl[0]!.label, 'person');
  assert.ok(pl[0]!.score > 0.75 && iou(pl[0]!.box, [380, 17, 517, 404]) > 0.8);
});

function writeLabels(names: string[]): string {
  const f = join(tmp(), 'labels.txt');
  writeFileSync(f, names.join('\n') + '\n');
  return f;
}

test('UltraFace (320 and 640) and YuNet find every face in both face clips', async () => {
  // Faces per clip (SOURCES.md): walking-and-pause has 3, head-pose has 2.
  for (const [clip, faces] of [['face-demographics-walking-and-pause.mp4', 3], ['head-pose-face-detection-female-and-male.mp4', 2]] as const) {
    for (const m of ['ultraface/version-RFB-320.onnx', 'ultraface/version-RFB-640.onnx', 'yunet/face_detection_yunet_120x160.onnx']) {
      // YuNet's second face on the head-pose clip scores ~0.56-0.63 (SOURCES.md: 0.63), so 0.5 there.
      const r = await inferOn(media(clip), [20], `model=${model(m)}${m.startsWith('yunet') ? ' threshold=0.5' : ''}`);
      const objs = r.get(20)!.meta.objects;
      assert.equal(objs.length, faces, `${m} on ${clip}: ${JSON.stringify(objs.map((o) => [o.score.toFixed(2), o.box.map(Math.round)]))}`);
      assert.ok(objs.every((o) => o.label === 'face' && o.score >= 0.5));
      if (m.startsWith('yunet')) assert.equal((objs[0]!.attributes.landmarks as number[]).length, 10);
    }
  }
});

test('MobileNetV2: "water bottle" on bottle-detection, person clothing on one-by-one', async () => {
  const props = `model=${model('mobilenetv2/mobilenetv2-12-int8.onnx')} labels=${model('mobilenetv2/synset.txt')}`;
  const b = await inferOn(media('bottle-detection.mp4'), [492], props);
  assert.equal(b.get(492)!.meta.classifications![0]!.label, 'water bottle');
  const p = await inferOn(media('one-by-one-person-detection.mp4'), [105], props);
  const top = p.get(105)!.meta.classifications!.slice(0, 3).map((c) => c.label);
  assert.ok(top.some((l) => ['jean', 'cardigan', 'sweatshirt', 'jersey', 'suit', 'trench coat', 'lab coat'].includes(l!)), top.join(', '));
});

test('DeepLabV3: a person mask covering a large part of a face clip frame', async () => {
  const r = await inferOn(media('face-demographics-walking-and-pause.mp4'), [20], `model=${model('deeplabv3/deeplabv3_mnv2_voc_257.onnx')}`);
  const mask = r.get(20)!.meta.mask!;
  assert.deepEqual([mask.width, mask.height], [257, 257]);
  const person = mask.data.filter((c) => c === 15).length / mask.data.length;
  assert.ok(person > 0.3 && person < 0.7, `person fraction ${person}`);
  assert.equal(mask.labels![15], 'person');
});

test('secondary re-ID on detected people: the same person is closer than different people', async () => {
  // one-by-one: the same person at 10.5 s and 14.5 s; other people at 60 s and 100 s.
  const frames = [105, 145, 600, 1000];
  const want = new Set(frames);
  const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=1001 ! infer model=${model('yolox/yolox_nano.onnx')} classes=person ! infer mode=secondary on-class=person model=${model('reid/person-reidentification-retail-0287.onnx')} ! fakesink`);
  p.addProbe('uri0.src', (f) => (want.has(f.frame) ? undefined : 'drop'));
  const emb = new Map<number, Float32Array>();
  p.addProbe('infer1.src', (f) => {
    const person = f.meta.objects.find((o) => o.label === 'person');
    if (person?.attributes.embedding) emb.set(f.frame, person.attributes.embedding as Float32Array);
  });
  await p.run();
  assert.deepEqual([...emb.keys()], frames, 'each frame has a person with an embedding');
  const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  const e = frames.map((n) => emb.get(n)!);
  assert.equal(e[0]!.length, 256);
  const same = cos(e[0]!, e[1]!);
  const diff = Math.max(cos(e[0]!, e[2]!), cos(e[0]!, e[3]!));
  assert.ok(same > diff + 0.1, `same person ${same.toFixed(3)}, different ${diff.toFixed(3)}`);
});

// --- Adapter decode against an independent computation on the same raw tensors ---

async function rawOutputs(modelPath: string, input: Float32Array, dims: number[]): Promise<Record<string, TensorOut>> {
  const s = await ort.InferenceSession.create(modelPath, { logSeverityLevel: 3 });
  const r = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', input, dims) });
  const out: Record<string, TensorOut> = {};
  for (const [k, t] of Object.entries(r)) out[k] = { data: new Float32Array(t.data as Float32Array), dims: [...t.dims] };
  await s.release();
  return out;
}

/** A real frame as a model input, prepared by FFmpeg's CLI (independently of our pre-processing). */
function ffTensor(video: string, n: number, vf: string, w: number, h: number, pixFmt: 'rgb24' | 'bgr24', mean: number, std: number): Float32Array {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', video, '-vf', `select=eq(n\\,${n}),${vf}`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', pixFmt, '-'], { maxBuffer: 1 << 26 });
  assert.equal(raw.length, w * h * 3);
  const t = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) t[c * w * h + i] = (raw[i * 3 + c]! - mean) / std;
  return t;
}

/** A deterministic, image-like input so the heads produce real candidates. */
function testInput(dims: number[], lo: number, hi: number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * (0.5 + 0.5 * Math.sin(i / 97) * Math.cos(i / 1331));
  return a;
}

/** Reference NMS: all pairwise IoUs first, then a greedy pass (a different shape of algorithm). */
function refNms(c: { cls: number; score: number; box: number[] }[], thr: number, aware: boolean) {
  const order = c.map((_, i) => i).sort((a, b) => c[b]!.score - c[a]!.score);
  const dead = new Set<number>();
  const keep: number[] = [];
  for (const i of order) {
    if (dead.has(i)) continue;
    keep.push(i);
    for (const j of order) if (j !== i && !dead.has(j) && (!aware || c[j]!.cls === c[i]!.cls) && iou(c[i]!.box as never, c[j]!.box as never) > thr) dead.add(j);
  }
  return keep.map((i) => c[i]!);
}

function sameDetections(a: { class: number; score: number; box: number[] }[], b: { cls: number; score: number; box: number[] }[]) {
  assert.equal(a.length, b.length, `count ${a.length} vs ${b.length}`);
  const sa = [...a].sort((x, y) => y.score - x.score);
  const sb = [...b].sort((x, y) => y.score - x.score);
  sa.forEach((d, i) => {
    assert.equal(d.class, sb[i]!.cls);
    assert.ok(Math.abs(d.score - sb[i]!.score) < 1e-5);
    d.box.forEach((v, k) => assert.ok(Math.abs(v - sb[i]!.box[k]!) < 1e-3, `box ${d.box} vs ${sb[i]!.box}`));
  });
}

test('YOLOX decode matches an independent grid decode of the same output', async () => {
  const input = ffTensor(media('bottle-detection.mp4'), 492, 'scale=416:234,pad=416:416:0:0:color=0x727272', 416, 416, 'bgr24', 0, 1);
  const out = await rawOutputs(model('yolox/yolox_nano.onnx'), input, [1, 3, 416, 416]);
  const t = out.output!;
  const thr = 0.05;
  const cands: { cls: number; score: number; box: number[] }[] = [];
  // Build every grid cell's (gx, gy, stride) list explicitly.
  const grid: [number, number, number][] = [];
  for (const s of [8, 16, 32]) for (let gy = 0; gy < 416 / s; gy++) for (let gx = 0; gx < 416 / s; gx++) grid.push([gx, gy, s]);
  assert.equal(grid.length, t.dims[1]);
  grid.forEach(([gx, gy, s], i) => {
    const row = Array.from(t.data.subarray(i * 85, i * 85 + 85));
    const cls = row.slice(5).indexOf(Math.max(...row.slice(5)));
    const score = row[4]! * row[5 + cls]!;
    if (row[4]! < thr || score < thr) return;
    const cx = (row[0]! + gx) * s, cy = (row[1]! + gy) * s, w = Math.exp(row[2]!) * s, h = Math.exp(row[3]!) * s;
    cands.push({ cls, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  });
  assert.ok(cands.length > 3, `enough candidates to compare (${cands.length})`);
  const mine = yolox.decode(out, 0, { inW: 416, inH: 416, threshold: thr, nmsIou: 0.45, classAware: true, topK: 5 }).objects!;
  sameDetections(mine, refNms(cands, 0.45, true));
});

test('NanoDet decode matches an independent distribution decode', async () => {
  const out = await rawOutputs(model('nanodet/nanodet_m_320.onnx'), testInput([1, 3, 320, 320], -2, 2), [1, 3, 320, 320]);
  const thr = 0.05;
  const cands: { cls: number; score: number; box: number[] }[] = [];
  for (const s of [8, 16, 32]) {
    const cls = out[`cls_pred_stride_${s}`]!, dis = out[`dis_pred_stride_${s}`]!;
    const g = 320 / s;
    for (let i = 0; i < g * g; i++) {
      const scores = Array.from(cls.data.subarray(i * 80, i * 80 + 80));
      const best = Math.max(...scores);
      if (best < thr) continue;
      const sides = [0, 1, 2, 3].map((k) => {
        const bins = Array.from(dis.data.subarray(i * 32 + k * 8, i * 32 + k * 8 + 8));
        const ex = bins.map((v) => Math.exp(v));
        const z = ex.reduce((a, b) => a + b, 0);
        return ex.reduce((a, e, j) => a + (e / z) * j, 0) * s;
      });
      const cx = (i % g) * s + (s - 1) / 2, cy = Math.floor(i / g) * s + (s - 1) / 2;
      cands.push({ cls: scores.indexOf(best), score: best, box: [cx - sides[0]!, cy - sides[1]!, cx + sides[2]!, cy + sides[3]!] });
    }
  }
  assert.ok(cands.length > 3, `candidates: ${cands.length}`);
  const mine = nanodet.decode(out, 0, { inW: 320, inH: 320, threshold: thr, nmsIou: 0.6, classAware: true, topK: 5 }).objects!;
  sameDetections(mine, refNms(cands, 0.6, true));
});

test('UltraFace and YuNet decodes match independent computations', async () => {
  const faces = media('face-demographics-walking-and-pause.mp4');
  const u = await rawOutputs(model('ultraface/version-RFB-320.onnx'), ffTensor(faces, 20, 'scale=320:240', 320, 240, 'rgb24', 127, 128), [1, 3, 240, 320]);
  const uc: { cls: number; score: number; box: number[] }[] = [];
  for (let i = 0; i < u.scores!.dims[1]!; i++) {
    const s = u.scores!.data[i * 2 + 1]!;
    if (s >= 0.5) uc.push({ cls: 0, score: s, box: [0, 1, 2, 3].map((k) => u.boxes!.data[i * 4 + k]! * (k % 2 ? 240 : 320)) });
  }
  sameDetections(ultraface.decode(u, 0, { inW: 320, inH: 240, threshold: 0.5, nmsIou: 0.3, classAware: false, topK: 5 }).objects!, refNms(uc, 0.3, false));

  const y = await rawOutputs(model('yunet/face_detection_yunet_120x160.onnx'), ffTensor(faces, 20, 'scale=160:120', 160, 120, 'bgr24', 0, 1), [1, 3, 120, 160]);
  // Priors written out per feature map as in SOURCES.md: 15x20, 7x10, 3x5, 1x2 cells.
  const maps: [number, number, number, number[]][] = [[20, 15, 8, [10, 16, 24]], [10, 7, 16, [32, 48]], [5, 3, 32, [64, 96]], [2, 1, 64, [128, 192, 256]]];
  const priors: number[][] = [];
  for (const [gw, gh, step, sizes] of maps) for (let r = 0; r < gh; r++) for (let c = 0; c < gw; c++) for (const m of sizes) priors.push([(c + 0.5) * step / 160, (r + 0.5) * step / 120, m / 160, m / 120]);
  assert.equal(priors.length, 1076);
  const yc: { cls: number; score: number; box: number[] }[] = [];
  priors.forEach(([cx, cy, w, h], i) => {
    const score = Math.sqrt(y.conf!.data[i * 2 + 1]! * Math.min(1, Math.max(0, y.iou!.data[i]!)));
    if (score < 0.3) return;
    const l = y.loc!.data.subarray(i * 14, i * 14 + 4);
    const bx = (cx! + l[0]! * 0.1 * w!) * 160, by = (cy! + l[1]! * 0.1 * h!) * 120;
    const bw = w! * Math.exp(l[2]! * 0.2) * 160, bh = h! * Math.exp(l[3]! * 0.2) * 120;
    yc.push({ cls: 0, score, box: [bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2] });
  });
  assert.ok(yc.length > 3, 'yunet candidates');
  assert.ok(uc.length > 3, 'ultraface candidates');
  sameDetections(yunet.decode(y, 0, { inW: 160, inH: 120, threshold: 0.3, nmsIou: 0.3, classAware: false, topK: 5 }).objects!, refNms(yc, 0.3, false));
});

// --- Bad input fails before the pipeline starts, with a coded error ---

test('bad models, providers and labels fail before start with coded errors', async () => {
  const dir = tmp();
  const run = (props: string) => launch(`testsrc num-frames=3 width=64 height=48 ! infer ${props} ! fakesink`).run();
  await assert.rejects(run(`model=${dir}/missing.onnx`), (e: SluiceError) => e.code === 'SLUICE_ERR_FILE_NOT_FOUND' && e.message.includes('missing.onnx'));
  writeFileSync(join(dir, 'corrupt.onnx'), Buffer.from('this is not a protobuf model at all'));
  await assert.rejects(run(`model=${dir}/corrupt.onnx`), (e: SluiceError) => e.code === 'SLUICE_ERR_MODEL' && e.message.includes('corrupt.onnx'));
  await assert.rejects(run(`model=${model('yolox/yolox_nano.onnx')} adapter=ultraface`), (e: SluiceError) => e.code === 'SLUICE_ERR_MODEL' && /"scores" and "boxes"/.test(e.message));
  await assert.rejects(run(`model=${model('mobilenetv2/mobilenetv2-12-int8.onnx')} adapter=yolox`), (e: SluiceError) => e.code === 'SLUICE_ERR_MODEL' && /output tensor "output"/.test(e.message));
  await assert.rejects(run(`model=${model('yolox/yolox_nano.onnx')} labels=${writeLabels(['a', 'b', 'c'])}`), (e: SluiceError) => e.code === 'SLUICE_ERR_LABELS' && /3 labels.*80 classes/.test(e.message));
  await assert.rejects(run(`model=${model('yolox/yolox_nano.onnx')} ep=tensorrt`), (e: SluiceError) => e.code === 'SLUICE_ERR_EP' && /tensorrt/.test(e.message));
});
