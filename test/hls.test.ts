// The `hls` sink: low-latency HLS (fMP4 segments and parts) on the live-view server. FFmpeg reads
// the playlist; Chromium's viewer page plays it (falling back from WebRTC when UDP is blocked),
// shows the bars, and the capture clock drawn into each frame gives the glass-to-glass latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, type Pipeline } from '../src/index.ts';
import { freePort, launchChromium } from './helpers.ts';
import { BARS, colourAt, stats } from './helpers/live-page.ts';

const run = promisify(execFile);
const W = 640, H = 360;

async function stop(p: Pipeline): Promise<void> {
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
}

test('hls: FFmpeg reads the playlist; Chromium without WebRTC falls back to it and plays the bars within 3 s of capture', { timeout: 180_000 }, async () => {
  const port = await freePort();
  const p = launch(`testsrc pattern=bars live=true code=true fps=30 width=${W} height=${H} ! encode preset=ultrafast tune=zerolatency gop=30 ! tee name=t `
    + `t. ! queue ! hls port=${port} mount=cam token=s3cret  t. ! queue ! webrtc port=${port} mount=cam token=s3cret`);
  await p.setState('playing');
  const base = `http://127.0.0.1:${port}/hls/cam`;
  try {
    // Guards: the token (query or Bearer) and the Host.
    assert.equal((await fetch(`${base}/index.m3u8`)).status, 401);
    assert.equal((await fetch(`${base}/index.m3u8?token=wrong`)).status, 401);
    // The first playlist waits for a complete segment.
    const first = await (await fetch(`${base}/index.m3u8`, { headers: { authorization: 'Bearer s3cret' } })).text();
    assert.match(first, /#EXT-X-PART-INF:PART-TARGET=0\.200/);
    assert.match(first, /#EXT-X-MAP:URI="init\.mp4"/);
    assert.match(first, /#EXT-X-PART:DURATION=[\d.]+,URI="part0\.0\.m4s",INDEPENDENT=YES/);
    // Blocking reload: asking for the part after the preload hint's answers when it exists.
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s/.exec(first)!;
    const [msn, part] = [Number(hint[1]), Number(hint[2])];
    const t0 = Date.now();
    const blocked = await (await fetch(`${base}/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}&token=s3cret`)).text();
    const waited = Date.now() - t0;
    assert.ok(blocked.includes(`part${msn}.${part}.m4s?token=s3cret"`), blocked);
    assert.ok(waited < 1500, `blocking reload took ${waited} ms (parts are 200 ms)`);
    assert.equal((await fetch(`${base}/index.m3u8?_HLS_msn=${msn + 10}&token=s3cret`)).status, 400);
    assert.equal((await fetch(`${base}/index.m3u8?_HLS_msn=x&token=s3cret`)).status, 400);

    // FFmpeg, an independent reader, opens the playlist (the token in its query is carried to every URI) and decodes it.
    const probe = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', `${base}/index.m3u8?token=s3cret`], { timeout: 30_000 });
    assert.equal(probe.stdout.trim().split('\n')[0], `h264,${W},${H}`);
    const dec = await run('ffmpeg', ['-v', 'error', '-i', `${base}/index.m3u8?token=s3cret`, '-t', '2', '-f', 'framecrc', '-'], { timeout: 30_000 });
    const frames = dec.stdout.split('\n').filter((l) => /^0,/.test(l)).length;
    assert.ok(frames >= 50, `ffmpeg decoded ${frames} frames of 2 s`);

    // A browser without WebRTC (as where a policy or proxy removes it): the page plays the HLS mount.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.addInitScript('delete window.RTCPeerConnection');
      await page.goto(`http://127.0.0.1:${port}/?token=s3cret`);
      const tw = Date.now();
      let s = await stats(page);
      while (s.frames < 30 && Date.now() - tw < 30_000) { await sleep(200); s = await stats(page); }
      assert.equal(s.mode, 'hls', JSON.stringify(s));
      const a = await stats(page);
      await sleep(3000);
      const b = await stats(page);
      assert.ok(b.frames - a.frames >= 60, `${b.frames - a.frames} frames presented in 3 s`);
      for (let i = 0; i < 7; i++) {
        const x = Math.round(((i + 0.5) * W) / 7);
        const c = await colourAt(page, x, Math.round(H / 3));
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(c[k]! - BARS[i]![k]!) <= 40, `bar ${i} at x=${x}: ${c} vs ${BARS[i]}`);
      }
      const lat = b.latency.slice(-60).sort((x, y) => x - y);
      assert.ok(lat.length >= 30, `only ${lat.length} frames carried a readable clock`);
      const p50 = lat[Math.floor(lat.length / 2)]!, max = lat[lat.length - 1]!;
      console.log(`hls glass-to-glass in Chromium: p50 ${p50} ms, max ${max} ms over ${lat.length} frames; webrtc failed with: ${s.error}`);
      assert.ok(max <= 3000, `HLS latency up to ${max} ms`);
    } finally {
      await browser.close();
    }
    const r = p.report().elements;
    const h = r[Object.keys(r).find((k) => k.startsWith('hls'))!]!.resolved as Record<string, number>;
    assert.ok(h.segments! >= 5 && h.parts! >= 25, JSON.stringify(h));
    assert.ok(h.rejected_token! >= 2, JSON.stringify(h));
  } finally {
    await stop(p);
  }
});
