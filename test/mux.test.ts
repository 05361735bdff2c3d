import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { ASSETS, media } from './helpers.ts';

test('mux batches N streams and demux splits them back, every frame in order', async () => {
  const p = launch('testsrc num-frames=30 width=64 height=48 ! m. testsrc num-frames=30 width=96 height=64 ! m. testsrc num-frames=20 width=64 height=48 ! m. mux name=m width=64 height=48 ! demux name=d d.src_0 ! fakesink name=a d.src_1 ! fakesink name=b d.src_2 ! fakesink name=c');
  const batches = new Map<number, { stream: number; size: number; w: number }[]>();
  p.addProbe('m.src', (f) => {
    const b = f.batch!;
    if (!batches.has(b.id)) batches.set(b.id, []);
    batches.get(b.id)!.push({ stream: f.stream, size: b.size, w: f.width });
  });
  const seen: Record<string, number[]> = { a: [], b: [], c: [] };
  for (const s of ['a', 'b', 'c']) p.addProbe(`${s}.sink_0`, (f) => { seen[s]!.push(f.frame); assert.equal(f.batch, undefined); });
  const r = await p.run();
  assert.deepEqual(seen.a, Array.from({ length: 30 }, (_, i) => i));
  assert.deepEqual(seen.b, Array.from({ length: 30 }, (_, i) => i));
  assert.deepEqual(seen.c, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(r.frames, 80);
  const all = [...batches.values()];
  assert.ok(all.every((b) => b.length === b[0]!.size && b.length <= 3));
  assert.ok(all.filter((b) => b.length === 3).length >= 15, 'most batches are full');
  assert.ok(all.flat().every((x) => x.w === 64), 'mux scaled every stream to 64x48');
});

test('mux timeout sends incomplete batches when a live stream is slow', async () => {
  const p = launch('testsrc num-frames=20 live=true fps=100 width=64 height=48 ! m. testsrc num-frames=4 live=true fps=5 width=64 height=48 ! m. mux name=m timeout=20 ! fakesink');
  const sizes: number[] = [];
  p.addProbe('m.src', (f) => { if (f.batch!.index === 0) sizes.push(f.batch!.size); });
  const t0 = performance.now();
  await p.run();
  assert.ok(sizes.some((s) => s === 1), `partial batches went out on timeout: ${sizes}`);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 24);
  assert.ok(performance.now() - t0 < 2000);
});

test('batched inference over muxed streams gives the same results as one frame at a time', async () => {
  const m = join(ASSETS, 'models/mobilenetv2/mobilenetv2-12-int8.onnx');
  const labels = join(ASSETS, 'models/mobilenetv2/synset.txt');
  const a = media('bottle-detection.mp4'), b = media('one-by-one-person-detection.mp4');
  const top = async (text: string, probe: string) => {
    const p = launch(text);
    const out = new Map<string, string>();
    p.addProbe(probe, (f) => { out.set(`${f.stream}:${f.frame}`, `${f.meta.classifications![0]!.label}@${f.meta.classifications![0]!.score.toFixed(3)}`); });
    await p.run();
    return out;
  };
  const batched = await top(`uri location=${a} num-frames=12 ! m. uri location=${b} num-frames=12 ! m. mux name=m ! infer model=${m} labels=${labels} batch-size=2 ! fakesink`, 'infer0.src');
  const single0 = await top(`uri location=${a} num-frames=12 ! infer model=${m} labels=${labels} ! fakesink`, 'infer0.src');
  const single1 = await top(`uri location=${b} num-frames=12 ! infer model=${m} labels=${labels} ! fakesink`, 'infer0.src');
  assert.equal(batched.size, 24);
  for (const [k, v] of single0) assert.equal(batched.get(k), v, k);
  for (const [k, v] of single1) assert.equal(batched.get(`1:${k.split(':')[1]}`), v, k);
});

test('a batch holds at most one frame per stream: when one stream ends, the other is not doubled up (tile composes every frame)', async () => {
  const p = launch('testsrc num-frames=10 width=64 height=48 ! m.  testsrc num-frames=40 width=64 height=48 ! m.  mux name=m ! tile width=128 height=48 ! fakesink');
  const perBatch: number[][] = [];
  p.addProbe('m.src', (f) => { if (f.batch!.index === 0) perBatch.push([]); perBatch.at(-1)!.push(f.stream); });
  const r = await p.run();
  for (const b of perBatch) assert.equal(new Set(b).size, b.length, `a batch with a stream twice: ${b}`);
  assert.equal(perBatch.flat().length, 50);
  // Each of the long stream's 40 frames made a tile.
  assert.equal(r.elements.tile0!.framesOut, 40);
});
