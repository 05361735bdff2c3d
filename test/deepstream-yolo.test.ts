// DeepStream-Yolo configs (custom-lib-path, parse-bbox-func-name=NvDsInferParseYolo, ...) run
// without the C++ library: the named parser becomes the adapter that reads the same tensors, said
// in one warning; an unknown parser is refused naming the adapters. [class-attrs-N] thresholds
// apply per class, and a secondary classifier's classifier-threshold drops labels under it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, type ObjectMeta } from '../src/index.ts';
import { COCO80 } from '../src/infer/adapters/types.ts';
import { readNvinferConfig } from '../src/infer/deepstream.ts';
import { Builder, DT, decodeModel, encodeModel, opsetOf, valueInfo } from '../src/infer/compile/onnx.ts';
import { yoloxPost } from '../src/infer/compile/post.ts';
import { iou } from '../src/infer/nms.ts';
import { ASSETS, media, sluice, tmp } from './helpers.ts';

process.env.SLUICE_CACHE_DIR = tmp();
const YOLOX = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');

/**
 * YOLOX-nano exported as DeepStream-Yolo exports it: RGB 0-1 input (as its YOLOv8 configs feed),
 * the grid decode in the graph, and its DeepStreamOutput layer at the end: one output [B,N,6]
 * (x1,y1,x2,y2,score,class; `v2`), or the older boxes/scores/classes with cx,cy,w,h boxes
 * (`legacy`, NvDsInferParseYolo) or x1,y1,x2,y2 boxes (`legacy-e`, NvDsInferParseYoloE).
 */
function dsYoloModel(dir: string, kind: 'v2' | 'legacy' | 'legacy-e'): string {
  const m = decodeModel(readFileSync(YOLOX));
  const g = m.graph!;
  const b = new Builder(opsetOf(m), 'test');
  // input (RGB, 0-1) -> BGR 0-255, what the network was trained on.
  const bgr = b.op('Gather', ['input', b.i64([2, 1, 0])], { axis: 1 });
  b.op('Mul', [bgr, b.f([255])], {}, 'images');
  const pre = b.nodes.splice(0);
  const c = yoloxPost(b, { outputs: new Map([['output', [1, 3549, 85]]]), width: 416, height: 416 });
  const col = (x: string) => b.unsqueeze(x, [2]);
  const classes = b.cast(c.classes!, DT.FLOAT);
  let outs: [string, number[]][];
  if (kind === 'v2') {
    b.op('Concat', [c.boxes, col(c.scores), col(classes)], { axis: 2 }, 'ds_output');
    outs = [['ds_output', [1, 3549, 6]]];
  } else {
    let boxes = c.boxes;
    if (kind === 'legacy') {
      const lo = b.slice(c.boxes, 2, 0, 2), hi = b.slice(c.boxes, 2, 2, 4);
      boxes = b.op('Concat', [b.op('Mul', [b.op('Add', [lo, hi]), b.f([0.5])]), b.op('Sub', [hi, lo])], { axis: 2 });
    }
    b.op('Identity', [boxes], {}, 'boxes');
    b.op('Identity', [col(c.scores)], {}, 'scores');
    b.op('Identity', [col(classes)], {}, 'classes');
    outs = [['boxes', [1, 3549, 4]], ['scores', [1, 3549, 1]], ['classes', [1, 3549, 1]]];
  }
  g.node = [...pre, ...g.node!, ...b.nodes];
  g.initializer = [...g.initializer!, ...b.inits];
  g.input = [valueInfo('input', DT.FLOAT, [1, 3, 416, 416])];
  g.output = outs.map(([n, d]) => valueInfo(n, DT.FLOAT, d));
  const path = join(dir, `yolox_nano_ds_${kind}.onnx`);
  writeFileSync(path, encodeModel(m));
  return path;
}

/** Written as DeepStream-Yolo's config_infer_primary_yoloV8.txt is (its keys, order and comments). */
const dsConfig = (onnx: string, parser: string, extra = '') => `[property]
gpu-id=0
net-scale-factor=0.0039215697906911373
model-color-format=0
onnx-file=${onnx}
model-engine-file=model_b1_gpu0_fp32.engine
#int8-calib-file=calib.table
labelfile-path=labels.txt
batch-size=1
network-mode=0
num-detected-classes=80
interval=0
gie-unique-id=1
process-mode=1
network-type=0
cluster-mode=2
maintain-aspect-ratio=1
symmetric-padding=1
#workspace-size=2000
parse-bbox-func-name=${parser}
#parse-bbox-func-name=NvDsInferParseYoloCuda
custom-lib-path=nvdsinfer_custom_impl_Yolo/libnvdsinfer_custom_impl_Yolo.so
engine-create-func-name=NvDsInferYoloCudaEngineGet

[class-attrs-all]
nms-iou-threshold=0.45
pre-cluster-threshold=0.25
topk=300
${extra}`;

/** Detections on frames [from, to) of a clip where a person walks in (frame 70 on) below a screen (tvmonitor). */
async function detections(text: string, from = 70, to = 110) {
  const got = new Map<number, ObjectMeta[]>();
  const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=${to} ! ${text} ! fakesink`);
  p.addProbe('uri0.src', (f) => (f.frame >= from ? undefined : 'drop'));
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  p.addProbe('infer0.src', (f) => { if (f.meta.inferred) got.set(f.frame, structuredClone(f.meta.objects)); });
  await p.run();
  return { got, warnings };
}

function layout() {
  const dir = tmp();
  writeFileSync(join(dir, 'labels.txt'), COCO80.join('\n') + '\n');
  return dir;
}

test('a DeepStream-Yolo config (custom-lib-path, NvDsInferParseYolo) gives the detections of the equivalent launch line, with one warning', { timeout: 240_000 }, async () => {
  const dir = layout();
  const model = dsYoloModel(dir, 'v2');
  const cfg = join(dir, 'config_infer_primary_yoloV8.txt');
  writeFileSync(cfg, dsConfig('yolox_nano_ds_v2.onnx', 'NvDsInferParseYolo'));
  const ds = await detections(`infer config=${cfg} ep=cpu`);
  const line = await detections(`infer model=${model} adapter=deepstream-yolo ep=cpu labels=${join(dir, 'labels.txt')} channels=rgb scale=0.0039215697906911373 mean=0 std=1 letterbox=center threshold=0.25 nms-iou=0.45 candidates=300 batch-size=1`);
  assert.equal(ds.got.size, 40);
  let boxes = 0;
  for (const [f, objs] of line.got) { boxes += objs.length; assert.deepEqual(ds.got.get(f), objs, `frame ${f}`); }
  assert.ok(boxes >= 30, `${boxes} boxes compared`);
  assert.ok([...ds.got.values()].flat().some((o) => o.label === 'person' && o.score > 0.6));
  // Before: SLUICE_ERR_MODEL "custom-lib-path is not supported". Now one warning says what runs instead.
  const lib = ds.warnings.filter((w) => /custom-lib-path/.test(w));
  assert.equal(lib.length, 1, ds.warnings.join('\n'));
  assert.match(lib[0]!, /custom-lib-path=nvdsinfer_custom_impl_Yolo\/libnvdsinfer_custom_impl_Yolo\.so is not loaded .*parse-bbox-func-name=NvDsInferParseYolo runs as adapter=deepstream-yolo, which reads the same tensors .*engine-create-func-name=NvDsInferYoloCudaEngineGet/);
  assert.ok(!ds.warnings.some((w) => /not known to nvinfer/.test(w)), ds.warnings.join('\n'));
});

test('the DeepStream-Yolo outputs (one [B,N,6] tensor, and the older three with either box form) read the detections of the raw YOLOX head', { timeout: 240_000 }, async () => {
  const dir = layout();
  // Frames made square first (letterboxed: YOLOX finds nobody in a stretched picture), so infer
  // pads nothing and the pad colours (black for nvinfer, 114 for YOLOX) cannot differ.
  const sq = 'scale width=416 height=416 letterbox=true ! ';
  const raw = await detections(`${sq}infer model=${YOLOX} ep=cpu threshold=0.25 nms-iou=0.45`, 80, 92);
  const runs = [['v2', 'NvDsInferParseYoloCuda'], ['legacy', 'NvDsInferParseYolo'], ['legacy-e', 'NvDsInferParseYoloE']] as const;
  let compared = 0;
  for (const [kind, parser] of runs) {
    dsYoloModel(dir, kind);
    const cfg = join(dir, `config_${kind}.txt`);
    writeFileSync(cfg, dsConfig(`yolox_nano_ds_${kind}.onnx`, parser));
    const got = await detections(`${sq}infer config=${cfg} ep=cpu`, 80, 92);
    for (const [f, objs] of raw.got) {
      const g = got.got.get(f)!;
      assert.equal(g.length, objs.length, `${kind} frame ${f}: ${JSON.stringify(g)} vs ${JSON.stringify(objs)}`);
      for (const o of objs) {
        assert.ok(g.some((x) => x.class === o.class && iou(x.box, o.box) > 0.99 && Math.abs(x.score - o.score) < 1e-3), `${kind} frame ${f}: ${o.label} ${o.score}`);
        compared++;
      }
    }
  }
  assert.ok(compared >= 24, `${compared} boxes compared`);
});

test('[class-attrs-N] pre-cluster-threshold applies to its class only', { timeout: 240_000 }, async () => {
  const dir = layout();
  dsYoloModel(dir, 'v2');
  const TV = COCO80.indexOf('tvmonitor');
  const all = join(dir, 'all.txt'), tv = join(dir, 'tv.txt');
  const base = (extra = '') => dsConfig('yolox_nano_ds_v2.onnx', 'NvDsInferParseYolo', extra).replace('pre-cluster-threshold=0.25', 'pre-cluster-threshold=0.1');
  writeFileSync(all, base());
  writeFileSync(tv, base(`\n[class-attrs-${TV}]\npre-cluster-threshold=0.3\nnms-iou-threshold=0.5\n`));
  const parsed = readNvinferConfig(readFileSync(tv, 'utf8'), tv);
  assert.equal(parsed.props.classThresholds, `${TV}:0.3`);
  assert.ok(parsed.warnings.some((w) => new RegExp(`\\[class-attrs-${TV}\\] nms-iou-threshold: only pre-cluster-threshold is per class here`).test(w)), parsed.warnings.join('\n'));
  const a = await detections(`infer config=${all} ep=cpu`, 60, 200);
  const t = await detections(`infer config=${tv} ep=cpu`, 60, 200);
  const objs = (m: Map<number, ObjectMeta[]>) => [...m.values()].flat();
  const tvs = objs(a.got).filter((o) => o.class === TV);
  const others = objs(a.got).filter((o) => o.class !== TV);
  assert.ok(tvs.some((o) => o.score < 0.3) && tvs.some((o) => o.score >= 0.3) && others.some((o) => o.score < 0.3), `screens under and over 0.3 (${tvs.map((o) => o.score.toFixed(2))}) and weak other objects, to tell the cases apart`);
  assert.deepEqual(objs(t.got).filter((o) => o.class === TV), tvs.filter((o) => o.score >= 0.3), 'screens under their class threshold are dropped, the rest kept');
  // Other classes keep the [class-attrs-all] threshold: exactly the same boxes.
  assert.deepEqual(objs(t.got).filter((o) => o.class !== TV), others);
});

test('an unknown parser with custom-lib-path is refused naming the adapters; adapter= on the element lets it run', async () => {
  const text = '[property]\nonnx-file=m.onnx\nparse-bbox-func-name=NvDsInferParseCustomMine\ncustom-lib-path=/opt/libmine.so\n';
  assert.throws(() => readNvinferConfig(text, '/c/x.txt'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_MODEL'
    && /custom-lib-path=\/opt\/libmine\.so cannot be loaded and parse-bbox-func-name=NvDsInferParseCustomMine is not a parser Sluice knows \(NvDsInferParseYolo, NvDsInferParseYoloCuda, NvDsInferParseYoloE, NvDsInferParseYoloECuda\); set infer adapter= to the one that reads the model's outputs \(yolox, yolo, .*deepstream-yolo, deepstream-yolo-e\)/.test(e.message));
  const r = readNvinferConfig(text, '/c/x.txt', { adapter: 'yolox' });
  assert.equal(r.props.adapter, undefined);
  assert.ok(r.warnings.some((w) => /libmine\.so is not loaded .*adapter=yolox \(given on the element\) reads the outputs/.test(w)), r.warnings.join('\n'));
  const dir = tmp();
  writeFileSync(join(dir, 'bad.txt'), `[property]\nonnx-file=${YOLOX}\nparse-bbox-func-name=NvDsInferParseCustomMine\ncustom-lib-path=/opt/libmine.so\n`);
  const cli = await sluice(['launch', '-q', `testsrc num-frames=2 ! infer ep=cpu config=${join(dir, 'bad.txt')} ! fakesink`]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /SLUICE_ERR_MODEL: .*NvDsInferParseCustomMine is not a parser Sluice knows/);
  const ok = await sluice(['launch', '-q', `testsrc num-frames=2 ! infer ep=cpu adapter=yolox config=${join(dir, 'bad.txt')} ! fakesink`]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a secondary classifier keeps no label under classifier-threshold', { timeout: 240_000 }, async () => {
  const dir = tmp();
  const sgie = (t: number) => {
    const f = join(dir, `sgie_${t}.txt`);
    writeFileSync(f, `[property]
gpu-id=0
net-scale-factor=0.01735207357279195
offsets=123.675;116.28;103.53
model-color-format=0
onnx-file=${join(ASSETS, 'models', 'mobilenetv2', 'mobilenetv2-12-int8.onnx')}
labelfile-path=${join(ASSETS, 'models', 'mobilenetv2', 'synset.txt')}
batch-size=1
network-mode=0
process-mode=2
network-type=1
is-classifier=1
classifier-threshold=${t}
operate-on-class-ids=0
input-object-min-width=32
input-object-min-height=32
`);
    return f;
  };
  const labels = async (t: number) => {
    const scores: (number | null)[] = [];
    const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=450 ! infer model=${YOLOX} ep=cpu threshold=0.4 ! infer name=cls config=${sgie(t)} ep=cpu ! fakesink`);
    // Every 10th frame from the one where the person walks in.
    p.addProbe('uri0.src', (f) => (f.frame >= 80 && f.frame % 10 === 0 ? undefined : 'drop'));
    p.addProbe('cls.src', (f) => {
      for (const o of f.meta.objects) if (o.class === 0) scores.push((o.attributes.classification as { score: number } | undefined)?.score ?? null);
    });
    await p.run();
    return scores;
  };
  const low = await labels(0), high = await labels(0.6);
  assert.equal(low.length, high.length);
  const under = low.filter((s) => s !== null && s < 0.6).length;
  assert.ok(under > 0 && low.length >= 4, `people classified under 0.6 with no threshold: ${under} of ${low.length}`);
  assert.ok(high.every((s) => s === null || s >= 0.6), JSON.stringify(high));
  // Labels over the threshold are the same ones.
  assert.deepEqual(high.filter((s) => s !== null), low.filter((s) => s !== null && s >= 0.6));
});
