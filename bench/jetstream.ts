// Metadata through JetStream: how many meta messages per second one pipeline publishes to an R3
// stream on a 3-node nats-server cluster (loopback), core NATS beside it, and the failover time
// of test/cluster.test.ts is printed by that test. node bench/jetstream.ts [frames=5000]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { launch } from '../src/index.ts';

const frames = Number(process.argv[2] ?? 5000);
const free = () => new Promise<number>((r) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const a = s.address() as { port: number }; s.close(() => r(a.port)); }); });
const up = (port: number) => new Promise<boolean>((r) => { const s = tcp(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
const dir = mkdtempSync(join(tmpdir(), 'sluice-js-'));
const ports = [await free(), await free(), await free()], routes = [await free(), await free(), await free()];
const procs: ChildProcess[] = ports.map((p, i) => {
  const conf = join(dir, `n${i}.conf`);
  writeFileSync(conf, `server_name: n${i}\nlisten: 127.0.0.1:${p}\njetstream { store_dir: "${join(dir, `js${i}`)}" }\ncluster { name: b, listen: 127.0.0.1:${routes[i]}, routes: [${routes.filter((_, j) => j !== i).map((r) => `nats://127.0.0.1:${r}`).join(', ')}] }\n`);
  return spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
});
try {
  for (const p of ports) while (!(await up(p))) await sleep(50);
  const url = `nats://127.0.0.1:${ports[0]}`;
  const nc = await connect({ servers: url });
  for (let i = 0; ; i++) {
    try { const jsm = await jetstreamManager(nc, { timeout: 1000 }); await jsm.streams.add({ name: 'BENCH', subjects: ['bench.*'], num_replicas: 3 }); break; } catch (e) { if (i > 100) throw e; await sleep(200); }
  }
  for (const [name, extra] of [['core NATS', ''], ['JetStream R3, acked, message ids', 'jetstream=true']] as const) {
    const r = await launch(`testsrc num-frames=${frames} width=64 height=48 num-objects=4 ! nats url=${url} subject=bench.{stream} ${extra} buffer=${frames} inflight=256 drain-timeout=60000`).run();
    const e = r.elements.nats0!;
    console.log(`${name}: ${frames} meta lines (4 objects each) in ${r.wallSeconds.toFixed(2)} s = ${Math.round(frames / r.wallSeconds)} msg/s; sent ${e.resolved!.messagesSent}, dropped ${e.resolved!.messagesDropped}`);
  }
  await nc.close();
} finally {
  for (const p of procs) p.kill('SIGKILL');
}
