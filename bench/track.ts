// Tracking accuracy and speed on testsrc ground truth (a detector that sees every object at
// least half visible; optionally 20% of detections dropped and boxes jittered), and tracker
// time per frame at 10 and 100 objects. node bench/track.ts
import { launch, type Box, type ObjectMeta } from '../src/index.ts';
import { mulberry32 } from '../src/elements/testsrc.ts';
import { evaluate, type GtObj, type HypObj } from '../src/track/metrics.ts';
import { Tracker } from '../src/track/tracker.ts';

const rng = mulberry32;

async function run(props: string, drop: number, jitter: number, objects = 6, frames = 600) {
  const r = rng(7);
  const p = launch(`testsrc pattern=objects num-frames=${frames} num-objects=${objects} width=640 height=480 speed=1.5 ! track ${props} ! fakesink`, { statsIntervalMs: 0 });
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = f.meta.truth!.filter((t) => t.visible >= 0.5 && r() >= drop).map((t): ObjectMeta => {
      const w = t.box[2] - t.box[0], h = t.box[3] - t.box[1];
      return { class: t.class, score: 0.9, box: t.box.map((v, i) => v + (r() * 2 - 1) * jitter * (i % 2 ? h : w)) as Box, attributes: {} };
    });
  });
  const fr: { truth: GtObj[]; hyps: HypObj[] }[] = [];
  p.addProbe('track0.src', (f) => { fr.push({ truth: f.meta.truth!.map((t) => ({ id: t.id, box: t.box, visible: t.visible })), hyps: f.meta.objects.map((o) => ({ track: o.track!, box: o.box })) }); });
  await p.run();
  return evaluate(fr);
}

console.log('scenario                          tracker  MOTA   IDF1   IDsw  FP   FN   GT');
for (const [name, drop, jitter] of [['clean', 0, 0], ['20% dropped, 5% jitter', 0.2, 0.05]] as const) {
  for (const t of ['sort', 'iou']) {
    const m = await run(`tracker=${t} min-hits=2`, drop, jitter);
    console.log(`${name.padEnd(33)} ${t.padEnd(7)}  ${m.mota.toFixed(3)}  ${m.idf1.toFixed(3)}  ${String(m.idsw).padStart(4)}  ${String(m.fp).padStart(3)}  ${String(m.fn).padStart(3)}  ${m.gt}`);
  }
}
for (const n of [10, 100]) {
  const t = new Tracker({ kind: 'sort', highThreshold: 0.5, lowThreshold: 0.1, matchIou: 0.3, minHits: 3, maxAge: 30, classAware: true });
  const r = rng(3);
  const objs = Array.from({ length: n }, () => ({ x: r() * 1800, y: r() * 1000, vx: r() * 4 - 2, vy: r() * 4 - 2 }));
  const frames = 500;
  let ms = 0;
  for (let f = 0; f < frames; f++) {
    const dets = objs.map((o): ObjectMeta => ({ class: 0, score: 0.9, box: [o.x + o.vx * f, o.y + o.vy * f, o.x + o.vx * f + 40, o.y + o.vy * f + 80], attributes: {} }));
    const t0 = performance.now();
    t.update(dets);
    if (f >= 20) ms += performance.now() - t0;
  }
  console.log(`sort tracker, ${n} objects: ${(ms / (frames - 20)).toFixed(3)} ms per frame`);
}

// Real video: YOLOX-nano + track on the whole of one-by-one-person-detection.mp4.
const assets = process.env.SLUICE_TEST_ASSETS ?? '../shared';
{
  const p = launch(`uri location=${assets}/media/one-by-one-person-detection.mp4 ! infer model=${assets}/models/yolox/yolox_nano.onnx classes=person ! track ! fakesink`, { statsIntervalMs: 0 });
  const spans = new Map<number, [number, number, number]>();
  p.addProbe('track0.src', (f) => {
    for (const o of f.meta.objects) {
      const s = spans.get(o.track!);
      if (s) { s[1] = f.frame; s[2]++; } else spans.set(o.track!, [f.frame, f.frame, 1]);
    }
  });
  const r = await p.run();
  const long = [...spans.entries()].filter(([, s]) => s[2] >= 10);
  console.log(`one-by-one-person-detection.mp4: ${r.frames} frames at ${r.fps.toFixed(1)} fps; ${spans.size} track ids, ${long.length} lasting 10+ frames:`);
  for (const [id, [a, b, n]] of long) console.log(`  id ${id}: frames ${a}-${b} (${n} frames, ${(a / 10).toFixed(1)}-${(b / 10).toFixed(1)} s)`);
}
