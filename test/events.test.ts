// Events (issue 27): one message per event, from testsrc's ground truth tracked and counted by
// analytics; the same crossings as the per-frame lines; every event valid against
// docs/events.schema.json; real mosquitto, nats-server and redis-server receive exactly the
// events of the events file, on a subject per event type.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { launch, type Pipeline } from '../src/index.ts';
import { startBroker } from './brokers.ts';
import { validate } from './event-schema.ts';
import { tmp } from './helpers.ts';

const LABELS = ['red', 'green', 'blue', 'yellow'];
/** testsrc's truth as perfect detections (what infer would find), labelled by colour. */
function truthAsDetections(p: Pipeline) {
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = f.meta.truth!.filter((t) => t.visible >= 0.3).map((t) => ({ class: t.class, label: LABELS[t.class], score: 0.5 + 0.4 * t.visible, box: t.box, attributes: {} }));
  });
}
const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const SRC = 'testsrc pattern=objects num-frames=400 num-objects=3 seed=5 width=640 height=480 speed=2 ! track min-hits=1 ! analytics lines=mid:320,0,320,480 rois=left:0,0,320,0,320,480,0,480 overcrowd=1';

test('meta mode=events: one line-cross per crossing (the per-frame events), one track-start and track-end per track, each valid', async () => {
  const dir = tmp();
  const ev = join(dir, 'events.jsonl'), fr = join(dir, 'frames.jsonl');
  const p = launch(`${SRC} ! tee name=t t. ! queue ! meta mode=events location=${ev} t. ! queue ! meta location=${fr}`);
  truthAsDetections(p);
  await p.run();
  const events = lines(ev), frames = lines(fr);
  for (const e of events) assert.deepEqual(validate(e), [], JSON.stringify(e));
  // The per-frame lines' analytics events, frame by frame, are the events' crossings.
  const perFrame = frames.flatMap((f) => (f.events as Record<string, unknown>[]).filter((e) => e.type === 'line-cross').map((e) => `${f.frame}:${e.track}:${e.direction}`));
  const crossings = events.filter((e) => e.type === 'line-cross').map((e) => `${e.frame}:${e.track}:${e.direction}`);
  assert.ok(perFrame.length >= 4, `the scenario crosses the line (${perFrame.length})`);
  assert.deepEqual(crossings, perFrame);
  // Directions from the ground truth: a centre moving left to right is "out" for a top-to-bottom line.
  const centreX = new Map<string, number>();
  for (const f of frames) for (const o of f.objects as { track: number; box: number[] }[]) centreX.set(`${f.frame}:${o.track}`, (o.box[0]! + o.box[2]!) / 2);
  for (const e of events.filter((x) => x.type === 'line-cross')) assert.equal(e.direction, centreX.get(`${e.frame}:${e.track}`)! > 320 ? 'out' : 'in');
  const tracks = new Set(frames.flatMap((f) => (f.objects as { track: number }[]).map((o) => o.track)));
  const starts = events.filter((e) => e.type === 'track-start').map((e) => e.track);
  const ends = events.filter((e) => e.type === 'track-end');
  assert.deepEqual(new Set(starts), tracks);
  assert.equal(starts.length, tracks.size, 'one track-start per track');
  assert.deepEqual(new Set(ends.map((e) => e.track)), tracks);
  assert.equal(ends.length, tracks.size, 'one track-end per track');
  for (const e of ends) {
    const seen = frames.filter((f) => (f.objects as { track: number }[]).some((o) => o.track === e.track));
    assert.equal(e.first_seen, Math.round((seen[0]!.pts as number) * 1000) / 1000);
    assert.equal(e.last_seen, Math.round((seen.at(-1)!.pts as number) * 1000) / 1000);
    assert.equal(e.frames, seen.length);
  }
  // Every event's track-start precedes its other events.
  for (const e of events) if (e.type !== 'track-start' && typeof e.track === 'number') assert.ok(events.indexOf(events.find((x) => x.type === 'track-start' && x.track === e.track)!) < events.indexOf(e));
  assert.ok(events.some((e) => e.type === 'roi-enter') && events.some((e) => e.type === 'roi-exit'));
  assert.equal(events.filter((e) => e.type === 'overcrowding').length, frames.flatMap((f) => (f.events as { type: string }[]).filter((x) => x.type.startsWith('overcrowding'))).length);
  // One message per event, not one per frame.
  assert.ok(events.length < frames.length / 5, `${events.length} events for ${frames.length} frames`);
});

test('mqtt, nats and redis mode=events receive exactly the events of the events file, a subject per type', { timeout: 60_000 }, async (t) => {
  const [mq, na, re] = await Promise.all([startBroker('mqtt'), startBroker('nats'), startBroker('redis')]);
  t.after(async () => { await mq.stop(); await na.stop(); await re.stop(); });
  const dir = tmp();
  const ev = join(dir, 'events.jsonl');
  const got: { topic: string; payload: string }[] = [];
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mq.port), '-t', 'sluice/+/events/#', '-v', '-q', '1']);
  t.after(() => sub.kill());
  let buf = '';
  sub.stdout.on('data', (d: Buffer) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) { const i = l.indexOf(' '); got.push({ topic: l.slice(0, i), payload: l.slice(i + 1) }); }
  });
  const nc = await connect({ servers: na.url });
  t.after(() => nc.close());
  const natsGot: { subject: string; payload: string }[] = [];
  const ns = nc.subscribe('sluice.*.events.>', { callback: (_e, m) => { natsGot.push({ subject: m.subject, payload: m.string() }); } });
  await nc.flush();
  // mosquitto_sub is subscribed once a retained-free publish reaches it.
  for (let i = 0; i < 100 && !sub.pid; i++) await sleep(20);
  await sleep(300);
  const p = launch(`${SRC} ! tee name=t t. ! queue ! meta mode=events location=${ev} t. ! queue ! mqtt url=${mq.url} mode=events qos=1 t. ! queue ! nats url=${na.url} mode=events t. ! queue ! redis url=${re.url} mode=events`);
  truthAsDetections(p);
  await p.run();
  const events = lines(ev);
  for (let i = 0; i < 100 && (got.length < events.length || natsGot.length < events.length); i++) await sleep(50);
  ns.unsubscribe();
  const byId = (xs: Record<string, unknown>[]) => new Map(xs.map((e) => [e.id as string, e]));
  const mq2 = got.map((g) => ({ ...g, e: JSON.parse(g.payload) as Record<string, unknown> }));
  assert.equal(mq2.length, events.length, 'mqtt: as many messages as events');
  assert.deepEqual(byId(mq2.map((m) => m.e)), byId(events));
  for (const m of mq2) {
    assert.equal(m.topic, `sluice/0/events/${m.e.type}`);
    assert.deepEqual(validate(m.e), []);
  }
  const nx = natsGot.map((g) => ({ ...g, e: JSON.parse(g.payload) as Record<string, unknown> }));
  assert.equal(nx.length, events.length, 'nats: as many messages as events');
  assert.deepEqual(byId(nx.map((m) => m.e)), byId(events));
  for (const m of nx) assert.equal(m.subject, `sluice.0.events.${m.e.type}`);
  // Redis: a stream key per type.
  const types = [...new Set(events.map((e) => e.type as string))];
  const fromRedis: Record<string, unknown>[] = [];
  for (const type of types) {
    const out = JSON.parse(execFileSync('redis-cli', ['-p', String(re.port), '--json', 'XRANGE', `sluice:0:events:${type}`, '-', '+'], { encoding: 'utf8' })) as [string, [string, string]][];
    for (const [, [, v]] of out) { const e = JSON.parse(v) as Record<string, unknown>; assert.equal(e.type, type); fromRedis.push(e); }
  }
  assert.deepEqual(byId(fromRedis), byId(events));
});

test('bad mode values fail before start, naming the choices', async () => {
  assert.throws(() => launch('testsrc num-frames=1 ! meta mode=event'), /expected one of frames, events/);
  assert.throws(() => launch('testsrc num-frames=1 ! mqtt mode=frame'), /expected one of frames, events/);
  await assert.rejects(async () => launch(`testsrc num-frames=1 ! encode ! record location=${tmp()} on=line-crossing`).run(), /on= takes line-cross, roi-enter/);
});
