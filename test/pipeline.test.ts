import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  buildPipeline, defaultRegistry, defineElement, joinSinkPads, parseLaunch, releaseFrame,
  type BusMessage, type Frame, type PipelineReport, SluiceError,
} from '../src/index.ts';

/** A sink that records what reaches it, built with the public element API. */
function collector() {
  const seen: { stream: number; frame: number; pts: number; pad: string; user: unknown }[] = [];
  const def = defineElement({
    name: 'collect',
    summary: 'test sink',
    kind: 'sink',
    pads: [joinSinkPads(['ANY'])],
    props: z.object({ delay: z.preprocess(Number, z.number()).default(0) }),
    create(o) {
      return {
        async process(f: Frame, pad: string) {
          seen.push({ stream: f.stream, frame: f.frame, pts: f.pts, pad, user: f.meta.user.tag });
          if (o.delay) await new Promise((r) => setTimeout(r, o.delay));
          releaseFrame(f);
        },
      };
    },
  });
  const reg = defaultRegistry();
  reg.register(def);
  return { reg, seen, run: (text: string, opts = {}) => buildPipeline(parseLaunch(text), reg, opts) };
}

test('EOS: every frame arrives in order, then the pipeline ends with an eos message', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=50 width=64 height=48 ! identity ! queue ! collect');
  const msgs: BusMessage['type'][] = [];
  p.bus.on('message', (m) => msgs.push(m.type));
  const r = await p.run();
  assert.deepEqual(c.seen.map((s) => s.frame), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(r.frames, 50);
  assert.equal(r.elements.collect0!.framesIn, 50);
  assert.ok(msgs.includes('eos'));
  assert.equal(p.state, 'null');
});

test('error in one element reaches the bus with its code and source, and run() rejects', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=100 width=64 height=48 ! identity name=bad error-after=10 ! collect');
  const errors: { source: string; code: string }[] = [];
  p.bus.on('error', (m) => errors.push({ source: m.source, code: m.error.code }));
  await assert.rejects(p.run(), (e: SluiceError) => e.code === 'SLUICE_ERR_ELEMENT' && /error-after=10/.test(e.message));
  assert.deepEqual(errors, [{ source: 'bad', code: 'SLUICE_ERR_ELEMENT' }]);
  assert.ok(c.seen.length <= 10, 'nothing after the failing frame gets through');
  assert.equal(p.state, 'null');
});

test('backpressure: a slow sink holds the source back and queues never exceed their size', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=40 width=64 height=48 ! queue max-size=3 ! collect delay=5', { queueSize: 2 });
  let maxAhead = 0;
  p.addProbe('testsrc0.src', (f) => { maxAhead = Math.max(maxAhead, f.frame - c.seen.length); });
  const r = await p.run();
  assert.equal(c.seen.length, 40);
  assert.equal(r.elements.queue0!.dropped, 0);
  assert.ok(r.elements.queue0!.queue.highWater <= 3);
  assert.ok(r.elements.collect0!.queue.highWater <= 2);
  // Source can be ahead of the sink by at most the frames held in queues and in flight.
  assert.ok(maxAhead <= 3 + 2 + 3, `source ran ${maxAhead} frames ahead`);
  assert.equal(r.bottleneck?.element, 'collect0');
});

test('leaky=oldest keeps the newest frames; leaky=newest keeps the oldest', async () => {
  for (const [leaky, expected] of [['oldest', [0, 16, 17, 18, 19]], ['newest', [0, 1, 2, 3, 4]]] as const) {
    const c = collector();
    const p = c.run(`testsrc num-frames=20 width=64 height=48 ! queue max-size=4 leaky=${leaky} ! collect`);
    // Hold the queue's first frame until the source has pushed all 20, so the queue overflows.
    let produced = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    p.addProbe('testsrc0.src', () => { if (++produced === 20) release(); });
    const r = await runWithStall(p, gate);
    assert.deepEqual(c.seen.map((s) => s.frame), expected, `leaky=${leaky}`);
    assert.equal(r.elements.queue0!.dropped, 15);
  }
});

/** Run a pipeline whose queue0 output is held back until `gate` resolves. */
async function runWithStall(p: ReturnType<typeof buildPipeline>, gate: Promise<void>): Promise<PipelineReport> {
  const node = p.get('queue0')!;
  await p.setState('ready');
  const impl = node.impl!;
  const process = impl.process!.bind(impl);
  let waited = false;
  impl.process = async (f, pad) => {
    if (!waited) { waited = true; await gate; }
    return process(f, pad);
  };
  return p.run();
}

test('probes observe, modify and drop frames', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=30 width=64 height=48 ! identity ! collect');
  const observed: number[] = [];
  p.addProbe('testsrc0.src', (f) => { observed.push(f.frame); });
  p.addProbe('identity0.src', (f) => (f.frame % 3 === 0 ? 'drop' : undefined));
  p.addProbe('identity0.src', (f) => { f.meta.user.tag = `seen-${f.frame}`; return f; });
  const r = await p.run();
  assert.equal(observed.length, 30);
  assert.deepEqual(c.seen.map((s) => s.frame), Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0));
  assert.ok(c.seen.every((s) => s.user === `seen-${s.frame}`));
  assert.equal(r.elements.identity0!.dropped, 10);
});

test('tee sends every frame to every branch; joins merge several sources', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=25 width=64 height=48 ! tee name=t t. ! queue ! collect name=a t. ! queue ! collect name=b');
  await p.run();
  assert.equal(c.seen.length, 50, 'both branches receive all 25 frames');
  for (let i = 0; i < 25; i++) assert.equal(c.seen.filter((s) => s.frame === i).length, 2);

  const j = collector();
  const q = j.run('testsrc num-frames=10 width=64 height=48 ! m. testsrc num-frames=15 width=64 height=48 ! m. collect name=m');
  const r = await q.run();
  assert.equal(j.seen.filter((s) => s.stream === 0).length, 10);
  assert.equal(j.seen.filter((s) => s.stream === 1).length, 15);
  assert.deepEqual(new Set(j.seen.map((s) => s.pad)), new Set(['sink_0', 'sink_1']));
  assert.equal(r.frames, 25);
  // EOS reaches the join only after both inputs ended.
  assert.equal(r.elements.m!.framesIn, 25);
});

test('stages run concurrently: three 10 ms stages take ~10 ms per frame, not ~30', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=30 width=64 height=48 ! identity delay=10 ! identity delay=10 ! identity delay=10 ! collect');
  const r = await p.run();
  // Sequential would need >= 900 ms; an assembly line about 300 ms plus fill time.
  assert.ok(r.wallSeconds < 0.7, `took ${r.wallSeconds} s`);
  for (const n of ['identity0', 'identity1', 'identity2']) assert.ok(r.elements[n]!.busy > 0.4, `${n} busy ${r.elements[n]!.busy}`);
});

test('pause stops the flow, playing resumes it', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=200 width=64 height=48 live=true fps=200 ! collect');
  const states: string[] = [];
  p.bus.on('state-changed', (m) => states.push(m.current));
  const done = p.run();
  await new Promise((r) => setTimeout(r, 150));
  await p.setState('paused');
  await new Promise((r) => setTimeout(r, 30));
  const atPause = c.seen.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(c.seen.length - atPause <= 1, 'no frames flow while paused');
  await p.setState('playing');
  await done;
  assert.equal(c.seen.length, 200);
  assert.deepEqual(states.slice(0, 3), ['ready', 'paused', 'playing']);
  assert.ok(states.includes('null'));
});

test('EOS request (Ctrl-C) stops an endless source and drains what is queued', async () => {
  const c = collector();
  const p = c.run('testsrc width=64 height=48 live=true fps=100 ! queue ! collect');
  const done = p.run();
  await new Promise((r) => setTimeout(r, 200));
  p.sendEosRequest();
  const r = await done;
  assert.ok(c.seen.length > 5);
  assert.equal(r.elements.testsrc0!.framesOut, c.seen.length, 'every produced frame reached the sink');
});

test('link errors are found before anything runs', async () => {
  const c = collector();
  assert.throws(() => c.run('testsrc ! testsrc'), (e: SluiceError) => e.code === 'SLUICE_ERR_LINK');
  assert.throws(() => c.run('testsrc ! encode ! scale ! fakesink'), (e: SluiceError) => e.code === 'SLUICE_ERR_CAPS' && /video\/x-h264/.test(e.message));
  await assert.rejects(c.run('testsrc ! identity').run(), (e: SluiceError) => e.code === 'SLUICE_ERR_NOT_LINKED');
  assert.throws(() => c.run('testsrc ! x. fakesink name=y'), (e: SluiceError) => e.code === 'SLUICE_ERR_NO_REF' && /"x"/.test(e.message));
});

test('flushQueues drops every queued frame (counted) and the pipeline still ends with EOS', async () => {
  const c = collector();
  const p = c.run('testsrc num-frames=30 width=64 height=48 ! queue max-size=10 ! collect delay=20');
  let flushed = -1;
  p.addProbe('testsrc0.src', (f) => { if (f.frame === 29) setTimeout(() => { flushed = p.flushQueues(); }, 5); });
  const r = await p.run();
  assert.ok(flushed > 0, `flushed ${flushed}`);
  const dropped = r.elements.queue0!.dropped + r.elements.collect0!.dropped;
  assert.equal(c.seen.length + dropped, 30, 'every frame was either delivered or counted as flushed');
  assert.equal(dropped, flushed);
});
