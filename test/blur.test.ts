import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch, type Frame } from '../src/index.ts';
import { TESTSRC_CLASSES } from '../src/elements/testsrc.ts';
import { AVPixels } from '../src/media/av.ts';
import { ASSETS, media } from './helpers.ts';

/** Copy of the luma plane (tight) of a frame. */
function luma(f: Frame): Uint8Array {
  const av = (f.pixels as AVPixels).av;
  const ls = av.linesize[0]!;
  const y = av.data![0]!;
  const out = new Uint8Array(f.width * f.height);
  for (let r = 0; r < f.height; r++) out.set(y.subarray(r * ls, r * ls + f.width), r * f.width);
  return out;
}

test('blur pixelates exactly the boxes of the chosen class, from ground truth', async () => {
  // A "perfect detector": testsrc's truth becomes the objects; blur hides the red ones.
  const p = launch('testsrc pattern=noise num-frames=10 width=320 height=240 ! tee name=t t. ! queue ! blur classes=red block=8 expand=0 ! fakesink name=after t. ! queue ! fakesink name=before');
  const frames = new Map<string, Map<number, Uint8Array>>([['before', new Map()], ['after', new Map()]]);
  const boxes = new Map<number, [number, number, number, number][]>();
  p.addProbe('testsrc0.src', (f) => {
    // Noise background with two fixed boxes: red (class 0) and green (class 1).
    const red: [number, number, number, number] = [40, 40, 104, 120];
    const green: [number, number, number, number] = [200, 100, 264, 180];
    f.meta.objects = [
      { class: 0, label: TESTSRC_CLASSES[0].name, score: 1, box: red, attributes: {} },
      { class: 1, label: TESTSRC_CLASSES[1].name, score: 1, box: green, attributes: {} },
    ];
    boxes.set(f.frame, [red, green]);
  });
  p.addProbe('after.sink_0', (f) => { frames.get('after')!.set(f.frame, luma(f)); });
  p.addProbe('before.sink_0', (f) => { frames.get('before')!.set(f.frame, luma(f)); });
  await p.run();
  for (let n = 0; n < 10; n++) {
    const a = frames.get('after')!.get(n)!, b = frames.get('before')!.get(n)!;
    const [red, green] = boxes.get(n)!;
    const inside = (x: number, y: number, bx: number[]) => x >= bx[0]! && x < bx[2]! && y >= bx[1]! && y < bx[3]!;
    let changedOutside = 0;
    for (let y = 0; y < 240; y++) for (let x = 0; x < 320; x++) if (!inside(x, y, red!) && a[y * 320 + x] !== b[y * 320 + x]) changedOutside++;
    assert.equal(changedOutside, 0, `frame ${n}: pixels outside the red box changed (the tee's other branch must not see it either)`);
    // Inside the red box every 8x8 block is one value (pixelated noise).
    for (let by = red![1]!; by < red![3]!; by += 8) for (let bx = red![0]!; bx < red![2]!; bx += 8) {
      const v = a[by * 320 + bx];
      for (let y = by; y < by + 8; y++) for (let x = bx; x < bx + 8; x++) assert.equal(a[y * 320 + x], v);
    }
    // The green box keeps its noise.
    let same = 0;
    for (let y = green![1]!; y < green![3]!; y++) for (let x = green![0]!; x < green![2]!; x++) if (a[y * 320 + x] === a[y * 320 + x + 1]) same++;
    assert.ok(same < 0.2 * 64 * 80, 'green box untouched');
  }
});

test('face anonymisation: infer model=ultraface ! blur classes=face flattens every face', async () => {
  const p = launch(`uri location=${media('face-demographics-walking-and-pause.mp4')} num-frames=21 ! infer model=${join(ASSETS, 'models/ultraface/version-RFB-320.onnx')} ! tee name=t t. ! queue ! blur classes=face mode=blur block=12 ! fakesink name=after t. ! queue ! fakesink name=before`);
  p.addProbe('uri0.src', (f) => (f.frame === 20 ? undefined : 'drop'));
  let before: Uint8Array | null = null, after: Uint8Array | null = null, faces: number[][] = [], width = 0;
  p.addProbe('before.sink_0', (f) => { before = luma(f); faces = f.meta.objects.map((o) => o.box); width = f.width; });
  p.addProbe('after.sink_0', (f) => { after = luma(f); });
  await p.run();
  assert.equal(faces.length, 3);
  // Detail inside each face (sum of |horizontal gradients|) drops to a small fraction.
  for (const [x1, y1, x2, y2] of faces) {
    const grad = (img: Uint8Array) => {
      let g = 0;
      for (let y = Math.ceil(y1!); y < Math.floor(y2!); y++) for (let x = Math.ceil(x1!); x < Math.floor(x2!) - 1; x++) g += Math.abs(img[y * width + x + 1]! - img[y * width + x]!);
      return g;
    };
    const g0 = grad(before!), g1 = grad(after!);
    assert.ok(g1 < 0.35 * g0, `face detail ${g0} -> ${g1}`);
  }
});
