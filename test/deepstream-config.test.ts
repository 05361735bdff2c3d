// DeepStream nvinfer config files run as they are: `infer config=FILE.txt` with the keys a
// DeepStream user writes (comments, odd spacing, ';' lists, relative paths), giving the same
// detections as the equivalent launch line; unsupported keys are named.
import test from 'node:test';
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, type ObjectMeta } from '../src/index.ts';
import { COCO80 } from '../src/infer/adapters/types.ts';
import { readNvinferConfig } from '../src/infer/deepstream.ts';
import { ASSETS, media, sluice, tmp } from './helpers.ts';
import { YOLOX_CONFIG } from './fixtures/deepstream.ts';

async function detections(infer: string) {
  const got = new Map<number, ObjectMeta[]>();
  const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=200 ! ${infer} ! fakesink`);
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  p.addProbe('infer0.src', (f) => { if (f.meta.inferred) got.set(f.frame, structuredClone(f.meta.objects)); });
  await p.run();
  return { got, warnings };
}

test('an nvinfer config (YOLOX) runs and gives the detections of the equivalent launch line', { timeout: 180_000 }, async () => {
  const dir = tmp();
  symlinkSync(join(ASSETS, 'models', 'yolox'), join(dir, 'models'));
  writeFileSync(join(dir, 'labels.txt'), COCO80.join('\n') + '\n');
  const cfg = join(dir, 'config_infer_primary_yolox.txt');
  writeFileSync(cfg, YOLOX_CONFIG);
  const ds = await detections(`infer config=${cfg} ep=cpu`);
  const line = await detections(`infer model=${join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx')} ep=cpu labels=${join(dir, 'labels.txt')} channels=bgr scale=1 mean=0 std=1 letterbox=top-left threshold=0.5 nms-iou=0.45 candidates=300 interval=4 batch-size=1`);
  assert.equal(ds.got.size, 50, 'interval=3 skips three frames between inferences: every 4th of 200');
  assert.deepEqual([...ds.got.keys()], [...line.got.keys()]);
  let boxes = 0;
  for (const [f, objs] of line.got) { boxes += objs.length; assert.deepEqual(ds.got.get(f), objs, `frame ${f}`); }
  assert.ok(boxes > 20, `${boxes} boxes compared`);
  assert.ok([...ds.got.values()].flat().some((o) => o.label === 'person'));
  // Keys that mean nothing for onnxruntime are said once each, not silently dropped.
  assert.ok(ds.warnings.some((w) => /model-engine-file: TensorRT engines are not used/.test(w)), ds.warnings.join('\n'));
  assert.ok(ds.warnings.some((w) => /scaling-filter/.test(w)));
});

test('nvinfer keys: lists, inline comments and spaces; normalisation maps to scale/mean; unsupported keys are coded errors; unknown keys listed', () => {
  const r = readNvinferConfig(`[property]
net-scale-factor = 0.0173520735727919  # 1/57.63
offsets = 123.675;116.28;103.53;
model-color-format=0
onnx-file = m.onnx
maintain-aspect-ratio=1
symmetric-padding=1
process-mode=2
operate-on-class-ids=0;2
input-object-min-width=32
input-object-min-height=24
is-classifier=1
classifier-threshold=0.4
my-own-key=1
[class-attrs-2]
pre-cluster-threshold=0.7
`, '/cfg/sgie.txt');
  assert.deepEqual(r.props, {
    scale: 0.0173520735727919, channels: 'rgb', model: '/cfg/m.onnx', mode: 'secondary', onClass: '0,2', minSize: 32,
    adapter: 'classify', threshold: 0.4, mean: '2.146018,2.017699,1.79646', std: '1', letterbox: 'center', classThresholds: '2:0.7',
  });
  assert.ok(r.warnings.some((w) => /not known to nvinfer or Sluice, ignored: my-own-key/.test(w)));
  assert.throws(() => readNvinferConfig('[property]\ncustom-lib-path=/opt/libparser.so\n', 'x.txt'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_MODEL' && /custom-lib-path=\/opt\/libparser\.so cannot be loaded and no parse-bbox-func-name names its parser; set infer adapter=/.test(e.message));
  assert.throws(() => readNvinferConfig('[property]\ntlt-encoded-model=a.etlt\n', 'x.txt'), /convert the .etlt model to ONNX/);
  assert.throws(() => readNvinferConfig('[primary-gie]\nenable=1\n', 'x.txt'), /no \[property\] section/);
});

test('the CLI reports a bad nvinfer key with its code, before anything runs', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'bad.txt'), '[property]\nonnx-file=x.onnx\nuff-file=model.uff\n');
  const r = await sluice(['launch', '-q', `testsrc num-frames=5 ! infer config=${join(dir, 'bad.txt')} ! fakesink`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_MODEL: .*bad\.txt: uff-file is not supported: convert the UFF model to ONNX/);
});
