import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, type EventMeta } from '../src/index.ts';
import { insidePolygon } from '../src/elements/analytics.ts';

/** Perfect detections from testsrc truth, tracked, then analytics. */
async function run(objects: number, seed: number, analytics: string, frames = 600) {
  const p = launch(`testsrc pattern=objects num-frames=${frames} num-objects=${objects} seed=${seed} width=640 height=480 speed=2 ! track min-hits=1 ! analytics ${analytics} ! fakesink`);
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = f.meta.truth!.filter((t) => t.visible >= 0.3).map((t) => ({ class: t.class, score: 0.9, box: t.box, attributes: {} }));
  });
  const truth: { id: number; x: number; y: number }[][] = [];
  const events: EventMeta[] = [];
  const occupancy: number[] = [];
  const busEvents: string[] = [];
  p.bus.on('element', (m) => busEvents.push(m.name));
  p.addProbe('analytics0.src', (f) => {
    truth.push(f.meta.truth!.map((t) => ({ id: t.id, x: (t.box[0] + t.box[2]) / 2, y: (t.box[1] + t.box[3]) / 2 })));
    events.push(...f.meta.events);
    const a = f.meta.user.analytics as Record<string, { occupancy?: number }>;
    if (a.left) occupancy.push(a.left.occupancy!);
  });
  await p.run();
  return { truth, events, occupancy, busEvents };
}

/** Crossings of x = 320 counted straight from the ground-truth trajectories. */
function truthCrossings(truth: { id: number; x: number }[][]) {
  let inn = 0, out = 0;
  const last = new Map<number, number>();
  for (const f of truth) for (const t of f) {
    const prev = last.get(t.id);
    if (prev !== undefined && prev > 320 && t.x < 320) inn++;
    if (prev !== undefined && prev < 320 && t.x > 320) out++;
    last.set(t.id, t.x);
  }
  return { inn, out };
}

test('line crossings are exact against ground truth, in both directions', async () => {
  // Line from top to bottom at x=320: "in" = right-to-left (from its left side to its right).
  for (const [objects, seed] of [[1, 1], [2, 5], [3, 1], [4, 6]] as const) {
    const r = await run(objects, seed, 'lines=mid:320,0,320,480');
    const want = truthCrossings(r.truth);
    const got = { inn: r.events.filter((e) => e.type === 'line-cross' && e.direction === 'in').length, out: r.events.filter((e) => e.type === 'line-cross' && e.direction === 'out').length };
    assert.ok(want.inn + want.out >= 4, `scenario ${objects}/${seed} crosses the line several times`);
    assert.deepEqual(got, want, `objects=${objects} seed=${seed}`);
    assert.equal(r.busEvents.filter((n) => n === 'line-cross').length, want.inn + want.out, 'events also go to the bus');
  }
});

test('ROI occupancy, entries/exits and overcrowding match ground truth', async () => {
  const r = await run(2, 3, 'rois=left:0,0,320,0,320,480,0,480 overcrowd=1');
  // Occupancy: objects whose centre is in the left half, frame by frame.
  r.truth.forEach((f, i) => {
    const want = f.filter((t) => insidePolygon([[0, 0], [320, 0], [320, 480], [0, 480]], t.x, t.y)).length;
    assert.equal(r.occupancy[i], want, `frame ${i}`);
  });
  const enters = r.events.filter((e) => e.type === 'roi-enter').length;
  const exits = r.events.filter((e) => e.type === 'roi-exit');
  assert.ok(enters >= 2 && Math.abs(enters - exits.length) <= 2);
  assert.ok(exits.every((e) => (e.dwell as number) > 0));
  const crowd = r.events.filter((e) => e.type === 'overcrowding').length;
  const framesBoth = r.occupancy.filter((n) => n === 2).length;
  assert.ok(framesBoth === 0 ? crowd === 0 : crowd >= 1, `overcrowding events ${crowd}, frames with 2 inside ${framesBoth}`);
});

test('bad analytics properties fail before start', async () => {
  await assert.rejects(launch('testsrc ! analytics lines=a:1,2,3 ! fakesink').run(), /line a needs x1,y1,x2,y2/);
  await assert.rejects(launch('testsrc ! analytics rois=r:1,2,3,4 ! fakesink').run(), /at least 3 points/);
});
