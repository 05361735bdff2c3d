// mux width= height= scales each stream into one size, keeping its aspect ratio (centred, padded
// black); infer then letterboxes that picture as the model expects, and boxes map back through
// both scalings to each stream's own pixels. The same frames give the same objects as at native
// size, for a stream of the batch's aspect (768x432 -> 640x360) and one that is not (576x432),
// decoded in threads (which also make a picture for infer that mux's scaling replaces).
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { launch, type ObjectMeta } from '../src/index.ts';
import { iou } from '../src/infer/nms.ts';
import { ASSETS, media, tmp } from './helpers.ts';

const MODEL = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');
const FRAMES = 200;

interface Seen { objects: Map<string, ObjectMeta[]>; sizes: Set<string>; xforms: Map<number, string> }

async function detect(text: string): Promise<Seen> {
  const objects = new Map<string, ObjectMeta[]>(), sizes = new Set<string>(), xforms = new Map<number, string>();
  const p = launch(text);
  p.addProbe('infer0.src', (f) => {
    if (!f.meta.inferred) return;
    objects.set(`${f.stream}:${f.frame}`, structuredClone(f.meta.objects));
    sizes.add(`${f.width}x${f.height}`);
    xforms.set(f.stream, [f.xform.sx, f.xform.sy, f.xform.dx, f.xform.dy].map((v) => Math.round(v * 1000) / 1000).join(','));
  });
  await p.run();
  return { objects, sizes, xforms };
}

/** Strong objects (score >= 0.5) of `ref` with a twin in `got` (same class, IoU >= 0.85), keyed as `stream:frame` of `got`. */
function twins(ref: Map<string, ObjectMeta[]>, got: Map<string, ObjectMeta[]>, stream: number) {
  let strong = 0, found = 0;
  const missing: string[] = [];
  for (const [k, objs] of ref) {
    const g = got.get(`${stream}:${k.split(':')[1]}`) ?? [];
    for (const o of objs.filter((x) => x.score >= 0.5)) {
      strong++;
      if (g.some((x) => x.class === o.class && iou(x.box, o.box) >= 0.85)) found++;
      else missing.push(`${k} ${o.label} ${o.score.toFixed(2)} [${o.box.map(Math.round)}]`);
    }
  }
  return { strong, found, missing };
}

test('a mux width/height batch reaches infer letterboxed as the model expects: the objects of native size, boxes in stream pixels', { timeout: 300_000 }, async () => {
  const dir = tmp();
  // A 4:3 camera: mux fits it into 640x360 as 480x360 with 80 px bars left and right.
  const narrow = join(dir, 'narrow.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-i', media('one-by-one-person-detection.mp4'), '-frames:v', String(FRAMES), '-vf', 'crop=576:432', '-c:v', 'libx264', '-preset', 'ultrafast', narrow]);
  const cars = media('car-detection.mp4');
  const infer = `infer model=${MODEL} ep=cpu interval=5`;
  const natNarrow = await detect(`uri location=${narrow} ! ${infer} ! fakesink`);
  const natCars = await detect(`uri location=${cars} num-frames=${FRAMES} ! ${infer} ! fakesink`);
  const batch = await detect(`uri location=${narrow} threaded=true ! m.  uri location=${cars} num-frames=${FRAMES} threaded=true ! m.  mux name=m batch-size=2 width=640 height=360 ! ${infer} ! fakesink`);
  assert.deepEqual([...batch.sizes], ['640x360']);
  // Stream 0 scaled by 360/432 and shifted 80 px; stream 1 by 640/768, no bars.
  assert.equal(batch.xforms.get(0), '0.833,0.833,80,0');
  assert.equal(batch.xforms.get(1), '0.833,0.833,0,0');
  for (const [name, nat, s] of [['576x432', natNarrow, 0], ['768x432', natCars, 1]] as const) {
    const mine = new Map([...batch.objects].filter(([k]) => k.startsWith(`${s}:`)));
    const there = twins(nat.objects, batch.objects, s), back = twins(mine, new Map([...nat.objects].map(([k, v]) => [`${s}:${k.split(':')[1]}`, v])), s);
    assert.ok(there.strong >= 5, `${name}: ${there.strong} strong objects at native size`);
    assert.equal(there.found, there.strong, `${name}: native objects missing through mux: ${there.missing.join('; ')}`);
    assert.equal(back.found, back.strong, `${name}: objects through mux not found at native size: ${back.missing.join('; ')}`);
  }
  // Boxes are in each stream's own pixels, not the batch's.
  for (const [k, objs] of batch.objects) for (const o of objs) assert.ok(o.box[2] <= (k.startsWith('0:') ? 576 : 768) && o.box[3] <= 432, `${k} ${o.box}`);
});
