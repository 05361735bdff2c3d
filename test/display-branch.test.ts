// The display branch never slows inference (issue 25): a live source, real inference, and a
// display chain (tile ! osd ! encode at 1080p) whose sink takes 400 ms a frame (identity
// delay=400, 2.5 fps against the camera's 30). Detections must keep the source's rate; what
// the display could not show is counted; and tile does not draw composites that the chain
// behind it would only drop (that work takes the cores inference needs: on this 2-core box,
// under load, it once left `meta` 8 of 120 frames).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { ASSETS } from './helpers.ts';

const MODEL = join(ASSETS, 'models/light_person_detector/light_person_detector_192.onnx');
const FRAMES = 90;
const SOURCE = `testsrc live=true fps=30 pattern=objects width=640 height=360 num-frames=${FRAMES}`;
const DISPLAY = 'tile width=1920 height=1080 ! osd ! encode tune=zerolatency preset=veryfast ! identity delay=400 ! fakesink name=display';

/**
 * Runs `desc`, noting the frames that leave the source and those that pass `watch` (element.pad).
 * Counted from half a second after the first frame passed `watch`: the model's first run (its
 * session warming up) is not the display's doing, and frames that waited for it may go late.
 */
async function run(desc: string, watch: string) {
  const p = launch(desc, { statsIntervalMs: 0 });
  const src: [number, number][] = [], seen: [number, number][] = [];
  p.addProbe('testsrc0.src', (f) => { src.push([f.frame, performance.now()]); });
  p.addProbe(watch, (f) => { seen.push([f.frame, performance.now()]); });
  const r = await p.run();
  assert.ok(seen.length > 0, `no frame passed ${watch}`);
  const from = seen[0]![0] + 15;
  const s = src.filter(([f]) => f >= from), w = seen.filter(([f]) => f >= from);
  const fps = (xs: [number, number][]) => (xs.length - 1) / ((xs.at(-1)![1] - xs[0]![1]) / 1000);
  return { r, src: s.length, seen: w.length, srcFps: fps(s), seenFps: fps(w), el: r.elements };
}

test('tee: a blocked display branch leaves detections at the source rate; its drops are counted; tile draws only what the display takes', async (t) => {
  const { r, src, seen, srcFps, seenFps, el } = await run(`${SOURCE} ! infer model=${MODEL} ! tee name=t  t. ! queue ! fakesink name=metasink  t. ! queue ! ${DISPLAY}`, 'queue0.src');
  t.diagnostic(`source ${src} frames at ${srcFps.toFixed(1)} fps; meta ${seen} at ${seenFps.toFixed(1)} fps; display ${el.display!.framesIn}; tile ${el.tile0!.framesOut} composites, ${JSON.stringify(el.tile0!.resolved)}; live drops ${JSON.stringify(r.live?.droppedBy)}`);
  // The source was not held back, and the meta branch got (nearly) every frame it made, at its rate.
  assert.ok(srcFps >= 24, `the source ran at ${srcFps.toFixed(1)} fps (30 asked)`);
  assert.ok(seen >= 0.9 * src, `meta got ${seen} of the source's ${src} frames`);
  assert.ok(seenFps >= 0.9 * srcFps, `meta at ${seenFps.toFixed(1)} fps, the source at ${srcFps.toFixed(1)}`);
  // The display really was slow (the premise), and what it did not show is counted.
  const shown = el.display!.framesIn;
  assert.ok(shown <= 0.4 * FRAMES, `the display sink took ${shown} frames: not slow enough to test anything`);
  const tile = el.tile0!.resolved as { compositesSkipped: number; framesNotShown: number };
  assert.ok(tile.compositesSkipped > 0 && tile.framesNotShown >= 0.5 * FRAMES, JSON.stringify(tile));
  // Composites drawn and then dropped further on are work taken from inference: bounded by the
  // composites in flight (3), not by the ticks (before: 118 drawn for 19 shown).
  assert.ok(el.tile0!.framesOut <= 2 * shown + 6, `tile drew ${el.tile0!.framesOut} composites for ${shown} shown`);
});

test('linear infer ! track ! tile ! osd ! encode ! slow sink: infer keeps the source rate, tile never holds its input', async (t) => {
  const { r, src, seen, srcFps, seenFps, el } = await run(`${SOURCE} ! infer model=${MODEL} ! track ! ${DISPLAY}`, 'infer0.src');
  t.diagnostic(`source ${src} at ${srcFps.toFixed(1)} fps; infer out ${seen} at ${seenFps.toFixed(1)} fps; display ${el.display!.framesIn}; tile ${el.tile0!.framesOut} composites, ${JSON.stringify(el.tile0!.resolved)}; live drops ${JSON.stringify(r.live?.droppedBy)}`);
  assert.ok(srcFps >= 24, `the source ran at ${srcFps.toFixed(1)} fps (30 asked)`);
  assert.ok(seen >= 0.9 * src && seenFps >= 0.9 * srcFps, `infer passed ${seen} of ${src} frames at ${seenFps.toFixed(1)} fps`);
  // tile took every frame track gave it (it keeps the newest of each stream, never waits).
  assert.equal(el.tile0!.framesIn, el.track0!.framesOut);
  const shown = el.display!.framesIn;
  assert.ok(shown <= 0.4 * FRAMES, `the display sink took ${shown} frames`);
  assert.ok(el.tile0!.framesOut <= 2 * shown + 6, `tile drew ${el.tile0!.framesOut} composites for ${shown} shown`);
  assert.ok((el.tile0!.resolved as { framesNotShown: number }).framesNotShown >= 0.5 * FRAMES);
});

test('max-latency=0 (no frame is ever dropped for age): a leaky queue heads the display branch; detections keep the rate, the queue counts its drops', async (t) => {
  // Without a budget nothing downstream drops live frames, so a plain queue before a slow
  // branch would hold the tee (and the camera) at the display's rate, as in GStreamer.
  const { src, seen, srcFps, seenFps, el } = await run(`${SOURCE} max-latency=0 ! infer model=${MODEL} ! tee name=t  t. ! queue ! fakesink name=metasink  t. ! queue leaky=oldest max-size=2 ! osd ! encode tune=zerolatency preset=veryfast ! identity delay=400 ! fakesink name=display`, 'queue0.src');
  t.diagnostic(`source ${src} at ${srcFps.toFixed(1)} fps; meta ${seen} at ${seenFps.toFixed(1)} fps; display ${el.display!.framesIn}; leaky queue dropped ${el.queue1!.dropped}`);
  assert.ok(srcFps >= 24, `the source ran at ${srcFps.toFixed(1)} fps (30 asked)`);
  assert.equal(seen, src, 'meta got every frame');
  assert.ok(seenFps >= 0.9 * srcFps);
  assert.ok(el.display!.framesIn <= 0.4 * FRAMES);
  assert.ok(el.queue1!.dropped >= 0.5 * FRAMES, `the leaky queue counted ${el.queue1!.dropped} drops`);
});
