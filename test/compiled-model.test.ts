// A model written by `sluice models compile IN -o OUT` says what it is in its ONNX metadata
// (adapter, the source input's layout, channel order, the normalisation folded in, top-k), and
// `infer model=OUT` runs it as compiled: the same boxes as compile=auto on the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, type Frame } from '../src/index.ts';
import { compiledInfoOf } from '../src/infer/compile/compile.ts';
import { decodeModel } from '../src/infer/compile/onnx.ts';
import { ASSETS, media, sluice, tmp } from './helpers.ts';

process.env.SLUICE_CACHE_DIR = tmp();
const model = (p: string) => join(ASSETS, 'models', p);

/** What infer attaches on chosen frames (objects and classifications), with its warnings and report. */
async function run(video: string, frames: number[], props: string) {
  const want = new Set(frames);
  const p = launch(`uri location=${video} num-frames=${Math.max(...frames) + 1} ! infer ep=cpu ${props} ! fakesink`);
  p.addProbe('uri0.src', (f) => (want.has(f.frame) ? undefined : 'drop'));
  const got = new Map<number, Pick<Frame['meta'], 'objects' | 'classifications'>>();
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  p.addProbe('infer0.src', (f) => { got.set(f.frame, structuredClone({ objects: f.meta.objects, classifications: f.meta.classifications })); });
  await p.run();
  return { got, warnings, resolved: p.report().elements.infer0!.resolved ?? {} };
}

async function compileCli(src: string, extra: string[] = []): Promise<string> {
  const out = join(tmp(), 'compiled.onnx');
  const r = await sluice(['models', 'compile', src, '-o', out, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

test('a compiled YOLOX file carries what it is and runs through infer with the boxes of compile=auto', { timeout: 180_000 }, async () => {
  const file = await compileCli(model('yolox/yolox_nano.onnx'), ['--top-k', '100']);
  const ci = compiledInfoOf(decodeModel(readFileSync(file)))!;
  assert.deepEqual(
    { adapter: ci.adapter, input: ci.input, order: ci.order, scale: ci.scale, mean: ci.mean, std: ci.std, topK: ci.topK, post: ci.post, batch: ci.batch, classes: ci.classes },
    { adapter: 'yolox', input: { name: 'images', layout: 'nchw' }, order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], topK: 100, post: true, batch: 'dynamic', classes: 80 },
  );
  const frames = [120, 492];
  // Before: "does not fit adapter yolox: input tensor "sluice_input" is uint8; yolox needs float32".
  const asFile = await run(media('bottle-detection.mp4'), frames, `model=${file}`);
  const auto = await run(media('bottle-detection.mp4'), frames, `model=${model('yolox/yolox_nano.onnx')} candidates=100`);
  assert.equal(asFile.resolved.compiled, 'file');
  assert.equal(asFile.resolved.postInGraph, true);
  assert.match(String(auto.resolved.compiled), /built|cached/);
  assert.deepEqual(asFile.warnings, []);
  let n = 0;
  for (const f of frames) {
    assert.deepEqual(asFile.got.get(f)!.objects, auto.got.get(f)!.objects, `frame ${f}`);
    n += auto.got.get(f)!.objects.length;
  }
  assert.ok(n >= 4, `${n} boxes compared`);
  assert.ok([...asFile.got.values()].some((m) => m.objects.some((o) => o.label === 'bottle')));
  const again = await sluice(['models', 'compile', file, '-o', join(tmp(), 'twice.onnx')]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /SLUICE_ERR_MODEL: .*compiled\.onnx is already compiled \(yolox, uint8 416x416 bgr in\); infer model=.* runs it as it is/);
});

test('the channel order a file was compiled with is the one infer feeds it; properties it fixed are named as ignored', { timeout: 180_000 }, async () => {
  // YOLOX fed RGB is a different (worse) input: the compiled file must reproduce exactly that.
  const rgb = await compileCli(model('yolox/yolox_nano.onnx'), ['--channels', 'rgb']);
  const frames = [105, 200];
  const asFile = await run(media('one-by-one-person-detection.mp4'), frames, `model=${rgb} channels=bgr`);
  const auto = await run(media('one-by-one-person-detection.mp4'), frames, `model=${model('yolox/yolox_nano.onnx')} channels=rgb`);
  const bgr = await run(media('one-by-one-person-detection.mp4'), frames, `model=${model('yolox/yolox_nano.onnx')}`);
  for (const f of frames) assert.deepEqual(asFile.got.get(f)!.objects, auto.got.get(f)!.objects, `frame ${f}`);
  // The two orders really differ on these frames (else this case could not fail).
  assert.notDeepEqual(frames.map((f) => auto.got.get(f)!.objects), frames.map((f) => bgr.got.get(f)!.objects));
  assert.ok(asFile.warnings.some((w) => /is a compiled model; channels=bgr \(it takes rgb\) ignored: compile the original model again/.test(w)), asFile.warnings.join('\n'));
});

test('a compiled classifier (outputs left as they are) runs through infer; a wrong adapter= is a coded error naming the one it was compiled for', { timeout: 180_000 }, async () => {
  const file = await compileCli(model('mobilenetv2/mobilenetv2-12-int8.onnx'));
  const labels = `labels=${model('mobilenetv2/synset.txt')}`;
  const asFile = await run(media('bottle-detection.mp4'), [492], `model=${file} ${labels}`);
  const auto = await run(media('bottle-detection.mp4'), [492], `model=${model('mobilenetv2/mobilenetv2-12-int8.onnx')} ${labels}`);
  assert.equal(asFile.resolved.compiled, 'file');
  assert.equal(asFile.resolved.postInGraph, false);
  const c = asFile.got.get(492)!.classifications!;
  assert.ok(c.length >= 1);
  assert.deepEqual(c, auto.got.get(492)!.classifications);
  const r = await sluice(['launch', '-q', `testsrc num-frames=2 ! infer ep=cpu model=${file} adapter=ssd ! fakesink`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_MODEL: .*compiled\.onnx was compiled for adapter classify, not ssd; leave adapter= out, or compile the original model again with --adapter ssd/);
});
