// Clients that fail loudly and recordings that survive: the real CLI against real servers,
// wrong tokens, dropped connections, Ctrl-C and kill -9 in the middle of a recording.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamServer, WebcamServer } from '../../src/net/servers.ts';
import { ROOT, ffprobe, freePort, media, sluice, tmp } from '../helpers.ts';

const BIN = join(ROOT, 'bin', 'sluice.js');

/** A display server writing a moving grey picture at 30 fps until stopped. */
async function display(token: string) {
  const out = new StreamServer({ token, quality: 8 });
  const { port } = await out.listen();
  let i = 0;
  const timer = setInterval(() => {
    const d = new Uint8Array(160 * 120 * 1.5).fill(128);
    d.fill((i * 7) & 255, 0, 160 * 120);
    out.write({ width: 160, height: 120, format: 'yuvj420p', data: d }, { seq: i++, ts: Date.now() });
  }, 33);
  return { port, stop: async () => { clearInterval(timer); await out.close(); } };
}

test('view --token wrong and webcam-client --token wrong exit non-zero at once with SLUICE_ERR_AUTH', { timeout: 60_000 }, async () => {
  const d = await display('right');
  const cam = new WebcamServer({ token: 'right' });
  const { port: camPort } = await cam.listen();
  try {
    const t0 = Date.now();
    const v = await sluice(['view', '--server', `127.0.0.1:${d.port}`, '--token', 'wrong', '--seconds', '3', '--out', join(tmp(), 'v.mp4')]);
    assert.equal(v.code, 1, v.stderr);
    assert.match(v.stderr, /SLUICE_ERR_AUTH: .*missing or wrong token/);
    assert.ok(Date.now() - t0 < 2900, `view took ${Date.now() - t0} ms to fail`);
    const w = await sluice(['webcam-client', '--server', `127.0.0.1:${camPort}`, '--token', 'wrong', '--file', media('face-demographics-walking-and-pause.mp4'), '--frames', '100']);
    assert.equal(w.code, 1, w.stderr);
    assert.match(w.stderr, /SLUICE_ERR_AUTH/);
    // The token from a file or the environment works and is the same secret.
    const f = join(tmp(), 'token');
    writeFileSync(f, 'right\n');
    const ok = await sluice(['view', '--server', `127.0.0.1:${d.port}`, '--token-file', f, '--frames', '10', '--out', join(tmp(), 'ok.mp4')]);
    assert.equal(ok.code, 0, ok.stderr);
    const env = await sluice(['view', '--server', `127.0.0.1:${d.port}`, '--frames', '10', '--out', join(tmp(), 'env.mp4')], { env: { ...process.env, SLUICE_TOKEN: 'right' } });
    assert.equal(env.code, 0, env.stderr);
  } finally {
    await d.stop();
    await cam.close();
  }
});

test('view: end of stream exits 0; a server killed mid-stream is an error (file still plays); --reconnect records across a restart', { timeout: 60_000 }, async () => {
  const d = await display('');
  const out = join(tmp(), 'drop.mp4');
  const viewing = sluice(['view', '--server', `127.0.0.1:${d.port}`, '--out', out]);
  await sleep(1500);
  // A display that ends its stream says so: the viewer ends cleanly, its file complete.
  await d.stop();
  const v = await viewing;
  assert.equal(v.code, 0, v.stderr);
  assert.ok(ffprobe(out).frames > 10);
  // A server killed without a word: the client says so.
  const port = await freePort();
  const srv = spawn(process.execPath, [BIN, 'launch', `testsrc live=true width=160 height=120 ! display port=${port}`, '-q'], { stdio: 'ignore' });
  await sleep(1500);
  const out2 = join(tmp(), 'killed.mp4');
  const viewing2 = sluice(['view', '--server', `127.0.0.1:${port}`, '--out', out2]);
  await sleep(1500);
  srv.kill('SIGKILL');
  const v2 = await viewing2;
  assert.equal(v2.code, 1);
  assert.match(v2.stderr, /SLUICE_ERR_IO: 127\.0\.0\.1:\d+ closed the connection after \d+ frames; use --reconnect/);
  assert.ok(ffprobe(out2).frames > 10, 'the frames before the drop are in a file that plays');
  // --reconnect: the viewer waits for the server to come back and records both parts.
  const out3 = join(tmp(), 'reconnect.mp4');
  const srvA = spawn(process.execPath, [BIN, 'launch', `testsrc live=true width=160 height=120 ! display port=${port}`, '-q'], { stdio: 'ignore' });
  await sleep(1500);
  const viewing3 = sluice(['view', '--server', `127.0.0.1:${port}`, '--out', out3, '--reconnect', '--seconds', '6']);
  await sleep(1500);
  srvA.kill('SIGKILL');
  await sleep(500);
  const srvB = spawn(process.execPath, [BIN, 'launch', `testsrc live=true width=160 height=120 ! display port=${port}`, '-q'], { stdio: 'ignore' });
  const v3 = await viewing3;
  srvB.kill('SIGKILL');
  assert.equal(v3.code, 0, v3.stderr);
  assert.match(v3.stderr, /reconnecting/);
  assert.ok(ffprobe(out3).frames > 60, `${ffprobe(out3).frames} frames across the restart`);
});

test('view --out: Ctrl-C, a second Ctrl-C, and kill -9 all leave a file that plays', { timeout: 60_000 }, async () => {
  const d = await display('');
  try {
    for (const how of ['SIGINT', 'SIGINT twice', 'SIGKILL'] as const) {
      const out = join(tmp(), 'rec.mp4');
      const p = spawn(process.execPath, [BIN, 'view', '--server', `127.0.0.1:${d.port}`, '--out', out], { stdio: 'ignore' });
      const exit = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      await sleep(3000);
      p.kill(how === 'SIGKILL' ? 'SIGKILL' : 'SIGINT');
      if (how === 'SIGINT twice') p.kill('SIGINT');
      await exit;
      const probe = ffprobe(out);
      // 3 s at 30 fps, one fragment a second: at least the first two fragments are whole.
      assert.ok(probe.frames >= 30, `${how}: ${probe.frames} frames play`);
      assert.deepEqual([probe.width, probe.height], [160, 120]);
    }
  } finally {
    await d.stop();
  }
});

test('sluice remote: no token given makes one and prints it; one from SLUICE_TOKEN is never printed; --no-token warns', { timeout: 60_000 }, async () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const port = await freePort();
    const p = spawn(process.execPath, [BIN, 'remote', '--task', 'invert', '--port', String(port), '-q', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d; });
    for (let i = 0; i < 100 && !/open http/.test(err); i++) await sleep(100);
    p.kill('SIGKILL');
    return err;
  };
  const made = await run([]);
  assert.match(made, /open http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}\n/);
  const fromEnv = await run([], { ...process.env, SLUICE_TOKEN: 'env-secret-123' });
  assert.match(fromEnv, /\?token=…/);
  assert.doesNotMatch(fromEnv, /env-secret-123/);
  const open = await run(['--no-token']);
  assert.match(open, /warning: sluice remote runs with no token/);
  assert.match(open, /open http:\/\/127\.0\.0\.1:\d+\/\n/);
});
