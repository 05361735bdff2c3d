// Sinks that fail loudly: every write error (a full disk, here /dev/full, which answers every
// write with ENOSPC) is a coded error and exit 1, never an abort or a run that "succeeds" with
// nothing written; and recordings killed with SIGKILL leave files that play.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ASSETS, ROOT, ffprobe, freePort, media, sluice, tmp } from '../helpers.ts';

const MODEL = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');

test('meta to a full disk while infer plays: SLUICE_ERR_NO_SPACE naming the file, exit 1, no abort (it was "Unhandled \'error\' event", exit 134)', { timeout: 60_000 }, async () => {
  for (const chain of [`infer model=${MODEL} ! meta location=/dev/full`, 'meta location=/dev/full']) {
    const r = await sluice(['launch', '-q', `testsrc num-frames=200 width=160 height=120 ! ${chain}`]);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: SLUICE_ERR_NO_SPACE: meta0: no space left on the device holding \/dev\/full/);
    assert.doesNotMatch(r.stderr, /Unhandled|terminate called|internal error/);
  }
});

test('file to a full disk: SLUICE_ERR_NO_SPACE naming the file and saying what is left of it, exit 1 (mkv and mjpeg ended 0 with nothing written)', { timeout: 60_000 }, async () => {
  const cases: [string, RegExp][] = [
    ['file location=/dev/full format=mp4', /its index is written at the end, so this file does not play; fragmented=on keeps/],
    ['file location=/dev/full format=mp4 fragmented=on', /the file plays up to its last complete fragment/],
    ['encode preset=ultrafast ! file location=/dev/full format=matroska', /the file holds what was written before/],
    ['file location=/dev/full format=mjpeg codec=mjpeg', /the file holds what was written before/],
  ];
  for (const [sink, left] of cases) {
    const r = await sluice(['launch', '-q', `testsrc num-frames=120 width=160 height=120 ! ${sink}`]);
    assert.equal(r.signal, null, `${sink}: ${r.stderr}`);
    assert.equal(r.code, 1, `${sink}: ${r.stderr}`);
    assert.match(r.stderr, /error: SLUICE_ERR_NO_SPACE: no space left on the device holding \/dev\/full: free some space or write elsewhere/, sink);
    assert.match(r.stderr, left, sink);
  }
});

test('--progress to a full disk: one warning, the run goes on and ends 0', { timeout: 60_000 }, async () => {
  const r = await sluice(['launch', '-q', '--progress', '/dev/full', 'testsrc num-frames=40 width=160 height=120 live=true ! fakesink']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.match(/warning: --progress \/dev\/full: ENOSPC/g)?.length, 1, r.stderr);
});

/** A TCP server that accepts and never answers (a mute broker); closed with its sockets. */
async function muteServer() {
  const held: Socket[] = [];
  const s = createServer((c) => { held.push(c); c.on('error', () => {}); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { port: (s.address() as { port: number }).port, close: () => { for (const c of held) c.destroy(); s.close(); } };
}

test('nats down or mute, redis mute: a warning while it plays and the undelivered messages counted and said (150 of 150 were lost in silence)', { timeout: 90_000 }, async () => {
  const mute = await muteServer();
  const down = await freePort();
  try {
    for (const sink of [`nats url=nats://127.0.0.1:${down}`, `nats url=nats://127.0.0.1:${mute.port}`, `redis url=redis://127.0.0.1:${mute.port}`]) {
      const report = join(tmp(), 'r.json');
      const r = await sluice(['launch', '-q', '--report', report, `testsrc num-frames=150 fps=50 live=true width=64 height=48 ! ${sink} drain-timeout=500`]);
      assert.equal(r.code, 0, `${sink}: ${r.stderr}`);
      assert.match(r.stderr, /warning: (nats|redis)0: (nats|redis):\/\/127\.0\.0\.1:\d+ took no message for 2 s: not connected/, sink);
      assert.match(r.stderr, /warning: (nats|redis)0: 150 messages were not delivered to .* and are lost; 0 were sent/, sink);
      const el = Object.values((JSON.parse(readFileSync(report, 'utf8')) as { elements: Record<string, { resolved?: Record<string, unknown> }> }).elements).at(-1)!;
      assert.equal(el.resolved!.messagesUndelivered, 150, sink);
      assert.equal(el.resolved!.messagesSent, 0, sink);
    }
  } finally {
    mute.close();
  }
});

test('a broker buffer is capped by bytes as well as by count: buffer-bytes drops the oldest before buffer= is reached', { timeout: 60_000 }, async () => {
  const mute = await muteServer();
  try {
    const report = join(tmp(), 'r.json');
    // ~320-byte lines, 20,000 bytes: about 60 fit; buffer=10000 (the count) is never reached.
    const r = await sluice(['launch', '-q', '--report', report, `testsrc num-frames=150 fps=100 live=true width=64 height=48 ! redis url=redis://127.0.0.1:${mute.port} buffer-bytes=20000 drain-timeout=0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /broker not connected: \d+ messages buffered \(buffer-bytes=20000\), dropping the oldest/);
    const el = Object.values((JSON.parse(readFileSync(report, 'utf8')) as { elements: Record<string, { resolved?: Record<string, number> }> }).elements).at(-1)!;
    const undelivered = el.resolved!.messagesUndelivered!;
    assert.ok(undelivered > 20 && undelivered < 100, `${undelivered} messages held at the end`);
    assert.equal(el.resolved!.messagesDropped, 150);
  } finally {
    mute.close();
  }
});

/** Start `launch -q PIPELINE`, SIGKILL it once `until()` holds (or after 20 s), resolve when it is gone. */
async function killDuring(pipeline: string, until: () => boolean): Promise<void> {
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'launch', '-q', pipeline], { stdio: 'ignore' });
  const gone = new Promise<void>((r) => p.on('close', () => r()));
  for (let i = 0; i < 400 && !until() && p.exitCode === null; i++) await sleep(50);
  assert.equal(p.exitCode, null, 'still running when killed');
  p.kill('SIGKILL');
  await gone;
}

test('kill -9 at 5 s of a live recording with the default GOP (250): it plays up to the last second (773 bytes, 0 frames before)', { timeout: 60_000 }, async () => {
  const out = join(tmp(), 'k.mp4');
  const t0 = Date.now();
  await killDuring(`testsrc live=true fps=30 width=320 height=240 ! encode preset=ultrafast ! file location=${out}`, () => Date.now() - t0 > 5000);
  const probe = ffprobe(out);
  // ~140 frames were made in those 5 s (less the start-up); fragments close at least every second.
  assert.ok(probe.frames >= 90, `${probe.frames} frames play after the kill at 5 s`);
  assert.ok(readFileSync(out).includes(Buffer.from('moof')), 'written as fragments');
});

test('kill -9 while recording a long file (139 s, not live): fragmented=auto wrote fragments, so it plays; a short one stays a standard mp4', { timeout: 60_000 }, async () => {
  const out = join(tmp(), 'long.mp4');
  await killDuring(`uri location=${media('one-by-one-person-detection.mp4')} ! file location=${out} preset=ultrafast`, () => existsSync(out) && statSync(out).size > 400_000);
  const probe = ffprobe(out);
  assert.ok(probe.frames >= 10, `${probe.frames} frames play after the kill`);
  assert.ok(readFileSync(out).includes(Buffer.from('moof')), 'written as fragments');
  const short = join(tmp(), 'short.mp4');
  const r = await sluice(['launch', '-q', `uri location=${media('face-demographics-walking-and-pause.mp4')} ! file location=${short} preset=ultrafast`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(ffprobe(short).frames, 41);
  assert.ok(!readFileSync(short).includes(Buffer.from('moof')), 'a 3.4 s file keeps its index at the end');
});

test('view --out that fails (wrong token) or receives nothing leaves no 0-byte file, and says so', { timeout: 60_000 }, async () => {
  const { StreamServer } = await import('../../src/net/servers.ts');
  const srv = new StreamServer({ token: 'right', quality: 8 });
  const { port } = await srv.listen();
  try {
    const dir = tmp();
    const refused = join(dir, 'refused.mp4'), idle = join(dir, 'idle.mp4');
    const r = await sluice(['view', '--server', `127.0.0.1:${port}`, '--token', 'wrong', '--out', refused]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /SLUICE_ERR_AUTH/);
    assert.ok(!existsSync(refused), 'no file after a refusal (it was a 0-byte one)');
    // The right token, but the display sends no frame in that second.
    const q = await sluice(['view', '--server', `127.0.0.1:${port}`, '--token', 'right', '--seconds', '1', '--out', idle]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stderr, /no frames arrived: .*idle\.mp4 was not written/);
    assert.ok(!existsSync(idle));
  } finally {
    await srv.close();
  }
});
