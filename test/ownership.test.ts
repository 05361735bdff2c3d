// Frame ownership is enforced by the scheduler, not only stated: every native frame made in a
// run is released by the end of it, whether the run ends in EOS, an element's error, a probe's
// replacement or an abort; a frame that is never released is reported in debug runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineElement, launch, OwnedPixels, Pipeline, sinkPad, srcPad, type Frame } from '../src/index.ts';
import { defaultRegistry } from '../src/elements/index.ts';
import { AVPixels } from '../src/media/av.ts';
import { ROOT } from './helpers.ts';

/** A filter that passes frames on and throws on frame `at` (before pushing it). */
const failing = defineElement({
  name: 'fails-at', summary: 'test: throws on one frame', kind: 'filter', pads: [sinkPad(), srcPad()],
  props: z.object({ at: z.coerce.number().default(5) }),
  create(o, ctx) {
    return { async process(f: Frame) { if (f.frame === o.at) throw new Error(`boom at ${f.frame}`); await ctx.push(f); } };
  },
});

function chain(...els: [string, Record<string, unknown>][]): Pipeline {
  const reg = defaultRegistry();
  const p = new Pipeline();
  const nodes = els.map(([name, props]) => p.add(name === 'fails-at' ? failing : reg.get(name)!, props));
  for (let i = 1; i < nodes.length; i++) p.link(nodes[i - 1]!, nodes[i]!);
  return p;
}

test('an element that throws in process() does not leak the frame it was given, nor the queued ones', async () => {
  const before = OwnedPixels.live;
  const p = chain(['testsrc', { 'num-frames': 50, width: 64, height: 48 }], ['fails-at', { at: 5 }], ['queue', {}], ['fakesink', {}]);
  await assert.rejects(p.run(), /boom at 5/);
  assert.equal(OwnedPixels.live, before, 'native frames still owned after the failed run');
});

test('a probe that replaces a frame frees the original; one that shares its pixels does not', async () => {
  const before = OwnedPixels.live;
  const p = launch('testsrc num-frames=20 width=64 height=48 ! scale width=32 height=24 ! fakesink');
  let replaced = 0, shared = 0;
  p.addProbe('testsrc0.src', (f) => { replaced++; return { ...f, pixels: f.pixels!.clone() }; });
  // Same pixels, new frame object (meta edited): nothing to free.
  p.addProbe('scale0.sink', (f) => { shared++; return { ...f, meta: { ...f.meta, user: { seen: true } } }; });
  const r = await p.run();
  assert.equal(r.frames, 20);
  assert.equal(replaced, 20);
  assert.equal(shared, 20);
  assert.equal(OwnedPixels.live, before);
});

test('probe results: handled keeps the frame out of the pipeline (the probe owns it), remove runs once', async () => {
  const before = OwnedPixels.live;
  const kept: Frame[] = [];
  let onces = 0;
  const p = launch('testsrc num-frames=10 width=64 height=48 ! fakesink');
  p.addProbe('testsrc0.src', () => { onces++; return 'remove'; });
  p.addProbe('testsrc0.src', (f) => { if (f.frame % 2 === 0) { kept.push(f); return 'handled'; } return 'pass'; });
  const r = await p.run();
  assert.equal(onces, 1);
  assert.equal(r.elements.fakesink0!.framesIn, 5);
  // The pipeline neither passed nor freed the handled frames: they are the probe's to release.
  assert.equal(OwnedPixels.live - before, 5);
  for (const f of kept) { using px = f.pixels!; px.release(); }
  assert.equal(OwnedPixels.live, before, 'using + an explicit release() free each once (release is idempotent)');
});

test('stopping a playing pipeline releases what is queued and in flight', async () => {
  const before = AVPixels.live;
  const p = launch('testsrc width=320 height=240 ! queue max-size=8 ! scale width=160 height=120 ! fakesink');
  await p.setState('playing');
  await sleep(300);
  await p.setState('null');
  assert.equal(AVPixels.live, before);
});

test('debug runs warn about a frame collected without release()', () => {
  const script = `
    import { launch } from './src/index.ts';
    const p = launch('testsrc num-frames=3 width=64 height=48 ! fakesink');
    p.addProbe('testsrc0.src', () => 'handled');  // taken and forgotten: a leak
    await p.run();
    for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, SLUICE_DEBUG: '*:1' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /SLUICE_LEAK.*AVPixels was garbage-collected without release\(\)/);
  const quiet = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script.replace(`() => 'handled'`, `() => 'pass'`)], { cwd: ROOT, env: { ...process.env, SLUICE_DEBUG: '*:1' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /SLUICE_LEAK/);
});
