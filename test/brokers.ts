// Real brokers for the tests (Debian's mosquitto, nats-server, redis-server; .ci/run installs
// them), each on a free loopback port, started and stopped by the test that needs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tmp } from './helpers.ts';

export type Kind = 'mqtt' | 'nats' | 'redis';

export interface Broker { kind: Kind; port: number; url: string; stop(): Promise<void>; start(): Promise<void> }

const canConnect = (port: number) => new Promise<boolean>((r) => {
  const s = tcp(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); r(true); });
  s.once('error', () => r(false));
});

/** `jetstream: false` starts a nats-server without JetStream (its JetStream requests get "no responders"). */
export async function startBroker(kind: Kind, o: { jetstream?: boolean } = {}): Promise<Broker> {
  const port = await freePort();
  const dir = tmp();
  let proc: ChildProcess | null = null;
  const argv = (): [string, string[]] => {
    if (kind === 'mqtt') {
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
      return ['mosquitto', ['-c', conf]];
    }
    if (kind === 'nats') return ['nats-server', ['-a', '127.0.0.1', '-p', String(port), ...(o.jetstream === false ? [] : ['-js', '-sd', join(dir, 'js')])]];
    return ['redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]];
  };
  const b: Broker = {
    kind, port,
    url: `${kind === 'mqtt' ? 'mqtt' : kind === 'nats' ? 'nats' : 'redis'}://127.0.0.1:${port}`,
    async start() {
      const [cmd, args] = argv();
      // Debian puts the daemons in /usr/sbin, which a non-root PATH may lack.
      proc = spawn(existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : cmd, args, { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        if (await canConnect(port)) return;
        await sleep(50);
      }
      throw new Error(`${cmd} did not listen on ${port}`);
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
  };
  await b.start();
  return b;
}
