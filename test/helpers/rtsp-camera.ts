// A camera that is not Sluice: GStreamer's RTSP server (test/fixtures/gst-rtsp-camera.py) on a
// loopback port, to be killed and started again as a camera drops and returns.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../helpers.ts';

// Debian's Python: it has PyGObject and the GStreamer RTSP server bindings (.ci/run installs them).
export const PYTHON = '/usr/bin/python3';

/** Start a camera serving rtsp://127.0.0.1:PORT/cam; resolves once it listens. */
export async function camera(port: number, ...args: string[]): Promise<ChildProcess> {
  const p = spawn(PYTHON, [join(ROOT, 'test', 'fixtures', 'gst-rtsp-camera.py'), String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => { out += d; });
  p.stderr!.on('data', (d) => { out += d; });
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await sleep(50);
  assert.match(out, /ready/, `camera did not start: ${out}`);
  return p;
}

/** Kill a camera (as a power cut: SIGKILL) and wait until it is gone. */
export const stopped = (p: ChildProcess) => new Promise<void>((r) => { if (p.exitCode !== null || p.signalCode) r(); else { p.once('exit', () => r()); p.kill('SIGKILL'); } });
