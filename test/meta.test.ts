// Typed metadata: keys carry their types, so a producer and its consumers are checked by tsc
// (the @ts-expect-error lines below fail the type check if the types stop being enforced).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANALYTICS_SHAPES, CAPTURE, EMBEDDING, defineFrameMeta, defineObjectMeta, launch, type Frame, type ObjectMeta } from '../src/index.ts';

test('built-in keys: analytics hands osd its shapes through ANALYTICS_SHAPES, typed end to end', async () => {
  const p = launch('testsrc pattern=objects num-frames=30 width=320 height=240 ! track ! analytics lines=mid:160,0,160,240 rois=left:0,0,160,0,160,240,0,240 ! osd ! fakesink');
  const seen: { lines: number; rois: number; name: string }[] = [];
  p.addProbe('osd0.sink', (f) => {
    const s = ANALYTICS_SHAPES.get(f);
    if (s) seen.push({ lines: s.lines.length, rois: s.rois.length, name: s.lines[0]!.name });
  });
  await p.run();
  assert.equal(seen.length, 30);
  assert.deepEqual(seen[0], { lines: 1, rois: 1, name: 'mid' });
});

test('a plugin defines its own keys with the same calls; get/set/delete work on frames and objects', () => {
  interface Weather { tempC: number; wind: 'calm' | 'windy' }
  const WEATHER = defineFrameMeta<Weather>('weather');
  const COLOUR = defineObjectMeta<string>('colour');
  const f = { meta: { objects: [], events: [], user: {} } } as unknown as Frame;
  assert.equal(WEATHER.get(f), undefined);
  WEATHER.set(f, { tempC: 21, wind: 'calm' });
  assert.equal(WEATHER.get(f)?.tempC, 21);
  assert.deepEqual(f.meta.user, { weather: { tempC: 21, wind: 'calm' } }, 'stored under its name (the meta sink writes it so)');
  WEATHER.delete(f);
  assert.equal(WEATHER.get(f), undefined);
  const o: ObjectMeta = { class: 0, score: 1, box: [0, 0, 1, 1], attributes: {} };
  COLOUR.set(o, 'red');
  EMBEDDING.set(o, new Float32Array([1, 0]));
  assert.equal(COLOUR.get(o), 'red');
  assert.equal(EMBEDDING.get(o)?.length, 2);
  // @ts-expect-error wind must be 'calm' or 'windy'
  WEATHER.set(f, { tempC: 3, wind: 'stormy' });
  // @ts-expect-error a capture's seq is a number
  CAPTURE.set(f, { seq: 'one', ts: 0 });
  // @ts-expect-error an embedding is a Float32Array, not a number[]
  EMBEDDING.set(o, [1, 0]);
  // @ts-expect-error what a key returns is typed: tempC is a number
  const t: string | undefined = WEATHER.get(f)?.tempC;
  assert.equal(t, 3);
});
