// `sluice serve` as a user runs it: the real CLI, streams added and removed over HTTP, metadata
// to real mosquitto / nats-server / redis-server read back by mosquitto_sub, nats.js and
// redis-cli, a restart that resumes from the state file, and bad requests that change nothing.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { startBroker } from './brokers.ts';
import { ROOT, freePort, tmp } from './helpers.ts';

const TOKEN = 'serve-test-token';

function startServe(config: string, port: number, state: string): { proc: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'serve', config, '--api', `127.0.0.1:${port}`, '--state', state], { env: { ...process.env, SLUICE_API_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { proc, log: () => err, exited };
}

async function api(port: number, method: string, path: string, body?: string, token = TOKEN) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function healthy(port: number) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/v1/health`)).status === 200) return; } catch { /* not up yet */ }
    await sleep(50);
  }
  assert.fail('serve did not come up');
}

const consecutive = (l: number[]) => l.length > 0 && l.every((v, i) => i === 0 || v === l[i - 1]! + 1);

test('serve: streams added and removed over HTTP, metadata to MQTT, NATS and Redis, a restart resumes them', { timeout: 120_000 }, async (t) => {
  const [mq, na, re] = await Promise.all([startBroker('mqtt'), startBroker('nats'), startBroker('redis')]);
  t.after(async () => { await mq.stop(); await na.stop(); await re.stop(); });
  const dir = tmp();
  const config = join(dir, 'serve.yaml');
  // The source template takes {uri}; here it picks testsrc's pattern, paced as a camera.
  writeFileSync(config, [
    'source: testsrc live=true fps=25 width=64 height=48 num-objects=2 pattern={uri}',
    `chain: mux name=m ! tee name=t  t. ! queue ! mqtt url=${mq.url} qos=1  t. ! queue ! nats url=${na.url}  t. ! queue ! redis url=${re.url}`,
    '',
  ].join('\n'));
  const state = join(dir, 'state.json');

  const mqtt = new Map<string, number[]>();
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mq.port), '-t', 'sluice/#', '-v']);
  t.after(() => sub.kill());
  let buf = '';
  sub.stdout.on('data', (d: Buffer) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) { const [topic, ...rest] = l.split(' '); const id = topic!.split('/')[1]!; const f = JSON.parse(rest.join(' ')).frame; mqtt.set(id, [...(mqtt.get(id) ?? []), f]); }
  });
  const nc = await connect({ servers: na.url });
  t.after(() => nc.close());
  const nats = new Map<string, number[]>();
  const ns = nc.subscribe('sluice.meta.*');
  void (async () => { for await (const m of ns) { const r = JSON.parse(m.string()); nats.set(r.stream_id, [...(nats.get(r.stream_id) ?? []), r.frame]); } })();
  await nc.flush();
  await sleep(300);

  const port = await freePort();
  const s1 = startServe(config, port, state);
  t.after(() => s1.proc.kill('SIGKILL'));
  await healthy(port);
  assert.deepEqual((await api(port, 'GET', '/v1/streams')).json, { streams: [] });

  // Bad requests get coded errors and change nothing.
  const noTok = await api(port, 'POST', '/v1/streams', JSON.stringify({ id: 'x', uri: 'objects' }), 'wrong');
  assert.equal(noTok.status, 401);
  assert.equal(noTok.json.error.code, 'SLUICE_ERR_AUTH');
  const bad = await api(port, 'POST', '/v1/streams', '{"id": "cam1", ');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'SLUICE_ERR_API_BODY');
  const badUri = await api(port, 'POST', '/v1/streams', JSON.stringify({ id: 'cam9', uri: 'nosuchpattern' }));
  assert.equal(badUri.status, 400);
  assert.equal(badUri.json.error.code, 'SLUICE_ERR_PROPERTY');
  assert.equal((await api(port, 'DELETE', '/v1/streams/nobody')).json.error.code, 'SLUICE_ERR_NOT_FOUND');
  assert.deepEqual((await api(port, 'GET', '/v1/streams')).json, { streams: [] });

  for (const [id, uri] of [['cam1', 'objects'], ['cam2', 'bars'], ['cam3', 'objects']]) {
    const r = await api(port, 'POST', '/v1/streams', JSON.stringify({ id, uri }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.id, id);
    await sleep(400);
  }
  assert.equal((await api(port, 'POST', '/v1/streams', JSON.stringify({ id: 'cam1', uri: 'bars' }))).status, 409);
  await sleep(800);
  const listed = (await api(port, 'GET', '/v1/streams')).json.streams as { id: string; state: string; frames: number }[];
  assert.deepEqual(listed.map((s) => [s.id, s.state]), [['cam1', 'playing'], ['cam2', 'playing'], ['cam3', 'playing']]);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  assert.match(metrics, /sluice_stream_frames_total\{stream="cam2"\} \d+/);
  const openapi = (await api(port, 'GET', '/v1/openapi.json')).json;
  assert.ok(openapi.paths['/v1/streams'].post && openapi.paths['/v1/streams/{id}'].delete);

  assert.equal((await api(port, 'DELETE', '/v1/streams/cam2')).status, 204);
  assert.equal((await api(port, 'GET', '/v1/streams/cam2')).status, 404);
  await sleep(500);
  const cam2Count = mqtt.get('cam2')?.length ?? 0;
  await sleep(1000);
  assert.equal(mqtt.get('cam2')?.length ?? 0, cam2Count, 'cam2 stopped');
  assert.ok(cam2Count > 10, `cam2 sent ${cam2Count} before it was removed`);

  s1.proc.kill('SIGTERM');
  assert.equal(await s1.exited, 0, s1.log());
  await sleep(300);
  for (const [name, got] of [['mqtt', mqtt], ['nats', nats]] as const) {
    for (const id of ['cam1', 'cam2', 'cam3']) assert.ok(consecutive(got.get(id) ?? []), `${name} ${id}: frames ${JSON.stringify(got.get(id)?.slice(0, 50))}`);
  }
  const xr = JSON.parse(execFileSync('redis-cli', ['-p', String(re.port), '--json', 'XRANGE', 'sluice:cam3', '-', '+'], { encoding: 'utf8' })) as [string, [string, string]][];
  assert.ok(consecutive(xr.map(([, [, v]]) => JSON.parse(v).frame)) && xr.length > 20, `redis cam3: ${xr.length}`);
  assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')).streams, [{ id: 'cam1', uri: 'objects' }, { id: 'cam3', uri: 'objects' }]);

  // A restart resumes what the state file holds.
  const s2 = startServe(config, port, state);
  t.after(() => s2.proc.kill('SIGKILL'));
  await healthy(port);
  await sleep(800);
  const again = (await api(port, 'GET', '/v1/streams')).json.streams as { id: string; state: string; frames: number }[];
  assert.deepEqual(again.map((s) => s.id), ['cam1', 'cam3']);
  assert.ok(again.every((s) => s.frames > 0 && s.state === 'playing'), JSON.stringify(again));
  s2.proc.kill('SIGTERM');
  assert.equal(await s2.exited, 0, s2.log());
});

test('examples/serve.yaml parses and its chain builds', async () => {
  const { loadServeConfig, Service } = await import('../src/serve/service.ts');
  const { registry } = await import('../src/index.ts');
  const cfg = loadServeConfig(join(ROOT, 'examples', 'serve.yaml'));
  const s = new Service(cfg, registry());
  assert.deepEqual(s.pipeline.nodes.map((n) => n.def.name), ['mux', 'infer', 'track', 'tee', 'queue', 'mqtt', 'queue', 'meta']);
  assert.throws(() => new Service({ ...cfg, chain: 'track ! fakesink' }, registry()), /starts with track, which takes one input/);
});
