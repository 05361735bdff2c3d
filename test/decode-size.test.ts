// uri width/height: frames decoded to a smaller size (NVDEC's own resize on a GPU, swscale
// here) carry boxes in the stream's pixels, so detections match those of full-size decoding.
import test from 'node:test';
import assert from 'node:assert/strict';
import { launch } from '../src/index.ts';
import { iou } from '../src/infer/nms.ts';
import type { ObjectMeta } from '../src/core/frame.ts';
import { ASSETS, media } from './helpers.ts';

const model = `${ASSETS}/models/yolox/yolox_nano.onnx`;

async function detect(extra: string) {
  const got = new Map<number, ObjectMeta[]>();
  const sizes = new Set<string>();
  const p = launch(`uri location=${media('one-by-one-person-detection.mp4')} num-frames=240 ${extra} ! infer model=${model} ep=cpu interval=4 ! fakesink`);
  p.addProbe('uri0.src', (f) => { sizes.add(`${f.width}x${f.height} of ${f.source.width}x${f.source.height}`); });
  p.addProbe('infer0.src', (f) => { got.set(f.frame, structuredClone(f.meta.objects)); });
  await p.run();
  return { got, sizes };
}

test('uri width=416 decodes 768x432 to 416x234 and finds the same people, boxes in stream pixels', { timeout: 120_000 }, async () => {
  const full = await detect('');
  const small = await detect('width=416');
  assert.deepEqual([...full.sizes], ['768x432 of 768x432']);
  assert.deepEqual([...small.sizes], ['416x234 of 768x432']);
  let strong = 0, matched = 0;
  for (const [f, objs] of full.got) {
    for (const o of objs.filter((x) => x.score >= 0.5)) {
      strong++;
      if ((small.got.get(f) ?? []).some((x) => x.class === o.class && iou(x.box, o.box) >= 0.9 && Math.abs(x.score - o.score) < 0.05)) matched++;
    }
  }
  assert.ok(strong >= 20, `the reference run found ${strong} confident boxes in 60 inferred frames`);
  assert.ok(matched / strong >= 0.95, `${matched}/${strong} confident boxes matched at IoU >= 0.9`);
});
