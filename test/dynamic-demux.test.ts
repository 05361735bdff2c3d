// Branches that take their frames from a running element (demux.src_N ! ...), added to and
// removed from a playing dynamic pipeline, as sluice serve's live views are: the tapped stream
// reaches the branch, the removal frees the demux pad and every frame, and the shared chain and
// the other streams never notice.
import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { addBranch, launch, type Frame } from '../src/index.ts';
import { AVPixels } from '../src/media/av.ts';

const until = async (cond: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

test('a demux with no output starts in a dynamic pipeline; branches linked from its src_N while playing get that stream, and go again 30 times without a leak', { timeout: 60_000 }, async () => {
  const base = AVPixels.live;
  const p = launch('mux name=m ! identity name=shared ! demux name=d', { dynamic: true });
  const through: number[] = [];
  p.addProbe('shared.src', (f: Frame) => { through.push(f.stream); });
  await p.setState('playing');
  const a = await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 seed=1 ! m.', 'a');
  const b = await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 seed=2 ! m.', 'b');
  const [sb] = b.streams;
  const demux = p.get('d')!;
  const srcPads = () => demux.pads.filter((x) => x.direction === 'src').length;
  for (let i = 0; i < 30; i++) {
    const got: number[] = [];
    const br = await addBranch(p, `d.src_${sb} ! queue leaky=downstream max-size=2 ! identity name=tap${i} ! fakesink`);
    p.addProbe(`tap${i}.src`, (f: Frame) => { got.push(f.stream); });
    assert.equal(srcPads(), 1);
    await until(() => got.length >= 3, 5000, `frames of stream b in branch ${i}`);
    assert.ok(got.every((s) => s === sb), `branch ${i} got streams ${[...new Set(got)]}`);
    await sleep(i % 4);
    await p.removeBranch(br);
    assert.equal(srcPads(), 0, 'the demux pad is released');
    assert.ok(!p.nodes.some((n) => br.nodes.includes(n)));
  }
  // The shared chain went on carrying both streams the whole time.
  const n = through.length;
  await until(() => through.length >= n + 20, 5000, 'frames through the shared chain after the last removal');
  assert.ok(through.includes(a.streams[0]!) && through.includes(sb!));
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
  assert.equal(p.nodes.length, 5, 'only the two sources and the shared chain are left');
  assert.equal(AVPixels.live, base, 'every native frame released');
});

test('a static pipeline still refuses a demux whose outputs go nowhere', async () => {
  await assert.rejects(launch('testsrc num-frames=1 ! demux name=d').setState('playing'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_NOT_LINKED');
});

test('a branch fed by the demux whose element fails ends alone and can be removed; the demux and the shared chain go on', { timeout: 30_000 }, async () => {
  const base = AVPixels.live;
  const p = launch('mux name=m ! identity name=shared ! demux name=d', { dynamic: true });
  let through = 0;
  p.addProbe('shared.src', () => { through++; });
  const failed: unknown[] = [];
  p.bus.on('element', (m) => { if (m.name === 'branch-failed') failed.push(m.data); });
  await p.setState('playing');
  const a = await addBranch(p, 'testsrc live=true max-latency=0 fps=60 width=64 height=48 ! m.', 'a');
  const bad = await addBranch(p, `d.src_${a.streams[0]} ! queue leaky=downstream max-size=2 ! identity error-after=5 ! fakesink`, 'view');
  // The failed element's queue sees its channel closed at its next push and ends too.
  await bad.done;
  assert.equal((failed[0] as { branch: string }).branch, 'view');
  await p.removeBranch(bad);
  assert.equal(p.get('d')!.pads.filter((x) => x.direction === 'src').length, 0);
  const n = through;
  await until(() => through >= n + 20, 5000, 'frames through the shared chain after the failure');
  assert.equal(p.state, 'playing');
  // And a new one works.
  let got = 0;
  const again = await addBranch(p, `d.src_${a.streams[0]} ! queue leaky=downstream max-size=2 ! identity name=tap ! fakesink`);
  p.addProbe('tap.src', () => { got++; });
  await until(() => got >= 5, 5000, 'frames in the new branch');
  await p.removeBranch(again);
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
  assert.equal(AVPixels.live, base, 'every native frame released');
});
