// Metadata to real brokers (mosquitto, nats-server, redis-server), read back by clients we did
// not write (mosquitto_sub, redis-cli) or the official nats.js, and a broker killed mid-run.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { launch } from '../src/index.ts';
import { startBroker } from './brokers.ts';

const consecutive = (l: number[]) => l.length > 0 && l.every((v, i) => i === 0 || v === l[i - 1]! + 1);

test('mqtt: mosquitto_sub receives one JSON line per frame on sluice/{stream}/objects, frames consecutive', { timeout: 30_000 }, async (t) => {
  const b = await startBroker('mqtt');
  t.after(() => b.stop());
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(b.port), '-t', 'sluice/#', '-v', '-q', '1']);
  t.after(() => sub.kill());
  let out = '';
  sub.stdout.on('data', (d: Buffer) => { out += d; });
  // Publish only once the subscription is in place: a probe message makes it back.
  while (!out.includes('sluice/ready')) {
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port), '-t', 'sluice/ready', '-m', '{}']);
    await sleep(100);
  }
  await launch(`testsrc num-frames=30 num-objects=3 ! mqtt url=${b.url} qos=1`).run();
  const lines = () => out.trim().split('\n').filter((l) => l.startsWith('sluice/0/'));
  for (let i = 0; i < 100 && lines().length < 30; i++) await sleep(50);
  await sleep(200);
  assert.equal(lines().length, 30);
  const recs = lines().map((l) => { const [topic, ...rest] = l.split(' '); return { topic, rec: JSON.parse(rest.join(' ')) }; });
  assert.ok(recs.every((r) => r.topic === 'sluice/0/objects'));
  assert.ok(consecutive(recs.map((r) => r.rec.frame)));
  assert.equal(recs[0]!.rec.version, 1);
  // testsrc's three objects are in its ground truth, which the line carries.
  assert.equal(recs[5]!.rec.truth.length, 3);
});

test('nats: core subject and JetStream (stream created, message ids deduplicate a resend)', { timeout: 30_000 }, async (t) => {
  const b = await startBroker('nats');
  t.after(() => b.stop());
  const nc = await connect({ servers: b.url });
  t.after(() => nc.close());
  const got: number[] = [];
  const sub = nc.subscribe('sluice.meta.>');
  void (async () => { for await (const m of sub) got.push(JSON.parse(m.string()).frame); })();
  await nc.flush();
  await launch(`testsrc num-frames=25 ! nats url=${b.url}`).run();
  await sleep(200);
  assert.ok(consecutive(got) && got.length === 25, `core: ${got.length} messages`);
  await launch(`testsrc num-frames=25 ! nats url=${b.url} jetstream=true stream=SLUICE`).run();
  // The same frames again: JetStream drops them as duplicates of the ids stream:frame.
  await launch(`testsrc num-frames=25 ! nats url=${b.url} jetstream=true stream=SLUICE`).run();
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('SLUICE');
  assert.equal(info.state.messages, 25);
  assert.deepEqual(info.config.subjects, ['sluice.meta.*']);
});

test('nats: a server that answers JetStream with "no responders" for longer than an election: the sink moves to the next server of its list, and every frame lands once', { timeout: 30_000 }, async (t) => {
  // Two servers that are not clustered: the first has no JetStream at all, so every publish to
  // it gets "no responders", as a cluster node that lost a leader's interest does.
  const deaf = await startBroker('nats', { jetstream: false });
  t.after(() => deaf.stop());
  const good = await startBroker('nats');
  t.after(() => good.stop());
  const prev = process.env.SLUICE_NATS_HEAL_MS;
  process.env.SLUICE_NATS_HEAL_MS = '600';
  t.after(() => { if (prev === undefined) delete process.env.SLUICE_NATS_HEAL_MS; else process.env.SLUICE_NATS_HEAL_MS = prev; });
  const warnings: string[] = [];
  const p = launch(`testsrc num-frames=30 fps=30 live=true ! nats url=${deaf.url},${good.url} jetstream=true stream=SLUICE`);
  p.bus.on('warning', (m) => warnings.push(m.message));
  await p.run();
  assert.ok(warnings.some((w) => /no responders for JetStream on 127\.0\.0\.1:\d+ .*moving to another server/.test(w)), warnings.join(' | '));
  const nc = await connect({ servers: good.url });
  t.after(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info('SLUICE');
  assert.equal(info.state.messages, 30, 'all 30 frames, none twice, on the server it moved to');
});

test('redis: XADD to sluice:{stream} with MAXLEN, read back by redis-cli XRANGE', { timeout: 30_000 }, async (t) => {
  const b = await startBroker('redis');
  t.after(() => b.stop());
  await launch(`testsrc num-frames=40 ! redis url=${b.url} maxlen=1000`).run();
  const out = execFileSync('redis-cli', ['-p', String(b.port), '--json', 'XRANGE', 'sluice:0', '-', '+'], { encoding: 'utf8' });
  const entries = JSON.parse(out) as [string, [string, string]][];
  assert.equal(entries.length, 40);
  const frames = entries.map(([, [field, v]]) => { assert.equal(field, 'meta'); return JSON.parse(v).frame; });
  assert.ok(consecutive(frames));
});

test('a broker killed mid-run and restarted: the pipeline keeps its frame rate, messages resume, drops are counted', { timeout: 60_000 }, async (t) => {
  const b = await startBroker('mqtt');
  t.after(() => b.stop());
  const got: number[] = [];
  const subscribe = () => {
    const s = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(b.port), '-t', 'sluice/#']);
    s.stdout.on('data', (d: Buffer) => { for (const l of d.toString().trim().split('\n')) if (l) got.push(JSON.parse(l).frame); });
    return s;
  };
  let sub = subscribe();
  await sleep(300);
  const warnings: string[] = [];
  const p = launch(`testsrc live=true fps=30 num-frames=150 width=64 height=48 ! mqtt url=${b.url} buffer=20 reconnect-interval=200`);
  p.bus.on('warning', (m) => warnings.push(m.message));
  const run = p.run();
  await sleep(1000);
  await b.stop();
  sub.kill();
  await sleep(1500);
  await b.start();
  sub = subscribe();
  const report = await run;
  await sleep(300);
  sub.kill();
  // 150 frames at 30 fps: five seconds whatever the broker did.
  assert.ok(report.wallSeconds < 6, `took ${report.wallSeconds} s`);
  const r = report.elements.mqtt0!.resolved!;
  assert.ok(Number(r.messagesDropped) > 0, 'drops counted');
  assert.ok(got.some((f) => f < 30) && got.some((f) => f > 120), `messages before and after the outage: ${got.length}`);
  assert.ok(warnings.some((w) => /not reachable|dropping/.test(w)), warnings.join('; '));
});
