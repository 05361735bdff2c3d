// Dynamic pipelines: branches added to and removed from a playing pipeline (DeepStream's
// runtime source add/delete), with the other streams going on without a gap.
import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { addBranch, launch, type Branch, type Frame } from '../src/index.ts';
import { AVPixels } from '../src/media/av.ts';

/** Frame numbers seen at the sink, per stream label. */
function collect(p: ReturnType<typeof launch>, where: string) {
  const seen = new Map<string, number[]>();
  p.addProbe(where, (f: Frame, _w) => {
    const label = p.streamLabel(f.stream);
    let l = seen.get(label);
    if (!l) seen.set(label, (l = []));
    l.push(f.frame);
  });
  return seen;
}

const consecutive = (l: number[]) => l.every((v, i) => i === 0 || v === l[i - 1]! + 1);
const until = async (cond: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

test('a dynamic pipeline starts with no sources, takes three, drops one; the others never skip a frame', { timeout: 60_000 }, async () => {
  const base = AVPixels.live;
  const p = launch('mux name=m ! identity name=id ! fakesink', { dynamic: true });
  const seen = collect(p, 'id.src');
  await p.setState('playing');
  const src = (seed: number) => `testsrc live=true max-latency=0 fps=60 width=64 height=48 seed=${seed} ! m.`;
  const a = await addBranch(p, src(1), 'a');
  await until(() => (seen.get('a')?.length ?? 0) >= 10, 5000, 'stream a');
  const b = await addBranch(p, src(2), 'b');
  const c = await addBranch(p, src(3), 'c');
  assert.deepEqual([a.streams, b.streams, c.streams], [[0], [1], [2]]);
  await until(() => (seen.get('c')?.length ?? 0) >= 10, 5000, 'stream c');
  assert.equal(p.get('m')!.pads.filter((x) => x.direction === 'sink').length, 3);
  await p.removeBranch(b);
  // Its request pad is gone, its elements are out of the pipeline.
  assert.equal(p.get('m')!.pads.filter((x) => x.direction === 'sink').length, 2);
  assert.ok(!p.nodes.some((n) => b.nodes.includes(n)));
  const bCount = seen.get('b')!.length;
  const aCount = seen.get('a')!.length;
  await until(() => seen.get('a')!.length >= aCount + 20, 5000, 'stream a after the removal');
  assert.equal(seen.get('b')!.length, bCount, 'b stopped');
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
  for (const [k, l] of seen) assert.ok(consecutive(l), `stream ${k} skipped a frame`);
  assert.equal(AVPixels.live, base, 'every native frame released');
});

test('adding and removing a branch 50 times while two streams play: no deadlock, no skipped frame, frames released', { timeout: 120_000 }, async () => {
  const base = AVPixels.live;
  // A slow stage with a one-frame queue in the branch: removals happen while it is blocked.
  const p = launch('mux name=m ! identity delay=2 name=id ! fakesink', { dynamic: true });
  const seen = collect(p, 'id.src');
  await p.setState('playing');
  await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 ! m.', 'x');
  await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 seed=2 ! m.', 'y');
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < 50; i++) {
    const br: Branch = await addBranch(p, `testsrc width=64 height=48 seed=${i + 3} ! queue max-size=1 ! m.`, `t${i}`);
    await sleep(i % 5);
    await p.removeBranch(br);
  }
  const grew = (process.memoryUsage().rss - rss0) / 2 ** 20;
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
  for (const k of ['x', 'y']) assert.ok(consecutive(seen.get(k)!), `stream ${k} skipped a frame`);
  assert.ok(seen.get('x')!.length > 20);
  assert.equal(p.nodes.length, 5, 'only the two sources and the shared chain are left');
  assert.equal(AVPixels.live, base, 'every native frame released');
  assert.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MB over 50 add/remove cycles`);
});

test('a branch that fails to start (missing file) leaves the pipeline as it was, with a coded error', { timeout: 30_000 }, async () => {
  const p = launch('mux name=m ! fakesink', { dynamic: true });
  await p.setState('playing');
  await assert.rejects(addBranch(p, 'uri location=/nonexistent.mp4 ! m.', 'bad'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_FILE_NOT_FOUND');
  await assert.rejects(addBranch(p, 'testsrc ! nosuchelement ! m.'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_NO_ELEMENT');
  assert.equal(p.nodes.length, 2);
  assert.equal(p.get('m')!.pads.filter((x) => x.direction === 'sink').length, 0);
  const ok = await addBranch(p, 'testsrc num-frames=5 ! m.', 'good');
  await ok.done;
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
});

test('a static pipeline still refuses elements added while playing', async () => {
  const p = launch('testsrc num-frames=1000 live=true ! fakesink');
  await p.setState('playing');
  await assert.rejects(addBranch(p, 'testsrc ! fakesink'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_STATE');
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
});

test('an element of an added branch that fails ends that branch alone; the pipeline and the other streams go on', { timeout: 30_000 }, async () => {
  const base = AVPixels.live;
  const p = launch('mux name=m ! identity name=id ! fakesink', { dynamic: true });
  const seen = collect(p, 'id.src');
  const failed: unknown[] = [];
  p.bus.on('element', (m) => { if (m.name === 'branch-failed') failed.push(m.data); });
  await p.setState('playing');
  await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 ! m.', 'good');
  const bad = await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 seed=2 ! identity error-after=10 ! m.', 'bad');
  await bad.done;
  const n = seen.get('good')!.length;
  await until(() => seen.get('good')!.length >= n + 15, 5000, 'the good stream after the failure');
  assert.equal(p.state, 'playing');
  assert.equal(failed.length, 1);
  assert.equal((failed[0] as { branch: string }).branch, 'bad');
  assert.ok(bad.nodes.some((x) => x.failed?.code === 'SLUICE_ERR_ELEMENT'));
  assert.equal(seen.get('bad')!.length, 10);
  await p.removeBranch(bad);
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
  assert.ok(consecutive(seen.get('good')!));
  assert.equal(AVPixels.live, base);
});
