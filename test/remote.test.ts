// `sluice remote` against a real browser: Debian's Chromium, driven by playwright-core, with a fake
// camera playing a frame of a real video. The page sends the camera to the server, the server
// inverts it, and what the page draws is compared with FFmpeg's own decode of the camera frame.
import { test } from 'node:test';
import { get as httpGet } from 'node:http';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ROOT, freePort, launchChromium, media, sluice, tmp } from './helpers.ts';
import { FORMAT_JPEG, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../src/net/protocol.ts';
import { JpegCodec } from '../src/net/jpeg.ts';
import { remotePipeline } from '../src/cli/remote.ts';

const W = 640, H = 480;

/** Start the real CLI and wait until it prints the page address. */
async function startRemote(args: string[]): Promise<{ proc: ChildProcess; url: string; log: () => string; exit: Promise<number | null> }> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'remote', '-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exit = new Promise<number | null>((r) => proc.on('close', (c) => r(c)));
  const url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no page address within 60 s:\n${log}`)), 60_000);
    proc.stderr!.on('data', (d) => {
      log += d;
      const m = /open (http:\/\/\S+)/.exec(log);
      if (m) { clearTimeout(t); res(m[1]!); }
    });
    proc.on('close', (c) => { clearTimeout(t); rej(new Error(`sluice remote exited (${c}):\n${log}`)); });
  });
  return { proc, url, log: () => log, exit };
}

/** A WebSocket client of `sluice remote` on `port`, past its hello; `back` collects what comes back. */
async function wsPage(pageUrl: string): Promise<{ ws: WebSocket; back: Buffer[] }> {
  // As the page does: the token of its own address on the WebSocket URL and in the hello.
  const u = new URL(pageUrl);
  const token = u.searchParams.get('token') ?? '';
  const ws = new WebSocket(`ws://${u.host}/ws${u.search}`);
  await new Promise((r) => ws.once('open', r));
  ws.send(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(token) }));
  const back: Buffer[] = [];
  ws.on('message', (d: Buffer) => back.push(d));
  return { ws, back };
}

/** Chromium whose camera plays `y4m` (its fake capture device), granted without a prompt. */
const launch = (y4m: string) => launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);

test('sluice remote --task invert: Chromium\'s camera goes through the server and the page draws the negative', { timeout: 180_000 }, async () => {
  const dir = tmp();
  // The fake camera plays one frame of a real video (a person in a room), looped by Chromium.
  const y4m = join(dir, 'camera.y4m');
  execFileSync('ffmpeg', ['-v', 'error', '-ss', '10.5', '-i', media('one-by-one-person-detection.mp4'), '-frames:v', '1', '-vf', `scale=${W}:${H}`, '-pix_fmt', 'yuv420p', y4m]);
  // Ground truth by FFmpeg, not by our code: the camera frame in RGB.
  const truth = execFileSync('ffmpeg', ['-v', 'error', '-i', y4m, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 16 << 20 });
  const port = await freePort();
  const server = await startRemote(['--task', 'invert', '--port', String(port), '--token', 's3cret']);
  const browser = await launch(y4m);
  try {
    assert.match(server.url, new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=s3cret$`));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    // Page code is written as strings: it runs in the browser, not under Node's types.
    await page.waitForFunction('window.sluiceStats.drawn >= 15', undefined, { timeout: 60_000 });
    const r = await page.evaluate(`(() => {
      const c = document.getElementById('out');
      const s = window.sluiceStats;
      return { w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), sent: s.sent, drawn: s.drawn, rtt: s.rtt, lastSeq: s.lastSeq, header: document.querySelector('header').textContent };
    })()`) as { w: number; h: number; px: number[]; sent: number; drawn: number; rtt: number[]; lastSeq: number; header: string };
    assert.deepEqual(errors, []);
    assert.deepEqual([r.w, r.h], [W, H]);
    let inv = 0, same = 0;
    for (let i = 0, j = 0; j < truth.length; i += 4, j += 3) {
      for (let k = 0; k < 3; k++) { inv += Math.abs(r.px[i + k]! - (255 - truth[j + k]!)); same += Math.abs(r.px[i + k]! - truth[j + k]!); }
    }
    const n = W * H * 3;
    // Two JPEG round trips cost a few levels; the original frame is ~120 levels away.
    assert.ok(inv / n < 8, `drawn frame vs inverted camera frame: mean error ${(inv / n).toFixed(2)}`);
    assert.ok(same / n > 60, `drawn frame looks like the camera frame itself (mean difference ${(same / n).toFixed(2)})`);
    // Frames keep flowing: the page drew many, echoing capture times it sent (round trips measured).
    assert.ok(r.drawn >= 15 && r.sent >= r.drawn && r.lastSeq >= 14, JSON.stringify({ sent: r.sent, drawn: r.drawn, lastSeq: r.lastSeq }));
    assert.ok(r.rtt.length >= 15 && r.rtt.every((x) => x > 0 && x < 5000), `round trips: ${r.rtt.slice(0, 5)}`);
    assert.match(r.header, /round trip p50 \d+ ms/);

    // The same port refuses a wrong token and a cross-site page, and serves an <img> viewer.
    const wsUrl = `ws://127.0.0.1:${port}/ws?token=s3cret`;
    // A wrong token is refused before any WebSocket exists (no buffers for it); a right one in
    // the URL with a wrong hello is closed with a policy-violation code.
    const status = (url: string, headers: Record<string, string> = {}) => new Promise<string>((res) => {
      const ws = new WebSocket(url, { headers });
      ws.on('unexpected-response', (_q, resp) => res(String(resp.statusCode)));
      ws.on('open', () => { ws.close(); res('open'); });
      ws.on('error', (e) => res(e.message));
    });
    assert.equal(await status(`ws://127.0.0.1:${port}/ws?token=wrong`), '401');
    assert.equal(await status(`ws://127.0.0.1:${port}/ws`), '401');
    // DNS rebinding: a page on evil.example (resolving to 127.0.0.1) has matching Origin and Host.
    assert.equal(await status(wsUrl, { origin: `http://evil.example:${port}`, host: `evil.example:${port}` }), '403');
    const pageStatus = await new Promise<number>((res, rej) => { httpGet({ host: '127.0.0.1', port, path: '/', headers: { host: `evil.example:${port}` } }, (r) => { r.resume(); res(r.statusCode!); }).on('error', rej); });
    assert.equal(pageStatus, 403);
    const closed = await new Promise<number>((res) => {
      const ws = new WebSocket(wsUrl);
      ws.on('open', () => ws.send(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from('wrong') })));
      ws.on('close', (code) => res(code));
    });
    assert.equal(closed, 1008);
    const crossSite = await new Promise<string>((res) => {
      const ws = new WebSocket(wsUrl, { headers: { origin: 'http://evil.example' } });
      ws.on('unexpected-response', (_q, resp) => res(String(resp.statusCode)));
      ws.on('error', (e) => res(e.message));
    });
    assert.match(crossSite, /403/);
    const mj = await fetch(`http://127.0.0.1:${port}/stream.mjpeg?token=s3cret`);
    assert.equal(mj.status, 200);
    assert.match(mj.headers.get('content-type')!, /multipart\/x-mixed-replace/);
    const reader = mj.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString('latin1'), /--sluiceframe\r\ncontent-type: image\/jpeg/);
    await reader.cancel();
    assert.equal((await fetch(`http://127.0.0.1:${port}/stream.mjpeg?token=nope`)).status, 403);
  } finally {
    await browser.close();
    server.proc.kill('SIGINT');
  }
  // Ctrl-C ends the pipeline cleanly.
  assert.equal(await server.exit, 0, server.log());
});

test('netcam web=true + display web=true: a WebSocket camera client gets its frames back processed, with its capture times', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const server = await startRemote(['--task', 'invert', '--port', String(port)]);
  const codec = new JpegCodec();
  try {
    const grey = new Uint8Array(W * H * 1.5).fill(128);
    grey.fill(40, 0, W * H);
    const jpeg = await codec.encode({ width: W, height: H, format: 'yuvj420p', data: grey }, 3);
    const { ws, back: raw } = await wsPage(server.url);
    for (let i = 0; i < 20 && raw.length < 5; i++) {
      ws.send(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: 100 + i, ts: 1000 + i, width: W, height: H, payload: jpeg }));
      await new Promise((r) => setTimeout(r, 100));
    }
    ws.close();
    const back = raw.map((d) => ({ seq: d.readUInt32BE(8), ts: d.readDoubleBE(12), jpeg: d.subarray(28) }));
    assert.ok(back.length >= 5, `frames back: ${back.length}`);
    for (const b of back) assert.equal(b.ts, 1000 + (b.seq - 100), 'capture time echoed with its sequence number');
    const img = await codec.decode(back.at(-1)!.jpeg);
    // Luma 40 comes back as 255 - 40 (full-range JPEG), give or take JPEG rounding.
    assert.ok(Math.abs(img.data[W * (H / 2) + W / 2]! - 215) <= 3, `centre luma ${img.data[W * (H / 2) + W / 2]}`);
  } finally {
    await codec.close();
    server.proc.kill('SIGINT');
  }
  assert.equal(await server.exit, 0, server.log());
});

test('two pages stream their cameras to one sluice remote: each sees only its own results, a watch-only page sees both', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const server = await startRemote(['--task', 'invert', '--port', String(port)]);
  const codec = new JpegCodec();
  const page = () => wsPage(server.url);
  // Centre luma of a frame that came back (protocol header, then the JPEG).
  const centre = async (msg: Buffer) => (await codec.decode(msg.subarray(28))).data[W * (H / 2) + W / 2]!;
  try {
    // Two cameras, one dark (luma 40) and one bright (luma 200), interleaved into one pipeline.
    const cams = await Promise.all([40, 200].map(async (luma) => {
      const img = new Uint8Array(W * H * 1.5).fill(128);
      img.fill(luma, 0, W * H);
      return { luma, jpeg: await codec.encode({ width: W, height: H, format: 'yuvj420p', data: img }, 3), ...(await page()) };
    }));
    const watcher = await page();
    for (let i = 0; i < 40 && cams.some((c) => c.back.length < 5); i++) {
      for (const c of cams) c.ws.send(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: i, ts: Date.now(), width: W, height: H, payload: c.jpeg }));
      await new Promise((r) => setTimeout(r, 60));
    }
    for (const c of [...cams, watcher]) c.ws.close();
    for (const c of cams) {
      assert.ok(c.back.length >= 5, `the luma ${c.luma} page got ${c.back.length} frames back`);
      // Every frame back is this page's own camera, inverted: 255 - luma, give or take JPEG rounding.
      for (const j of c.back) assert.ok(Math.abs((await centre(j)) - (255 - c.luma)) <= 3, `the luma ${c.luma} page got a frame of centre ${await centre(j)}`);
    }
    const seen = new Set(await Promise.all(watcher.back.map(async (j) => Math.round((await centre(j)) / 20))));
    assert.ok(seen.has(Math.round(215 / 20)) && seen.has(Math.round(55 / 20)), `the watch-only page saw centres ${[...seen].map((x) => x * 20)}`);
  } finally {
    await codec.close();
    server.proc.kill('SIGINT');
  }
  assert.equal(await server.exit, 0, server.log());
});

test('sluice remote: a bad task or model fails before anything listens, naming what to fix', async () => {
  const bad = await sluice(['remote', '--task', 'paint']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--task must be one of auto, invert, classify, detect, segment, blur/);
  // With only --model the task is auto: infer (adapter from the tensors) then osd.
  assert.equal(remotePipeline({ model: 'm.onnx', host: '127.0.0.1', port: 8080, token: '', live: false }),
    'netcam name=camera host=127.0.0.1 port=8080 web=true ! infer model=m.onnx ! osd fps=true ! display name=screen host=127.0.0.1 port=8080 web=true');
  assert.match(remotePipeline({ host: '127.0.0.1', port: 1, token: 'a b' }), /! invert ! .*token="a b"/);
  const missing = await sluice(['remote', '--task', 'classify', '--model', join(tmp(), 'none.onnx')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /SLUICE_ERR_FILE_NOT_FOUND.*none\.onnx/);
  assert.doesNotMatch(missing.stderr, /open http/);
});

test('sluice view without --out relays a display stream to a local page that Chromium draws; webcam-client names a missing camera', { timeout: 120_000 }, async () => {
  const displayPort = await freePort(), pagePort = await freePort();
  const src = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'launch', '-q', 'testsrc', 'live=true', 'pattern=bars', '!', 'display', `port=${displayPort}`, 'token=abc'], { stdio: 'ignore' });
  const srcExit = new Promise((r) => src.on('close', r));
  let viewer: ChildProcess | undefined;
  try {
    // The display listens once its pipeline plays; retry the viewer until it connects.
    let url = '';
    let log = '';
    for (let i = 0; i < 50 && !url; i++) {
      viewer = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'view', '--server', `127.0.0.1:${displayPort}`, '--token', 'abc', '--port', String(pagePort)], { stdio: ['ignore', 'ignore', 'pipe'] });
      const v = viewer;
      log = '';
      url = await new Promise<string>((res) => {
        v.stderr!.on('data', (d) => { log += d; const m = /open (http:\/\/\S+)/.exec(log); if (m) res(m[1]!); });
        v.on('close', () => res(''));
      });
      if (!url) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(url, `http://127.0.0.1:${pagePort}/`, log);
    const cfg = await (await fetch(`${url}config.json`)).json();
    assert.deepEqual(cfg, { camera: false, display: true, token: false });
    // The page in Chromium draws the relayed frames.
    const browser = await launch('/dev/null');
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForFunction('window.sluiceStats.drawn >= 5', undefined, { timeout: 30_000 });
      assert.equal(await page.evaluate('window.sluiceStats.sent'), 0);
    } finally {
      await browser.close();
    }
  } finally {
    viewer?.kill('SIGINT');
    src.kill('SIGINT');
  }
  await srcExit;
  const r = await sluice(['webcam-client', '--server', '127.0.0.1:9', '--device', '/dev/video-none']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_MEDIA_OPEN: cannot open camera \/dev\/video-none .*--list-devices/);
  const l = await sluice(['webcam-client', '--list-devices']);
  assert.equal(l.code, 0, l.stderr);
  assert.ok(l.stdout.trim().length > 0);
});
