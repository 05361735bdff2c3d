// The `webrtc` sink against a real browser (Debian's Chromium through playwright-core): the viewer
// page plays the mount over WHEP, the picture is testsrc's bars, and the capture clock testsrc
// draws into each frame is read back in the page (glass-to-glass). Then the attacker's side: wrong
// token, wrong Host, garbage SDP, floods of offers, and DELETEs of sessions that are not theirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { launch, type Pipeline } from '../src/index.ts';
import { freePort, launchChromium, liveMemoryMB } from './helpers.ts';
import { BARS, colourAt, http, stats, waitPlaying } from './helpers/live-page.ts';

const W = 640, H = 360;

/** A live bars source with the code strip, encoded with a long GOP (so a quick picture proves the keyframe request), served over WebRTC. */
async function serve(port: number, extra = '', gop = 600): Promise<Pipeline> {
  const p = launch(`testsrc pattern=bars live=true code=true fps=30 width=${W} height=${H} ! encode preset=ultrafast tune=zerolatency gop=${gop} ! webrtc port=${port} mount=cam ${extra}`);
  await p.setState('playing');
  return p;
}

async function stop(p: Pipeline): Promise<void> {
  p.sendEosRequest();
  await p.wait();
  await p.setState('null');
}

const resolved = (p: Pipeline) => p.report().elements.webrtc0!.resolved as Record<string, number>;

test('Chromium plays the WebRTC mount from the viewer page: >= 60 frames in 3 s, the bars, glass-to-glass p50 <= 150 ms', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const p = await serve(port, 'token=s3cret');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/?token=s3cret`);
    const first = await waitPlaying(page);
    assert.equal(first.mode, 'webrtc', JSON.stringify(first));
    // gop=600 is 20 s at 30 fps: a picture within seconds means the join asked the encoder for a keyframe.
    assert.ok(first.times.firstFrame! - first.times.offer! < 5000, `first frame ${first.times.firstFrame! - first.times.offer!} ms after the offer: ${JSON.stringify(first.times)}`);
    assert.ok(resolved(p).keyframeRequests! >= 1, JSON.stringify(resolved(p)));
    // Frames the browser presented in 3 s (requestVideoFrameCallback, counted by the page).
    await sleep(1000);
    const a = await stats(page);
    await sleep(3000);
    const b = await stats(page);
    assert.ok(b.frames - a.frames >= 60, `${b.frames - a.frames} frames presented in 3 s`);
    // The picture: each of the seven bars has its colour at mid-height (above the code strip).
    for (let i = 0; i < 7; i++) {
      const x = Math.round(((i + 0.5) * W) / 7);
      const c = await colourAt(page, x, Math.round(H / 3));
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(c[k]! - BARS[i]![k]!) <= 40, `bar ${i} at x=${x}: ${c} vs ${BARS[i]}`);
    }
    // Glass to glass: the capture clock drawn into each frame, read back where it is shown.
    const lat = b.latency.slice(-90).sort((x, y) => x - y);
    assert.ok(lat.length >= 60, `only ${lat.length} frames carried a readable clock`);
    const p50 = lat[Math.floor(lat.length / 2)]!, p99 = lat[Math.floor(lat.length * 0.99)]!;
    console.log(`webrtc glass-to-glass: p50 ${p50} ms, p99 ${p99} ms over ${lat.length} frames; ${b.frames - a.frames} frames in 3 s; connected ${first.times.connected! - first.times.offer!} ms, first frame ${first.times.firstFrame! - first.times.offer!} ms after the offer`);
    assert.ok(p50 <= 150, `glass-to-glass p50 ${p50} ms`);
    assert.equal(resolved(p).viewers, 1);
    await page.close();
    // The page's DELETE on leaving ends the session.
    const t0 = Date.now();
    while (resolved(p).viewers !== 0 && Date.now() - t0 < 5000) await sleep(100);
    assert.equal(resolved(p).viewers, 0, 'the session ended when the page left');
  } finally {
    await browser.close();
    await stop(p);
  }
});

/** `n` requests, `par` at a time, from `from` (a loopback address of its own: the backoff counts by address). */
async function flood(port: number, n: number, par: number, make: (i: number) => { method: string; path: string; headers?: Record<string, string>; body?: string }, from: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  let next = 0;
  const one = () => new Promise<number>((res) => {
    const r = make(next++);
    const req = request({ host: '127.0.0.1', port, localAddress: from, method: r.method, path: r.path, headers: { connection: 'close', ...r.headers }, agent: false }, (rs) => { rs.resume(); rs.on('end', () => res(rs.statusCode ?? 0)); });
    req.on('error', () => res(-1));
    req.end(r.body);
  });
  await Promise.all(Array.from({ length: par }, async () => {
    while (next < n) { const s = await one(); counts.set(s, (counts.get(s) ?? 0) + 1); }
  }));
  return counts;
}

test('WHEP from the attacker\'s side: token, Host, garbage SDP, 1,000 offers, foreign DELETEs are refused cheaply and counted; the viewer plays on', { timeout: 180_000 }, async () => {
  process.env.SLUICE_WHEP_CONNECT_TIMEOUT = '2';
  const port = await freePort();
  const p = await serve(port, 'token=s3cret max-per-address=8', 30);
  const browser = await launchChromium();
  const auth = { authorization: 'Bearer s3cret' };
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/?token=s3cret`);
    await waitPlaying(page);
    const session = (await page.evaluate('window.sluiceStats.session')) as string;
    assert.match(session, /^\/whep\/cam\/[0-9a-f]{32}$/);
    // A real offer to replay (Chromium's own).
    const offer = (await page.evaluate(`(async () => { const pc = new RTCPeerConnection(); pc.addTransceiver('video', { direction: 'recvonly' }); await pc.setLocalDescription(await pc.createOffer()); await new Promise((r) => setTimeout(r, 300)); const s = pc.localDescription.sdp; pc.close(); return s; })()`)) as string;
    const sdp = { 'content-type': 'application/sdp' };

    // No token, wrong token: 401 before the body is read; the page itself (no secret in it) is served.
    assert.equal((await http(port, 'POST', '/whep/cam', sdp, offer)).status, 401);
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, authorization: 'Bearer nope' }, offer)).status, 401);
    assert.equal((await http(port, 'GET', '/mounts?token=nope')).status, 401);
    assert.equal((await http(port, 'GET', '/')).status, 200);
    const mounts = JSON.parse((await http(port, 'GET', '/mounts', auth)).body);
    assert.deepEqual(mounts.mounts.map((m: { name: string; kind: string }) => `${m.kind}:${m.name}`), ['webrtc:cam']);
    // DNS rebinding: a Host that is not ours.
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, ...auth, host: `evil.example:${port}` }, offer)).status, 403);
    // Garbage with the right token: 400/413/415, nothing parsed past the first check.
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, ...auth }, 'hello')).status, 400);
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, ...auth }, `v=0\r\n${'a=x\r\n'.repeat(100)}`)).status, 400);
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, ...auth }, offer.replace(/a=fingerprint:[^\r\n]*\r\n/g, ''))).status, 400);
    assert.equal((await http(port, 'POST', '/whep/cam', { 'content-type': 'text/plain', ...auth }, offer)).status, 415);
    assert.equal((await http(port, 'POST', '/whep/cam', { ...sdp, ...auth }, 'v=0\r\n' + 'x'.repeat(100_000))).status, 413);
    assert.equal((await http(port, 'POST', '/whep/nosuch', { ...sdp, ...auth }, offer)).status, 404);

    // No viewer can end another's session: a made-up id, the real one without the token, or under another mount.
    assert.equal((await http(port, 'DELETE', `/whep/cam/${'0'.repeat(32)}`, auth)).status, 404);
    assert.equal((await http(port, 'DELETE', session)).status, 401);
    assert.equal((await http(port, 'DELETE', session.replace('/cam/', '/other/'), auth)).status, 404);
    assert.equal((await http(port, 'PATCH', `/whep/cam/${'1'.repeat(32)}`, auth)).status, 404);

    const before = await liveMemoryMB();
    // 1,000 real offers with the right token from one address: 8 get sessions (that never connect
    // and are closed after the connect timeout), the rest are refused before their body is read.
    let t0 = Date.now();
    const offers = await flood(port, 1000, 20, () => ({ method: 'POST', path: '/whep/cam', headers: { ...sdp, ...auth }, body: offer }), '127.0.0.3');
    const offersMs = Date.now() - t0;
    assert.equal(offers.get(201), 8, JSON.stringify([...offers]));
    assert.equal(offers.get(429), 992, JSON.stringify([...offers]));
    // 1,000 wrong tokens from another address: 5 are checked, the rest wait out the backoff (429).
    t0 = Date.now();
    const wrong = await flood(port, 1000, 20, () => ({ method: 'POST', path: '/whep/cam', headers: { ...sdp, authorization: 'Bearer guess' }, body: offer }), '127.0.0.2');
    const wrongMs = Date.now() - t0;
    assert.ok((wrong.get(401) ?? 0) <= 6 && (wrong.get(429) ?? 0) >= 994, JSON.stringify([...wrong]));
    const after = await liveMemoryMB();
    console.log(`1,000 offers in ${offersMs} ms, 1,000 wrong tokens in ${wrongMs} ms; RSS ${Math.round(before.rss)} -> ${Math.round(after.rss)} MB`);
    assert.ok(offersMs < 20_000 && wrongMs < 20_000, `${offersMs} / ${wrongMs} ms`);
    assert.ok(after.rss - before.rss < 150, `RSS +${Math.round(after.rss - before.rss)} MB`);
    // The right token from this address still works (the backoff is per address).
    assert.equal((await http(port, 'GET', '/mounts', auth)).status, 200);

    // The 8 that never connected are closed and counted; the real viewer is the only one left, and plays.
    t0 = Date.now();
    while (resolved(p).viewers !== 1 && Date.now() - t0 < 10_000) await sleep(200);
    const r = resolved(p);
    assert.equal(r.viewers, 1, JSON.stringify(r));
    const a = await stats(page);
    await sleep(2000);
    const b = await stats(page);
    assert.ok(b.frames - a.frames >= 40, `the viewer showed ${b.frames - a.frames} frames in 2 s after the attack`);
    for (const [k, n] of Object.entries({ rejected_token: 3, rejected_host: 1, rejected_badSdp: 4, rejected_tooLarge: 1, rejected_notFound: 2, rejected_sessionNotFound: 2, rejected_sessionsPerAddress: 992, rejected_backoff: 994, rejected_iceTimeout: 8 })) {
      assert.ok((r[k] ?? 0) >= n, `${k}: ${r[k]} (>= ${n} expected) ${JSON.stringify(r)}`);
    }
  } finally {
    delete process.env.SLUICE_WHEP_CONNECT_TIMEOUT;
    await browser.close();
    await stop(p);
  }
});

test('ten viewers at once, one of them crashed without a goodbye: the nine keep their frame rate, the silent one is closed, memory stays bounded', { timeout: 180_000 }, async () => {
  process.env.SLUICE_WHEP_IDLE_TIMEOUT = '3';
  const port = await freePort();
  const p = launch(`testsrc pattern=bars live=true code=true fps=30 width=320 height=180 ! encode preset=ultrafast tune=zerolatency gop=60 ! webrtc port=${port} mount=cam max-per-address=16`);
  await p.setState('playing');
  const browser = await launchChromium();
  try {
    const pages: Page[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      pages.push(page);
    }
    for (const page of pages) await waitPlaying(page, 30_000);
    assert.equal(resolved(p).viewers, 10);
    const before = await liveMemoryMB();
    // The renderer of one viewer dies: no DELETE, no DTLS close, no RTCP any more.
    const cdp = await pages[0]!.context().newCDPSession(pages[0]!);
    // (Page.crash answers nothing: the renderer it would answer from is gone.)
    void cdp.send('Page.crash').catch(() => {});
    await sleep(500);
    const rest = pages.slice(1);
    const a = await Promise.all(rest.map(stats));
    await sleep(3000);
    const b = await Promise.all(rest.map(stats));
    const shown = b.map((s, i) => s.frames - a[i]!.frames);
    console.log(`nine viewers after one crashed: ${shown.join(', ')} frames in 3 s`);
    for (const n of shown) assert.ok(n >= 60, `a viewer showed ${n} frames in 3 s: ${shown}`);
    const t0 = Date.now();
    while (resolved(p).viewers !== 9 && Date.now() - t0 < 10_000) await sleep(200);
    const r = resolved(p);
    assert.equal(r.viewers, 9, JSON.stringify(r));
    assert.ok(r.viewersIdle! >= 1, JSON.stringify(r));
    const after = await liveMemoryMB();
    console.log(`RSS ${Math.round(before.rss)} -> ${Math.round(after.rss)} MB with ten viewers`);
    assert.ok(after.rss - before.rss < 100, `RSS +${Math.round(after.rss - before.rss)} MB`);
  } finally {
    delete process.env.SLUICE_WHEP_IDLE_TIMEOUT;
    await browser.close();
    await stop(p);
  }
});
