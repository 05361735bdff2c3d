// Box mapping from the model's picture to source pixels, through the letterbox placement and
// the frame's own scaling, with the class filters and clipping infer applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newFrame } from '../src/core/frame.ts';
import { applyDecoded, toSource } from '../src/infer/boxes.ts';
import { LANDMARKS } from '../src/meta/keys.ts';
import type { Placement } from '../src/media/scale.ts';

/** A 1920x1080 source decoded at half size (960x540), letterboxed (centre) into 640x640. */
function halfSizeFrame() {
  const f = newFrame({ stream: 0, frame: 0, pts: 0, width: 960, height: 540, format: 'yuv420p', pixels: null });
  f.source = { width: 1920, height: 1080 };
  f.xform = { sx: 0.5, sy: 0.5, dx: 0, dy: 0 };
  const s = 640 / 960;
  const place: Placement = { sx: s, sy: s, dx: 0, dy: (640 - 540 * s) / 2, width: 640, height: 640, iw: 640, ih: 360 };
  return { f, place };
}

const all = { keep: null, classMin: null, threshold: 0, labels: ['person', 'car'] };

test('a box in the letterboxed model picture lands on the source pixels it covers', () => {
  const { f, place } = halfSizeFrame();
  // Source box [300,300,600,600] -> frame [150,150,300,300] -> model [100,240,200,340].
  assert.deepEqual(toSource(place, f.xform)(100, 240), [300, 300]);
  applyDecoded(f, { objects: [{ class: 1, score: 0.9, box: [100, 240, 200, 340], landmarks: [150, 290] }] }, place, all);
  assert.equal(f.meta.objects.length, 1);
  const o = f.meta.objects[0]!;
  assert.deepEqual(o.box.map((v) => Math.round(v * 1000) / 1000), [300, 300, 600, 600]);
  assert.equal(o.label, 'car');
  assert.deepEqual(LANDMARKS.get(o), [450, 450]);
});

test('boxes are clipped to the source, and a box wholly in the padding is left out', () => {
  const { f, place } = halfSizeFrame();
  applyDecoded(f, { objects: [
    { class: 0, score: 0.8, box: [-50, 100, 700, 600] }, // past every edge
    { class: 0, score: 0.8, box: [10, 10, 100, 100] }, // in the top padding (model y < 140)
  ] }, place, all);
  assert.equal(f.meta.objects.length, 1);
  assert.deepEqual(f.meta.objects[0]!.box, [0, 0, 1920, 1080]);
});

test('classes= and class-thresholds= filter detections; unknown labels fall back to the class id', () => {
  const { f, place } = halfSizeFrame();
  const box: [number, number, number, number] = [100, 240, 200, 340];
  applyDecoded(f, { objects: [
    { class: 0, score: 0.5, box }, // person under its 0.6
    { class: 0, score: 0.7, box },
    { class: 1, score: 0.35, box }, // car at the default 0.3
    { class: 5, score: 0.99, box }, // not kept
  ], classifications: [{ class: 1, score: 0.9 }, { class: 5, score: 0.1 }] }, place, {
    keep: new Set([0, 1]), classMin: new Map([[0, 0.6]]), threshold: 0.3, labels: ['person'],
  });
  assert.deepEqual(f.meta.objects.map((o) => [o.label, o.score]), [['person', 0.7], ['1', 0.35]]);
  assert.deepEqual(f.meta.classifications, [{ class: 1, label: '1', score: 0.9 }]);
});
