// SLUICE_TRACE: the Chrome-trace timeline of a real run, read back as JSON and checked against
// what the pipeline did (every frame through every element, in causal order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sluice, tmp } from './helpers.ts';

interface Ev { name: string; ph: string; tid: number; ts?: number; dur?: number; cat?: string; id?: number; args?: Record<string, unknown> }

test('SLUICE_TRACE writes one slice per frame per element, a track per element and flows that follow each frame', async () => {
  const dir = tmp();
  const file = join(dir, 'trace.json');
  const r = await sluice(['launch', '-q', 'testsrc num-frames=30 ! tee name=t ! queue max-size=2 ! scale width=320 ! fakesink t. ! identity delay=2 ! fakesink'], { env: { ...process.env, SLUICE_TRACE: file } });
  assert.equal(r.code, 0, r.stderr);
  const ev = JSON.parse(readFileSync(file, 'utf8')) as Ev[];
  const tracks = new Map(ev.filter((e) => e.name === 'thread_name').map((e) => [e.tid, (e.args as { name: string }).name]));
  assert.deepEqual([...tracks.values()], ['testsrc0', 't', 'queue0', 'scale0', 'fakesink0', 'identity0', 'fakesink1']);
  const slices = ev.filter((e) => e.ph === 'X');
  const at = new Map<string, Ev>();
  for (const s of slices) at.set(`${tracks.get(s.tid)}/${s.name}`, s);
  for (const el of tracks.values()) {
    const mine = slices.filter((s) => tracks.get(s.tid) === el);
    assert.equal(mine.length, 30, `${el}: ${mine.length} slices`);
    assert.deepEqual(mine.map((s) => s.name), Array.from({ length: 30 }, (_, i) => `0:${i}`), `${el}: frames in order`);
  }
  for (let i = 0; i < 30; i++) {
    const src = at.get(`testsrc0/0:${i}`)!, sink = at.get(`fakesink0/0:${i}`)!, slow = at.get(`identity0/0:${i}`)!;
    // A frame is produced before anything downstream works on it.
    assert.ok(src.ts! + src.dur! <= sink.ts! && src.ts! + src.dur! <= slow.ts!, `frame ${i} order`);
    // identity delay=2 shows as ~2 ms slices.
    assert.ok(slow.dur! >= 1000, `identity slice ${slow.dur} us`);
  }
  // Queue depth as seen after each call: at most the default 4 frames, plus the EOS marker.
  for (const s of slices) assert.ok((s.args!.queued as number) <= 5 && s.dur! >= 0);
  const flows = ev.filter((e) => e.cat === 'flow');
  assert.equal(flows.filter((f) => f.ph === 's').length, 30);
  assert.equal(flows.filter((f) => f.ph === 't').length, 30 * 6);
});
