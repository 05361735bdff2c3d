// Processes that always end: a library script with infer, the CLI on success, error and Ctrl-C,
// and sources that never finish answering (an RTSP server sending an endless body, a mute one).
// Each case measures the time from the work ending (or the signal) to the process's exit.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, type SluiceError } from '../../src/index.ts';
import { ASSETS, ROOT, freePort, sluice, tmp } from '../helpers.ts';

const BIN = join(ROOT, 'bin', 'sluice.js');
const MODEL = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');

/** Run `file` with node; resolves with its output and the time of its exit (Date.now()). */
function runNode(args: string[], opts: { onSpawn?: (p: ReturnType<typeof spawn>) => void; onLine?: (l: string) => void } = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; exitedAt: number }>((res, rej) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (d: Buffer) => { out += d; for (const l of String(d).split('\n')) if (l) opts.onLine?.(l); };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    const kill = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('error', rej);
    p.on('exit', (code, signal) => { clearTimeout(kill); res({ code, signal, out, exitedAt: Date.now() }); });
    opts.onSpawn?.(p);
  });
}

test('a library script with infer exits within 1 s of run() resolving, and of run() rejecting (it took 30 s)', { timeout: 120_000 }, async () => {
  const dir = tmp();
  const script = join(dir, 'lib.ts');
  // A custom element that fails on frame 3 when asked: an error while infer is playing.
  writeFileSync(script, `
import { launch, registry, defineElement, sinkPad, srcPad, z, SluiceError } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src', 'index.ts')).href)};
const fail = process.argv[2] === 'fail';
registry().register(defineElement({
  name: 'failon3', summary: 'fails on its third frame', kind: 'filter', pads: [sinkPad(), srcPad()], props: z.object({}),
  create(_o, ctx) { let n = 0; return { async process(f) { if (++n === 3 && fail) throw new SluiceError('SLUICE_ERR_ELEMENT', 'failed on purpose'); await ctx.push(f); } }; },
}));
try {
  await launch(${JSON.stringify(`testsrc num-frames=5 width=160 height=120 ! infer model=${MODEL} ! failon3 ! fakesink`)}).run();
  console.log('RESOLVED', Date.now());
} catch (e) { console.log('REJECTED', Date.now(), (e as Error).message); }
`);
  for (const mode of ['ok', 'fail']) {
    const r = await runNode([script, mode]);
    const m = /(RESOLVED|REJECTED) (\d+)/.exec(r.out);
    assert.ok(m, r.out);
    assert.equal(m[1], mode === 'ok' ? 'RESOLVED' : 'REJECTED', r.out);
    if (mode === 'fail') assert.match(r.out, /failed on purpose/);
    assert.equal(r.code, 0, r.out);
    const after = r.exitedAt - Number(m[2]);
    assert.ok(after < 1000, `${mode}: exited ${after} ms after run() settled`);
  }
});

test('the CLI with infer: an error while playing exits 1 within 1 s of the error; SIGINT and SIGTERM exit within 1 s of the report', { timeout: 120_000 }, async () => {
  // The error: a sink that cannot write (a full device) while infer plays.
  let errAt = 0;
  const e = await runNode([BIN, 'launch', '-q', `testsrc num-frames=300 width=160 height=120 ! infer model=${MODEL} ! meta location=/dev/full`], { onLine: (l) => { if (/^error:/.test(l)) errAt = Date.now(); } });
  assert.equal(e.code, 1, e.out);
  assert.ok(errAt > 0, e.out);
  assert.ok(e.exitedAt - errAt < 1500, `exited ${e.exitedAt - errAt} ms after the error was printed`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    let reportAt = 0;
    let sentAt = 0;
    const run = runNode([BIN, 'launch', `testsrc live=true width=160 height=120 ! infer model=${MODEL} ! fakesink`], {
      // Signalled while infer plays (its model loads in well under a second here).
      onSpawn: (p) => { setTimeout(() => { sentAt = Date.now(); p.kill(sig); }, 2000); },
      // The report (the table) is printed once the work has ended.
      onLine: (l) => { if (/frames in .* s \(/.test(l)) reportAt = Date.now(); },
    });
    const r = await run;
    assert.equal(r.code, 0, r.out);
    assert.ok(reportAt > 0, r.out);
    assert.ok(r.exitedAt - reportAt < 1000, `${sig}: exited ${r.exitedAt - reportAt} ms after the report`);
    assert.ok(r.exitedAt - sentAt < 3000, `${sig}: exited ${r.exitedAt - sentAt} ms after the signal`);
  }
});

/** `launch -v PIPELINE`, SIGINT `wait` ms after it plays (not before its handlers are in place on a slow box). */
async function interruptWhilePlaying(pipeline: string, wait: number) {
  let sentAt = 0;
  let child: ReturnType<typeof spawn> | null = null;
  const res = await runNode([BIN, 'launch', '-v', pipeline], {
    onSpawn: (p) => { child = p; },
    onLine: (l) => { if (/^state: .* -> playing/.test(l)) setTimeout(() => { sentAt = Date.now(); child!.kill('SIGINT'); }, wait); },
  });
  assert.ok(sentAt > 0, `never played: ${res.out}`);
  return { res, sentAt };
}

/** An RTSP "server" that answers OPTIONS with a 99,999,999-byte body and trickles it forever; or (mute) never answers. */
async function hostileRtsp(kind: 'endless' | 'mute'): Promise<{ port: number; close: () => void }> {
  const held: Socket[] = [];
  const s: Server = createServer((c) => {
    held.push(c);
    c.on('error', () => {});
    if (kind === 'mute') return;
    c.once('data', (d) => {
      const cseq = /CSeq:\s*(\d+)/i.exec(String(d))?.[1] ?? '1';
      c.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Length: 99999999\r\n\r\n`);
      const t = setInterval(() => c.write(Buffer.alloc(64, 0x41)), 50);
      c.on('close', () => clearInterval(t));
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { port: (s.address() as { port: number }).port, close: () => { for (const c of held) c.destroy(); s.close(); } };
}

test('an RTSP server sending an endless body: Ctrl-C exits within 1 s (it stayed alive for minutes); without reconnect a coded timeout at 2 x timeout + 1 s', { timeout: 60_000 }, async () => {
  const srv = await hostileRtsp('endless');
  try {
    const t0 = Date.now();
    const r = await sluice(['launch', '-q', `uri location=rtsp://viewer:secret@127.0.0.1:${srv.port}/x timeout=1500 reconnect=false ! fakesink`], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`SLUICE_ERR_TIMEOUT: cannot open rtsp://viewer:\\*\\*\\*@127\\.0\\.0\\.1:${srv.port}/x: no complete answer within 4000 ms \\(timeout\\)`));
    assert.doesNotMatch(r.stderr, /secret/);
    // The hard stop is 2 x timeout + 1 s after the start.
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
    // Reconnecting (the default) with a long timeout: the open is still under way at SIGINT.
    for (const wait of [300, 2500]) {
      const { res, sentAt } = await interruptWhilePlaying(`uri location=rtsp://127.0.0.1:${srv.port}/x timeout=30000 ! fakesink`, wait);
      assert.equal(res.signal, null, res.out);
      assert.equal(res.code, 0, res.out);
      assert.ok(res.exitedAt - sentAt < 1000, `exited ${res.exitedAt - sentAt} ms after SIGINT (sent ${wait} ms in)`);
    }
  } finally {
    srv.close();
  }
});

test('a mute RTSP server is a coded timeout naming the URL without its password, not "Invalid data found"; reconnecting, Ctrl-C exits within 1 s', { timeout: 60_000 }, async () => {
  const srv = await hostileRtsp('mute');
  try {
    const r = await sluice(['launch', '-q', `uri location=rtsp://viewer:secret@127.0.0.1:${srv.port}/x timeout=1200 reconnect=false ! fakesink`], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /SLUICE_ERR_TIMEOUT: cannot open rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/x: no complete answer within 1200 ms \(timeout\)/);
    assert.doesNotMatch(r.stderr, /Invalid data found|secret/);
    // A reconnecting source (1 s attempts, each timing out) at Ctrl-C: it took 1.4-2 s.
    for (const wait of [1300, 2700]) {
      const { res, sentAt } = await interruptWhilePlaying(`uri location=rtsp://127.0.0.1:${srv.port}/x timeout=1000 reconnect-interval=200 ! fakesink`, wait);
      assert.equal(res.code, 0, res.out);
      assert.ok(res.exitedAt - sentAt < 1000, `exited ${res.exitedAt - sentAt} ms after SIGINT (sent ${wait} ms in)`);
    }
  } finally {
    srv.close();
  }
});

/** GStreamer's RTSP server (test/fixtures) on a free port, serving /cam. */
async function gstCamera(): Promise<{ port: number; proc: ReturnType<typeof spawn> }> {
  const port = await freePort();
  const proc = spawn('/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'gst-rtsp-camera.py'), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  for (let i = 0; i < 100 && !out.includes('ready'); i++) await sleep(50);
  assert.match(out, /ready/, `camera did not start: ${out}`);
  return { port, proc };
}

test('an RTSP camera that ends with reconnect=false: the only input is an error (exit 1, it was rc 0 in silence); one of several is a warning and the others go on', { timeout: 60_000 }, async () => {
  for (const alone of [true, false]) {
    const cam = await gstCamera();
    let frames = 0;
    const uri = `uri location=rtsp://127.0.0.1:${cam.port}/cam reconnect=false`;
    const pipeline = alone ? `${uri} ! identity name=seen ! fakesink` : `${uri} ! m.  testsrc live=true fps=30 num-frames=150 width=64 height=48 ! m.  mux name=m ! fakesink`;
    // The camera is killed once frames flow (polled through the progress blocks, one a second).
    const run = runNode([BIN, 'launch', '-q', '--progress', '-', pipeline], {
      onLine: (l) => { const m = /^frame=(\d+)/.exec(l); if (m) frames = Number(m[1]); },
    });
    for (let i = 0; i < 200 && frames < 10; i++) await sleep(50);
    cam.proc.kill('SIGKILL');
    const r = await run;
    const said = /the network stream ended \(.*\) after \d+ frames, and reconnect=false; set reconnect=true/;
    if (alone) {
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`error: SLUICE_ERR_STREAM_ENDED: rtsp://127\\.0\\.0\\.1:${cam.port}/cam: ${said.source}`));
    } else {
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`warning: uri0: rtsp://127\\.0\\.0\\.1:${cam.port}/cam: ${said.source}`));
    }
  }
});

test('a 0-byte, truncated or non-ONNX model: SLUICE_ERR_MODEL naming the file and what is wrong (not "Cannot read properties of null")', { timeout: 30_000 }, async () => {
  const dir = tmp();
  const empty = join(dir, 'empty.onnx'), cut = join(dir, 'cut.onnx'), text = join(dir, 'text.onnx');
  writeFileSync(empty, '');
  writeFileSync(cut, readFileSync(MODEL).subarray(0, 5000));
  writeFileSync(text, 'not a model\n'.repeat(100));
  const cases: [string, RegExp][] = [
    [empty, /is empty \(0 bytes\), not an ONNX model; download it again/],
    [cut, /\(5000 bytes\) is not a readable ONNX model, truncated or another kind of file/],
    [text, /\(1200 bytes\) is not a readable ONNX model, truncated or another kind of file/],
  ];
  for (const [file, why] of cases) {
    await assert.rejects(launch(`testsrc num-frames=2 width=64 height=48 ! infer model=${file} ! fakesink`).run(), (e: SluiceError) => {
      assert.equal(e.code, 'SLUICE_ERR_MODEL');
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, why);
      assert.doesNotMatch(e.message, /Cannot read properties/);
      return true;
    });
  }
});
