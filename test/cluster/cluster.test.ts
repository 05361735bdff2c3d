// Scale-out on a real 3-node nats-server cluster (JetStream, R3 buckets and stream) with three
// `sluice worker` processes: each stream runs on exactly one worker; kill -9 one and its streams
// move within the lease; stop a NATS node and everything keeps going; the metadata in
// JetStream has, per stream, no duplicate frame and no gap.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ROOT, freePort, sluice, tmp } from '../helpers.ts';
import { natsHeal } from '../../src/net/nats-heal.ts';

const BIN = join(ROOT, 'bin', 'sluice.js');
const NATS = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const up = (port: number) => new Promise<boolean>((r) => { const s = tcp(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });

async function natsCluster() {
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const routes = await Promise.all([0, 1, 2].map(() => freePort()));
  const dir = tmp();
  const procs: (ChildProcess | null)[] = [null, null, null];
  const start = (i: number) => {
    const conf = join(dir, `n${i}.conf`);
    writeFileSync(conf, [
      `server_name: n${i}`, `listen: 127.0.0.1:${ports[i]}`, `jetstream { store_dir: "${join(dir, `js${i}`)}" }`,
      `cluster { name: sluice, listen: 127.0.0.1:${routes[i]}, routes: [${routes.filter((_, j) => j !== i).map((r) => `nats://127.0.0.1:${r}`).join(', ')}] }`,
    ].join('\n'));
    procs[i] = spawn(NATS, ['-c', conf], { stdio: 'ignore' });
  };
  [0, 1, 2].forEach(start);
  for (const p of ports) for (let k = 0; k < 100 && !(await up(p)); k++) await sleep(50);
  const url = ports.map((p) => `nats://127.0.0.1:${p}`).join(',');
  return {
    url, ports,
    stop: (i: number) => { procs[i]?.kill('SIGKILL'); procs[i] = null; },
    start,
    stopAll: () => { for (let i = 0; i < 3; i++) { procs[i]?.kill('SIGKILL'); procs[i] = null; } },
  };
}

test('cluster: 3 NATS nodes, 3 workers; streams spread, survive kill -9 of a worker and the loss of a NATS node; metadata de-duplicated', { timeout: 400_000 }, async (t) => {
  const nats = await natsCluster();
  t.after(() => nats.stopAll());
  const nc = await connect({ servers: nats.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 300 });
  t.after(() => nc.close());
  // The cluster needs a JetStream meta leader before streams can be made: retry until it has one.
  let jsm!: Awaited<ReturnType<typeof jetstreamManager>>;
  for (let i = 0; ; i++) {
    try { jsm = await jetstreamManager(nc, { timeout: 1000 }); await jsm.streams.add({ name: 'SLUICE_META', subjects: ['sluice.meta.*'], num_replicas: 3, duplicate_window: 120_000_000_000 }); break; } catch (e) { if (i > 100) throw e; await sleep(200); }
  }
  const kvm = new Kvm(nc);
  for (const b of ['sluice_streams', 'sluice_owners', 'sluice_stats']) await kvm.create(b, { history: 1, replicas: 3, ...(b === 'sluice_owners' ? { ttl: 2000 } : b === 'sluice_stats' ? { ttl: 30_000 } : {}) });
  const owners = await kvm.open('sluice_owners');

  const cfg = join(tmp(), 'worker.yaml');
  writeFileSync(cfg, [
    'source: testsrc live=true fps=20 width=64 height=48 num-objects=1 pattern={uri}',
    `chain: mux name=m ! nats url=${nats.url} subject=sluice.meta.{stream} jetstream=true`,
    '',
  ].join('\n'));
  const workers = new Map<string, ChildProcess>();
  const startWorker = (name: string) => {
    const p = spawn(process.execPath, [BIN, 'worker', cfg, '--nats', nats.url, '--capacity', '3', '--name', name, '--lease', '2000', '--replicas', '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d: Buffer) => { log += d; });
    (p as ChildProcess & { log: () => string }).log = () => log;
    workers.set(name, p);
  };
  t.after(() => { for (const p of workers.values()) p.kill('SIGKILL'); });
  for (const w of ['w1', 'w2', 'w3']) startWorker(w);
  const ids = ['s1', 's2', 's3', 's4', 's5', 's6'];
  for (const id of ids.slice(0, 5)) {
    const r = await sluice(['streams', 'add', id, 'objects', '--nats', nats.url]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.match((await sluice(['streams', 'add', 's1', 'bars', '--nats', nats.url])).stderr, /SLUICE_ERR_CONFLICT/);
  // The sixth through the REST API of `sluice serve --nats` (the same API as one box's).
  const apiPort = await freePort();
  const api = spawn(process.execPath, [BIN, 'serve', '--nats', nats.url, '--api', `127.0.0.1:${apiPort}`], { stdio: 'ignore' });
  t.after(() => api.kill('SIGKILL'));
  let posted = 0;
  for (let i = 0; i < 100 && !posted; i++) {
    try { posted = (await fetch(`http://127.0.0.1:${apiPort}/v1/streams`, { method: 'POST', body: JSON.stringify({ id: 's6', uri: 'objects' }) })).status; } catch { await sleep(100); }
  }
  assert.equal(posted, 201);
  const ownership = async () => {
    const m = new Map<string, string>();
    for (const id of ids) { const e = await owners.get(id); if (e?.operation === 'PUT') m.set(id, JSON.parse(e.string()).worker); }
    return m;
  };
  const until = async (cond: () => Promise<boolean>, ms: number, what: string, everyMs = 100) => {
    const t0 = Date.now();
    while (!(await cond())) { if (Date.now() - t0 > ms) assert.fail(`timed out: ${what}`); await sleep(everyMs); }
    return Date.now() - t0;
  };
  await until(async () => (await ownership()).size === 6, 30_000, 'all six streams owned');
  // Each stream runs on exactly one worker: the workers' own lists are disjoint and cover all six.
  // (An ls that runs into a leader election fails with a coded error; the loops below ask again.)
  const ls = async (): Promise<{ id: string; state: string; owner: string; fps: number }[]> => {
    const r = await sluice(['streams', 'ls', '--nats', nats.url, '--json']);
    if (r.code !== 0) { assert.match(r.stderr, /SLUICE_ERR_IO/); return []; }
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  };
  await until(async () => { const l = await ls(); return l.length === 6 && l.every((r) => r.state === 'playing'); }, 20_000, 'all playing');
  const viaApi = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/streams`)).json()) as { streams: { id: string; owner: string; state: string }[] };
  assert.deepEqual(viaApi.streams.map((x) => x.id), ids);
  assert.ok(viaApi.streams.every((x) => x.owner && x.state === 'playing'), JSON.stringify(viaApi));
  const before = await ownership();
  const perWorker = new Map<string, number>();
  for (const w of before.values()) perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
  assert.ok([...perWorker.values()].every((n) => n <= 3), `capacity respected: ${JSON.stringify([...perWorker])}`);
  await sleep(2000);

  // kill -9 the worker with the most streams: its streams move to the others within the lease.
  const victim = [...perWorker].sort((a, b) => b[1] - a[1])[0]![0];
  const moved = [...before].filter(([, w]) => w === victim).map(([id]) => id);
  workers.get(victim)!.kill('SIGKILL');
  workers.delete(victim);
  const failover = await until(async () => {
    const now = await ownership();
    return moved.every((id) => now.has(id) && now.get(id) !== victim);
  }, 15_000, 'the dead worker\'s streams taken over');
  console.log(`failover: streams of ${victim} (${moved.join(', ')}) owned again after ${failover} ms (lease 2000 ms)`);
  assert.ok(failover < 2000 + 2000, `failover took ${failover} ms`);
  // Capacity 3 x 2 workers = 6: everything runs again, once.
  await until(async () => (await ownership()).size === 6 && [...(await ownership()).values()].every((w) => w !== victim), 15_000, 'all six owned by live workers');
  await until(async () => { const l = await ls(); return l.length === 6 && l.every((r) => r.state === 'playing'); }, 20_000, 'all playing after the failover');

  // No stream runs on two workers at once: the workers' own lists (stats bucket) stay disjoint.
  const stats = await kvm.open('sluice_stats');
  for (let k = 0; k < 10; k++) {
    const seen = new Map<string, string>();
    for (const w of workers.keys()) {
      const e = await stats.get(`worker.${w}`);
      for (const id of e?.operation === 'PUT' ? (JSON.parse(e.string()).streams as string[]) : []) {
        assert.ok(!seen.has(id), `${id} runs on ${seen.get(id)} and ${w}`);
        seen.set(id, w);
      }
    }
    await sleep(200);
  }

  // One NATS node down: the other two keep the R3 buckets and stream going; metadata keeps
  // arriving, and every stream is owned and playing again once the elections settle. On the
  // 2-core CI machine that took 6-79 s in the runs of 2026-12-02 (and past 90 s twice), so the
  // bound is 180 s; the time is printed. Looked at with direct gets from this process: a `sluice
  // streams ls` process every 100 ms (a new Node, a consumer per listing) kept the two surviving
  // nodes from settling on two cores.
  const count = async () => { for (;;) { try { return (await jsm.streams.info('SLUICE_META')).state.messages; } catch { await sleep(200); } } };
  const m0 = await count();
  nats.stop(2);
  // Publishing pauses while the stream elects a leader (the sinks buffer meanwhile), then goes on.
  const resumed = await until(async () => (await count()) - m0 > 120, 30_000, 'metadata flowing again with a node down');
  const m1 = await count();
  let last: unknown = null;
  // Read here, with direct gets (no new process, no consumer: nothing that needs the meta leader).
  // nats-server 2.9 has left the server this process is on answering these with "no responders"
  // for minutes after the node loss (a worker's publishes there too): this connection then moves
  // to another server, as the workers' and the sinks' do (src/net/nats-heal.ts).
  const heal = natsHeal(() => nc, { onMove: (why) => console.log(`test connection: ${why}`) });
  const liveState = async () => {
    const out: { id: string; owner: string; state: string }[] = [];
    for (const id of ids) {
      try {
        const o = await owners.get(id);
        const st = await stats.get(`stream.${id}`);
        const info = st?.operation === 'PUT' ? JSON.parse(st.string()) as { state: string; owner: string; at: string } : null;
        const owner = o?.operation === 'PUT' ? (JSON.parse(o.string()) as { worker: string }).worker : '';
        // Stats written in the last few seconds by the owner itself.
        out.push({ id, owner, state: info && info.owner === owner && Date.now() - Date.parse(info.at) < 5000 ? info.state : 'unknown' });
        heal.ok();
      } catch (e) { heal.failed(e); out.push({ id, owner: '', state: `get failed: ${(e as Error).message.split('\n')[0]}` }); }
    }
    return out;
  };
  const settle = await until(async () => { const l = await liveState(); last = l; return l.every((r) => r.state === 'playing' && r.owner); }, 180_000, 'all owned and playing with a node down', 500).catch((e: Error) => { throw new Error(`${e.message}; last ls: ${JSON.stringify(last)}; worker logs: ${[...workers].map(([n, p]) => `${n}: ${(p as ChildProcess & { log: () => string }).log().slice(-1500)}`).join(' | ')}`); });
  console.log(`one NATS node down: metadata flowing again (${m1 - m0} messages) ${resumed} ms after; all streams owned and playing ${settle} ms later`);
  // What the workers said meanwhile (moves to another server, failed renewals), for slow settles.
  for (const [n, p] of workers) for (const l of (p as ChildProcess & { log: () => string }).log().split('\n')) if (/moving to another server|failed/.test(l)) console.log(`  ${n}: ${l.slice(0, 300)}`);
  nats.start(2);
  for (let k = 0; k < 100 && !(await up(nats.ports[2]!)); k++) await sleep(50);
  // It rejoins: the metadata stream has its three replicas current again.
  const rejoin = await until(async () => {
    try {
      const ci = (await jsm.streams.info('SLUICE_META')).cluster;
      const peers = [ci?.leader, ...(ci?.replicas ?? []).filter((r) => r.current).map((r) => r.name)];
      return new Set(peers).size === 3;
    } catch { return false; }
  }, 30_000, 'the restarted node back as a current replica');
  console.log(`the restarted NATS node is a current replica again after ${rejoin} ms`);

  // Stop the workers cleanly, then read every metadata message back.
  for (const p of workers.values()) p.kill('SIGTERM');
  await Promise.all([...workers.values()].map((p) => new Promise((r) => p.once('exit', r))));
  const js = jetstream(nc);
  const c = await js.consumers.get('SLUICE_META');
  const frames = new Map<string, number[]>();
  const info = await jsm.streams.info('SLUICE_META');
  const total = info.state.messages;
  const it = await c.fetch({ max_messages: total, expires: 5000 });
  let n = 0;
  for await (const m of it) {
    const r = JSON.parse(m.string());
    frames.set(r.stream_id, [...(frames.get(r.stream_id) ?? []), r.frame]);
    if (++n >= total) break;
  }
  for (const id of ids) {
    const f = frames.get(id) ?? [];
    assert.ok(f.length > 40, `${id}: ${f.length} frames`);
    assert.equal(new Set(f).size, f.length, `${id}: no duplicate frame in JetStream`);
    const sorted = [...f].sort((a, b) => a - b);
    assert.ok(sorted.every((v, i) => v === i), `${id}: frames 0..${sorted.length - 1} without a gap (first gap at ${sorted.findIndex((v, i) => v !== i)})`);
  }
});
