// The rtsp sink is a real RTSP server: FFmpeg (a client we did not write) reads it over TCP
// interleaved and UDP, the pictures it decodes are the ones Sluice encoded, and bad or slow
// clients cannot hurt a good one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, type Pipeline } from '../src/index.ts';
import { ROOT, freePort, liveMemoryMB, tmp } from './helpers.ts';

/** FFmpeg reading N frames of an RTSP URL as gray pixels; its exit code and the bytes. */
function ffmpegRead(url: string, frames: number, transport: 'tcp' | 'udp', timeoutMs = 20_000): Promise<{ code: number | null; pixels: Buffer; err: string }> {
  return new Promise((res) => {
    const p = spawn('ffmpeg', ['-v', 'error', ...(url.startsWith('rtsp:') ? ['-rtsp_transport', transport] : []), '-i', url, '-frames:v', String(frames), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => { err += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { clearTimeout(t); res({ code, pixels: Buffer.concat(out), err }); });
  });
}

/** A live bars source encoded and served; resolves once it plays. */
async function serve(port: number, extra = '', mount = '/ds'): Promise<Pipeline> {
  const p = launch(`testsrc pattern=bars live=true fps=30 width=160 height=120 ! encode preset=ultrafast tune=zerolatency gop=10 ! rtsp port=${port} mount=${mount} ${extra}`);
  await p.setState('playing');
  return p;
}

async function stop(p: Pipeline): Promise<void> {
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
}

/** Reference: the same bars, encoded by the same settings, decoded by FFmpeg from a file. */
async function referenceBars(): Promise<Buffer> {
  const f = join(tmp(), 'ref.mkv');
  await launch(`testsrc pattern=bars num-frames=1 width=160 height=120 ! encode preset=ultrafast tune=zerolatency gop=10 ! file location=${f}`).run();
  const r = await ffmpegRead(f, 1, 'tcp');
  return r.pixels;
}

const meanDiff = (a: Buffer, b: Buffer) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!); return s / a.length; };

test('FFmpeg reads the stream over TCP interleaved and over UDP; the pictures are what Sluice encoded', async () => {
  const port = await freePort();
  const p = await serve(port);
  try {
    const ref = await referenceBars();
    for (const transport of ['tcp', 'udp'] as const) {
      const r = await ffmpegRead(`rtsp://127.0.0.1:${port}/ds`, 20, transport);
      assert.equal(r.code, 0, `${transport}: ${r.err}`);
      assert.equal(r.pixels.length, 20 * 160 * 120, `${transport}: 20 frames of 160x120`);
      for (let i = 0; i < 20; i += 7) {
        const d = meanDiff(r.pixels.subarray(i * 160 * 120, (i + 1) * 160 * 120), ref);
        assert.ok(d < 3, `${transport} frame ${i}: mean luma difference ${d.toFixed(2)} from the reference`);
      }
    }
  } finally {
    await stop(p);
  }
});

test('two rtsp sinks share a port with two mounts; an unknown mount is 404', async () => {
  const port = await freePort();
  const p = launch(`testsrc pattern=bars live=true fps=30 width=160 height=120 ! encode preset=ultrafast gop=10 ! tee name=t  t. ! queue ! rtsp port=${port} mount=/a  t. ! queue ! rtsp port=${port} mount=/b`);
  await p.setState('playing');
  try {
    for (const m of ['/a', '/b']) {
      const r = await ffmpegRead(`rtsp://127.0.0.1:${port}${m}`, 5, 'tcp');
      assert.equal(r.code, 0, `${m}: ${r.err}`);
      assert.equal(r.pixels.length, 5 * 160 * 120);
    }
    const none = await rawRequest(port, 'DESCRIBE rtsp://127.0.0.1/nope RTSP/1.0\r\nCSeq: 2\r\n\r\n');
    assert.match(none, /^RTSP\/1\.0 404 Not Found\r\nCSeq: 2/);
  } finally {
    await stop(p);
  }
});

test('with user and password, clients without them get 401; the password can come from SLUICE_RTSP_PASSWORD', async () => {
  const port = await freePort();
  process.env.SLUICE_RTSP_PASSWORD = 's3cret';
  const p = await serve(port, 'user=viewer');
  delete process.env.SLUICE_RTSP_PASSWORD;
  try {
    const denied = await rawRequest(port, `DESCRIBE rtsp://127.0.0.1:${port}/ds RTSP/1.0\r\nCSeq: 3\r\n\r\n`);
    assert.match(denied, /^RTSP\/1\.0 401 Unauthorized[\s\S]*WWW-Authenticate: Digest realm="sluice", nonce="\w+"[\s\S]*WWW-Authenticate: Basic realm="sluice"/);
    // Digest (RFC 2617), computed here independently of the server.
    const nonce = /nonce="(\w+)"/.exec(denied)![1]!;
    const md5 = (x: string) => createHash('md5').update(x).digest('hex');
    const uri = `rtsp://127.0.0.1:${port}/ds`;
    const digest = (pass: string) => `Digest username="viewer", realm="sluice", nonce="${nonce}", uri="${uri}", response="${md5(`${md5(`viewer:sluice:${pass}`)}:${nonce}:${md5(`DESCRIBE:${uri}`)}`)}"`;
    assert.match(await rawRequest(port, `DESCRIBE ${uri} RTSP/1.0\r\nCSeq: 4\r\nAuthorization: ${digest('s3cret')}\r\n\r\n`), /^RTSP\/1\.0 200 OK/);
    assert.match(await rawRequest(port, `DESCRIBE ${uri} RTSP/1.0\r\nCSeq: 5\r\nAuthorization: ${digest('wrong')}\r\n\r\n`), /^RTSP\/1\.0 401/);
    const wrong = await ffmpegRead(`rtsp://viewer:nope@127.0.0.1:${port}/ds`, 1, 'tcp', 10_000);
    assert.notEqual(wrong.code, 0);
    const ok = await ffmpegRead(`rtsp://viewer:s3cret@127.0.0.1:${port}/ds`, 5, 'tcp');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.pixels.length, 5 * 160 * 120);
  } finally {
    await stop(p);
  }
});

function rawRequest(port: number, text: string | Buffer): Promise<string> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) s.end(); });
    s.on('close', () => res(got));
    s.on('error', () => res(got));
    setTimeout(() => s.destroy(), 3000);
  });
}

test('garbage, oversized headers, 100 half-open connections and a stalled reader leave a good client served', async () => {
  const port = await freePort();
  const p = await serve(port);
  const held: ReturnType<typeof connect>[] = [];
  try {
    assert.match(await rawRequest(port, 'HELLO\r\n\r\n'), /^RTSP\/1\.0 400 Bad Request/);
    assert.match(await rawRequest(port, `OPTIONS rtsp://x/ds RTSP/1.0\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^RTSP\/1\.0 431/);
    for (let i = 0; i < 100; i++) held.push(connect(port, '127.0.0.1').on('error', () => {}));
    // A reader that plays over TCP and then never reads: its backlog is capped, it skips to keyframes.
    const stalled = connect(port, '127.0.0.1');
    stalled.on('error', () => {});
    const url = `rtsp://127.0.0.1:${port}/ds`;
    let replies = '';
    stalled.on('data', (d) => { replies += d.toString('latin1'); });
    stalled.write(`SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`);
    for (let i = 0; i < 50 && !/Session: (\w+)/.test(replies); i++) await sleep(20);
    const session = /Session: (\w+)/.exec(replies)![1];
    stalled.write(`PLAY ${url} RTSP/1.0\r\nCSeq: 2\r\nSession: ${session}\r\n\r\n`);
    await sleep(200);
    stalled.pause();
    const good = await ffmpegRead(url, 30, 'tcp');
    assert.equal(good.code, 0, good.err);
    assert.equal(good.pixels.length, 30 * 160 * 120);
    // The pipeline kept its pace (a live 30 fps source): nothing waited on the stalled socket.
    const r = p.report();
    assert.ok(r.elements.rtsp0!.framesIn >= r.elements.testsrc0!.framesOut - 5);
    stalled.destroy();
  } finally {
    for (const s of held) s.destroy();
    await stop(p);
  }
});

test('the server binds 127.0.0.1 by default and says where; a second sink on the same mount is a coded error', async () => {
  const port = await freePort();
  const p = launch(`testsrc pattern=bars live=true fps=30 width=160 height=120 ! encode preset=ultrafast gop=10 ! rtsp port=${port}`);
  const urls: string[] = [];
  p.bus.on('element', (m) => { if (m.name === 'rtsp-url') urls.push(String(m.data.url)); });
  await p.setState('playing');
  try {
    assert.deepEqual(urls, [`rtsp://127.0.0.1:${port}/ds`]);
    const other = launch(`testsrc num-frames=1 ! encode ! rtsp port=${port} mount=/ds`);
    await assert.rejects(other.run(), /mount \/ds is already served/);
  } finally {
    await stop(p);
  }
});

test('a session with no keep-alive expires (SLUICE_RTSP_SESSION_TIMEOUT, 60 s by default)', async () => {
  const port = await freePort();
  // The timeout is read when the module loads: a separate process with a 2 s one.
  const script = `
    import { launch } from './src/index.ts';
    const p = launch('testsrc pattern=bars live=true fps=30 width=160 height=120 num-frames=240 ! encode preset=ultrafast gop=10 ! rtsp port=${port}');
    await p.run();`;
  const server = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, SLUICE_RTSP_SESSION_TIMEOUT: '2' }, stdio: 'ignore' });
  try {
    await sleep(1500);
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    let closedAt = 0;
    s.on('data', (d) => { got += d.length; });
    s.on('close', () => { closedAt = Date.now(); });
    const url = `rtsp://127.0.0.1:${port}/ds`;
    let text = '';
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.write(`SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`);
    for (let i = 0; i < 100 && !/Session: (\w+)/.test(text); i++) await sleep(20);
    s.write(`PLAY ${url} RTSP/1.0\r\nCSeq: 2\r\nSession: ${/Session: (\w+)/.exec(text)![1]}\r\n\r\n`);
    const t0 = Date.now();
    // This client reads but never sends anything again: no keep-alive, no RTCP.
    for (let i = 0; i < 100 && !closedAt; i++) await sleep(50);
    assert.ok(closedAt, 'the server closed the silent session');
    assert.ok(got > 2000, `it was streaming first (${got} bytes)`);
    assert.ok(closedAt - t0 >= 1500 && closedAt - t0 < 4500, `closed after ${closedAt - t0} ms`);
  } finally {
    server.kill('SIGKILL');
  }
});

test('a client that stops reading costs bounded memory: its backlog is capped and it skips to keyframes', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const p = launch(`testsrc pattern=noise live=true fps=30 width=640 height=360 ! encode preset=ultrafast tune=zerolatency gop=15 crf=10 ! rtsp port=${port}`);
  await p.setState('playing');
  const s = connect(port, '127.0.0.1');
  try {
    s.on('error', () => {});
    const url = `rtsp://127.0.0.1:${port}/ds`;
    let text = '';
    const onData = (d: Buffer) => { text += d.toString('latin1'); };
    s.on('data', onData);
    s.write(`SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`);
    for (let i = 0; i < 100 && !/Session: (\w+)/.test(text); i++) await sleep(20);
    s.write(`PLAY ${url} RTSP/1.0\r\nCSeq: 2\r\nSession: ${/Session: (\w+)/.exec(text)![1]}\r\n\r\n`);
    await sleep(300);
    s.off('data', onData);
    s.pause();
    // Buffers after a real gc(): what the stalled socket still holds, not garbage awaiting collection.
    const before = (await liveMemoryMB()).buffers;
    await sleep(4000);
    const grown = (await liveMemoryMB()).buffers - before;
    // Measured: ~4.7 MB with the 4 MB cap, 24 MB without it (noise at crf 10 over 4 s).
    assert.ok(grown < 10, `buffers grew ${grown.toFixed(1)} MB for a stalled client`);
    const r = p.report();
    assert.ok(r.elements.rtsp0!.framesIn >= 100, `the pipeline kept its pace: ${r.elements.rtsp0!.framesIn} frames in ~4.3 s`);
  } finally {
    s.destroy();
    p.sendEosRequest();
    await p.wait();
    await p.setState('null');
  }
});
