// The live view of `sluice remote`: the processed camera comes back to the page over WebRTC through
// the same viewer page the webrtc sink serves (framed at /live on the remote port), with the JPEG
// frames of the WebSocket as the fallback. Real Chromium (fake camera playing a real video frame),
// real FFmpeg for the ground truth, the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Frame, Page } from 'playwright-core';
import { ROOT, freePort, launchChromium, media, tmp } from './helpers.ts';
import { remotePipeline } from '../src/cli/remote.ts';
import { launch } from '../src/index.ts';

const W = 640, H = 480;

/** A one-frame camera (y4m, looped by Chromium's fake device) and FFmpeg's RGB of it. */
function camera(): { y4m: string; truth: Buffer } {
  const y4m = join(tmp(), 'camera.y4m');
  execFileSync('ffmpeg', ['-v', 'error', '-ss', '10.5', '-i', media('one-by-one-person-detection.mp4'), '-frames:v', '1', '-vf', `scale=${W}:${H}`, '-pix_fmt', 'yuv420p', y4m]);
  const truth = execFileSync('ffmpeg', ['-v', 'error', '-i', y4m, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 16 << 20 });
  return { y4m, truth };
}

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

type RemoteStats = { sent: number; drawn: number; view: string; liveError: string };
const remoteStats = (page: Page) => page.evaluate('window.sluiceStats') as Promise<RemoteStats>;

async function until<T>(what: string, ms: number, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() - t0 > ms) throw new Error(`${what} not within ${ms} ms: ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

/** Mean absolute difference per channel of the framed <video> from the camera's negative and from the camera itself (on a 16-pixel grid). */
async function compare(frame: Frame, truth: Buffer): Promise<{ inv: number; same: number; w: number; h: number }> {
  const r = await frame.evaluate(`(() => {
    const v = document.querySelector('video');
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    return { w: c.width, h: c.height, px: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
  })()`) as { w: number; h: number; px: number[] };
  let inv = 0, same = 0, n = 0;
  for (let y = 8; y < H; y += 16) {
    for (let x = 8; x < W; x += 16) {
      const i = (y * r.w + x) * 4, j = (y * W + x) * 3;
      for (let k = 0; k < 3; k++) { inv += Math.abs(r.px[i + k]! - (255 - truth[j + k]!)); same += Math.abs(r.px[i + k]! - truth[j + k]!); n++; }
    }
  }
  return { inv: inv / n, same: same / n, w: r.w, h: r.h };
}

test('sluice remote: the page shows the result through the WebRTC viewer page on the same port; the picture is the negative of the camera', { timeout: 180_000 }, async () => {
  const { y4m, truth } = camera();
  const port = await freePort();
  const server = await startRemote(['--task', 'invert', '--port', String(port), '--token', 's3cret']);
  const browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    const s = await until('the WebRTC view', 60_000, () => remoteStats(page), (v) => v.view === 'webrtc' || !!v.liveError);
    assert.equal(s.view, 'webrtc', JSON.stringify(s));
    const live = page.frames().find((f) => new URL(f.url()).pathname === '/live');
    assert.ok(live, `no /live frame among ${page.frames().map((f) => f.url())}`);
    type Viewer = { mode: string; frames: number; mount: string };
    const viewer = () => live.evaluate('window.sluiceStats') as Promise<Viewer>;
    const a = await viewer(), a0 = await remoteStats(page);
    await sleep(3000);
    const b = await viewer(), b0 = await remoteStats(page);
    assert.equal(b.mode, 'webrtc');
    assert.equal(b.mount, 'remote');
    // The result comes at the camera's round-trip rate (Chromium's fake camera, JPEG over the
    // WebSocket, invert): WebRTC keeps up with the JPEG frames that arrive in the same 3 s.
    const jpegs = b0.drawn - a0.drawn, shown = b.frames - a.frames;
    assert.ok(jpegs >= 15, `only ${jpegs} results came back in 3 s`);
    assert.ok(shown >= 0.7 * jpegs, `${shown} frames presented over WebRTC in 3 s, ${jpegs} over the WebSocket`);
    const c = await compare(live, truth);
    console.log(`remote live view: ${shown} frames in 3 s over WebRTC (${jpegs} JPEGs over the WebSocket); mean |difference| from the negative ${c.inv.toFixed(1)}, from the camera ${c.same.toFixed(1)}`);
    assert.deepEqual([c.w, c.h], [W, H]);
    // JPEG twice and H.264 once cost a few levels; the camera frame itself is far from its negative.
    assert.ok(c.inv < 20 && c.same > 3 * c.inv, JSON.stringify(c));
    // The canvas (the fallback) is hidden while WebRTC plays, and the JPEG frames still arrive for it.
    assert.equal(await page.evaluate('document.getElementById("out").hidden'), true);
    assert.ok((await remoteStats(page)).drawn > 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.proc.kill('SIGINT');
    await server.exit;
  }
});

test('sluice remote: in a browser without WebRTC the page falls back to the JPEG frames of the WebSocket', { timeout: 180_000 }, async () => {
  const { y4m, truth } = camera();
  const port = await freePort();
  const server = await startRemote(['--task', 'invert', '--port', String(port), '--token', 's3cret']);
  const browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const page = await browser.newPage();
    // WebRTC switched off, as browser policies and privacy extensions do (in every frame of the page).
    await page.addInitScript('delete window.RTCPeerConnection');
    await page.goto(server.url);
    const s = await until('the fallback', 60_000, () => remoteStats(page), (v) => !!v.liveError && v.drawn >= 15);
    assert.equal(s.view, 'mjpeg', JSON.stringify(s));
    assert.match(s.liveError, /RTCPeerConnection/);
    assert.equal(await page.evaluate('document.getElementById("out").hidden'), false);
    assert.equal(await page.evaluate('document.getElementById("live")'), null, 'the viewer frame is removed');
    // The canvas shows the negative.
    const px = await page.evaluate(`Array.from(document.getElementById('out').getContext('2d').getImageData(0, 0, ${W}, ${H}).data)`) as number[];
    let inv = 0;
    for (let i = 0, j = 0; j < truth.length; i += 4, j += 3) for (let k = 0; k < 3; k++) inv += Math.abs(px[i + k]! - (255 - truth[j + k]!));
    assert.ok(inv / (W * H * 3) < 12, `canvas ${inv / (W * H * 3)} levels from the negative`);
  } finally {
    await browser.close();
    server.proc.kill('SIGINT');
    await server.exit;
  }
});

interface Reply { status: number; body: string }
function http(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { b += d; });
      r.on('end', () => res({ status: r.statusCode ?? 0, body: b }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

test('the live view on the remote port from the attacker\'s side: no token, wrong token, foreign Host, garbage SDP are refused before any SDP is parsed, and counted', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const p = launch(remotePipeline({ task: 'invert', host: '127.0.0.1', port, token: 's3cret' }));
  await p.setState('playing');
  try {
    const offer = { 'content-type': 'application/sdp' };
    assert.equal((await http(port, 'POST', '/whep/remote', offer, 'v=0\r\n')).status, 401);
    assert.equal((await http(port, 'POST', '/whep/remote', { ...offer, authorization: 'Bearer nope' }, 'v=0\r\n')).status, 401);
    assert.equal((await http(port, 'GET', '/mounts?token=nope')).status, 401);
    assert.equal((await http(port, 'POST', '/whep/remote', { ...offer, authorization: 'Bearer s3cret', host: 'evil.example' }, 'v=0\r\n')).status, 403);
    assert.equal((await http(port, 'POST', '/whep/remote', { ...offer, authorization: 'Bearer s3cret' }, 'not an sdp at all')).status, 400);
    // The right token lists the mount; the page is at /live (and the remote page still at /).
    const m = await http(port, 'GET', '/mounts', { authorization: 'Bearer s3cret' });
    assert.equal(m.status, 200);
    assert.deepEqual((JSON.parse(m.body) as { mounts: { name: string; kind: string }[] }).mounts.map((x) => [x.name, x.kind]), [['remote', 'webrtc']]);
    assert.match((await http(port, 'GET', '/live?token=s3cret')).body, /<title>Sluice live<\/title>/);
    assert.match((await http(port, 'GET', '/')).body, /<title>Sluice remote<\/title>/);
    const cfg = JSON.parse((await http(port, 'GET', '/config.json')).body) as { live: boolean };
    assert.equal(cfg.live, true);
    const r = p.report().elements.live!.resolved as Record<string, number>;
    assert.equal(r.rejected_token, 3, JSON.stringify(r));
    // A foreign Host is refused by the port's hub before it reaches the viewer, counted with the camera's or display's refusals (the hub's first server).
    const hub = ['camera', 'screen'].map((n) => (p.report().elements[n]!.resolved as Record<string, number>).rejected_host ?? 0);
    assert.equal(hub[0]! + hub[1]!, 1, JSON.stringify(hub));
    assert.equal(r.rejected_badSdp, 1, JSON.stringify(r));
    assert.equal(r.viewers, 0);
  } finally {
    p.sendEosRequest();
    await p.setState('null');
  }
});
