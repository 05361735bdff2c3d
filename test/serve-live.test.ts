// `sluice serve`'s live view as a user gets it: the real CLI with two testsrc streams (bars and
// black), a stream's annotated output opened in Debian's Chromium at /v1/streams/{id}/live#token=
// (WebRTC through WHEP on the API's own port), the picture checked to be that stream's; then the
// attacker's side (no token, a wrong one, a token in the URL, a foreign Host, unknown streams:
// refused before any SDP is read, and counted), the encoder stopping when nobody watches, and a
// removed stream ending its viewer's session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registry } from '../src/index.ts';
import { Service } from '../src/serve/service.ts';
import { serveApi } from '../src/serve/api.ts';
import { ROOT, freePort, launchChromium, tmp } from './helpers.ts';
import { BARS, colourAt, http, stats, waitPlaying } from './helpers/live-page.ts';

const TOKEN = 'live-test-token';
const W = 640, H = 360;
const auth = { authorization: `Bearer ${TOKEN}` };

async function until<T>(what: string, ms: number, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() - t0 > ms) throw new Error(`${what} within ${ms} ms: last ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

const mounts = async (port: number) => (JSON.parse((await http(port, 'GET', '/v1/live/mounts', auth)).body) as { mounts: { name: string; kind: string }[] }).mounts.map((m) => `${m.kind}:${m.name}`).sort();

test('serve: a stream\'s live view plays in Chromium from the API port, the picture is that stream\'s; refusals counted; idle encoders stop; removing the stream ends the session', { timeout: 180_000 }, async (t) => {
  const dir = tmp();
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, [
    `source: testsrc live=true code=true fps=30 width=${W} height=${H} pattern={uri}`,
    // Metadata to its sink, and every stream to the demux the live views take theirs from.
    'chain: mux name=m ! tee name=t  t. ! queue ! fakesink  t. ! queue leaky=downstream max-size=4 ! demux',
    'live: {idle: 2}',
    'streams: [{id: dark, uri: black}, {id: cam, uri: bars}]',
    '',
  ].join('\n'));
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'serve', config, '--api', `127.0.0.1:${port}`, '--state', join(dir, 'state.json')], { env: { ...process.env, SLUICE_API_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.after(async () => { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } });
  await until('serve up', 20_000, () => http(port, 'GET', '/v1/health').catch(() => ({ status: 0 })), (r) => r.status === 200);
  await until('both streams playing', 20_000, async () => JSON.parse((await http(port, 'GET', '/v1/streams', auth)).body).streams.map((s: { state: string }) => s.state), (s: string[]) => s.length === 2 && s.every((x) => x === 'playing'));
  // Nobody watches yet: no encoder runs.
  assert.deepEqual(await mounts(port), []);

  // The attacker's side: refused before anything is started or parsed, and counted.
  const html = { accept: 'text/html' };
  const json = { accept: 'application/json' };
  assert.equal((await http(port, 'GET', '/v1/streams/cam/live', json)).status, 401);
  assert.equal((await http(port, 'GET', '/v1/streams/cam/live', { ...json, authorization: 'Bearer nope' })).status, 401);
  // A token in the URL is not taken (it would end up in logs).
  assert.equal((await http(port, 'GET', `/v1/streams/cam/live?token=${TOKEN}`, json)).status, 401);
  assert.equal((await http(port, 'POST', '/v1/live/whep/cam', { 'content-type': 'application/sdp', authorization: 'Bearer nope' }, 'garbage')).status, 401);
  assert.equal((await http(port, 'POST', '/v1/live/whep/cam', { 'content-type': 'application/sdp' }, 'garbage')).status, 401);
  assert.equal((await http(port, 'GET', '/v1/live/mounts')).status, 401);
  // A browser without the header gets the same small loader for any id (it tells nothing about streams).
  const shellCam = await http(port, 'GET', '/v1/streams/cam/live', html), shellNone = await http(port, 'GET', '/v1/streams/nosuch/live', html);
  assert.equal(shellCam.status, 401);
  assert.equal(shellCam.body, shellNone.body);
  assert.doesNotMatch(shellCam.body, /cam|bars/);
  // DNS rebinding: the right token with a Host that is not ours.
  assert.equal((await http(port, 'GET', '/v1/streams/cam/live', { ...json, ...auth, host: `evil.example:${port}` })).status, 403);
  assert.equal((await http(port, 'POST', '/v1/live/whep/cam', { 'content-type': 'application/sdp', ...auth, host: `evil.example:${port}` }, 'garbage')).status, 403);
  // Unknown streams: coded 404s, and nothing starts.
  const unknown = await http(port, 'GET', '/v1/streams/nosuch/live', { ...json, ...auth });
  assert.equal(unknown.status, 404);
  assert.equal(JSON.parse(unknown.body).error.code, 'SLUICE_ERR_NOT_FOUND');
  assert.equal((await http(port, 'POST', '/v1/live/whep/nosuch', { 'content-type': 'application/sdp', ...auth }, 'garbage')).status, 404);
  assert.equal((await http(port, 'GET', '/v1/live/hls/nosuch/index.m3u8', auth)).status, 404);
  assert.deepEqual(await mounts(port), []);
  const metrics = (await http(port, 'GET', '/metrics', auth)).body;
  const rejected = (r: string) => Number(new RegExp(`sluice_api_rejected_total\\{reason="${r}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  assert.ok(rejected('auth') >= 8, metrics.split('\n').filter((l) => l.includes('rejected')).join('\n'));
  assert.ok(rejected('host') >= 2, metrics.split('\n').filter((l) => l.includes('rejected')).join('\n'));

  // Where the endpoints are, for a WHEP or HLS player of one's own.
  const where = JSON.parse((await http(port, 'GET', '/v1/streams/cam/live', { ...json, ...auth })).body);
  assert.deepEqual({ whep: where.whep, hls: where.hls, page: where.page }, { whep: '/v1/live/whep/cam', hls: '/v1/live/hls/cam/index.m3u8', page: '/v1/streams/cam/live' });
  assert.deepEqual(await mounts(port), ['hls:cam', 'webrtc:cam']);

  const browser = await launchChromium();
  t.after(() => browser.close());
  // The link a user opens: the token in the fragment, which the browser never sends.
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/v1/streams/cam/live#token=${TOKEN}`);
  const first = await waitPlaying(page, 20_000);
  assert.equal(first.mode, 'webrtc', JSON.stringify(first));
  assert.equal(first.mount, 'cam');
  assert.match(first.session ?? '', /^\/v1\/live\/whep\/cam\/[0-9a-f]{32}$/);
  await sleep(500);
  const a = await stats(page);
  await sleep(3000);
  const b = await stats(page);
  console.log(`serve live view: ${b.frames - a.frames} frames in 3 s, glass-to-glass last ${b.latency.at(-1)} ms`);
  assert.ok(b.frames - a.frames >= 30, `${b.frames - a.frames} frames presented in 3 s`);
  // That stream's picture: cam is the bars (the other stream is black).
  for (let i = 0; i < 7; i++) {
    const x = Math.round(((i + 0.5) * W) / 7);
    const c = await colourAt(page, x, Math.round(H / 3));
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(c[k]! - BARS[i]![k]!) <= 40, `bar ${i} at x=${x}: ${c} vs ${BARS[i]}`);
  }
  // The same stream as low-latency HLS through the same port and guards: the page's fallback (forced) plays it.
  assert.equal((await http(port, 'GET', '/v1/live/hls/cam/index.m3u8')).status, 401);
  const playlist = await until('the HLS playlist', 10_000, () => http(port, 'GET', '/v1/live/hls/cam/index.m3u8', auth), (r) => r.status === 200);
  assert.match(playlist.body, /^#EXTM3U/);
  assert.doesNotMatch(playlist.body, /token=/, 'the playlist puts no token into its URLs');
  const hls = await browser.newPage();
  await hls.goto(`http://127.0.0.1:${port}/v1/streams/cam/live?mode=hls#token=${TOKEN}`);
  const h = await waitPlaying(hls, 20_000);
  console.log(`HLS through the API port: first frame ${h.times.firstFrame} ms after the page's start`);
  assert.equal(h.mode, 'hls', JSON.stringify(h));
  const hc = await colourAt(hls, Math.round((5.5 * W) / 7), Math.round(H / 3));
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(hc[k]! - BARS[5]![k]!) <= 40, `HLS bar 5: ${hc}`);
  await hls.close();
  // The other stream's view is its own (black), on the same port.
  const dark = await browser.newPage();
  await dark.goto(`http://127.0.0.1:${port}/v1/streams/dark/live#token=${TOKEN}`);
  assert.equal((await waitPlaying(dark, 20_000)).mount, 'dark');
  const c = await colourAt(dark, Math.round(W / 14), Math.round(H / 3));
  assert.ok(c.every((v) => v < 40), `dark shows ${c}`);
  // Nobody watches it any more: its encoder stops after live.idle (2 s), cam's goes on.
  await dark.close();
  const tIdle = Date.now();
  await until('the idle view stopped', 15_000, () => mounts(port), (m) => !m.includes('webrtc:dark'));
  console.log(`dark's live branch stopped ${Date.now() - tIdle} ms after its viewer left (idle: 2)`);
  assert.deepEqual(await mounts(port), ['hls:cam', 'webrtc:cam']);

  // Removing the stream ends its viewer's session, its endpoints go, nothing of it is left.
  const session = (await stats(page)).session!;
  assert.match((await http(port, 'GET', '/metrics', auth)).body, /stream="cam"/);
  const tDel = Date.now();
  assert.equal((await http(port, 'DELETE', '/v1/streams/cam', auth)).status, 204);
  const delMs = Date.now() - tDel;
  // Its frames stop at once (the session is closed with the live branch)...
  let last = (await stats(page)).frames, lastAt = Date.now();
  while (Date.now() - lastAt < 1000) {
    await sleep(50);
    const f = (await stats(page)).frames;
    if (f !== last) { last = f; lastAt = Date.now(); }
  }
  // ...and the browser sees the connection go (werift sends no DTLS close_notify: ICE consent
  // freshness tells it, within seconds).
  const ended = await until('the session ended', 20_000, () => stats(page), (s) => s.state !== 'connected');
  console.log(`DELETE answered in ${delMs} ms; the viewer's last frame ${lastAt - tDel} ms after it was sent, its connection ${ended.state} after ${Date.now() - tDel} ms`);
  assert.ok(lastAt - tDel < 3000, `frames arrived for ${lastAt - tDel} ms after the stream was removed`);
  assert.ok(ended.frames - last <= 1, 'frames arrived after the stream was removed');
  assert.deepEqual(await mounts(port), []);
  assert.equal((await http(port, 'DELETE', session, auth)).status, 404);
  assert.equal((await http(port, 'GET', '/v1/streams/cam/live', { ...json, ...auth })).status, 404);
  assert.equal((await http(port, 'POST', '/v1/live/whep/cam', { 'content-type': 'application/sdp', ...auth }, 'garbage')).status, 404);
  const after = (await http(port, 'GET', '/metrics', auth)).body;
  assert.doesNotMatch(after, /stream="cam"/, 'metrics of the removed stream remain');
  // A stop while a live view runs drains it with the rest.
  assert.equal((await http(port, 'GET', '/v1/streams/dark/live', { ...json, ...auth })).status, 200);
  assert.deepEqual(await mounts(port), ['hls:dark', 'webrtc:dark']);
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, log);
  assert.match(log, /sluice serve: stopped/);
  assert.match(log, /live view of a stream at http:\/\/127\.0\.0\.1:\d+\/v1\/streams\/ID\/live#token=TOKEN/);
  assert.ok(!log.includes(TOKEN), 'the token was printed');
});

test('serve: live: needs a demux in the chain (coded, says what to add); without live: the route answers a coded 404', { timeout: 30_000 }, async () => {
  const base = { source: 'testsrc live=true pattern={uri}', streams: [], api: '', state: '' };
  assert.throws(() => new Service({ ...base, chain: 'mux name=m ! fakesink', live: {} }, registry()), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_YAML' && /needs a demux in the chain/.test(e.message));
  assert.throws(() => new Service({ ...base, chain: 'mux name=m ! demux name=d', live: { from: 'm' } }, registry()), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_YAML' && /"m" is not the name of a demux/.test(e.message));
  assert.throws(() => new Service({ ...base, chain: 'mux name=m ! demux', live: { chain: 'osd' } }, registry()), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_YAML' && /must end with encode/.test(e.message));
  assert.throws(() => new Service({ ...base, chain: 'mux name=m ! demux', live: { chain: 'osdd ! encode' } }, registry()), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_YAML' && /no element named "osdd"/.test(e.message));
  const svc = new Service({ ...base, chain: 'mux name=m ! fakesink' }, registry());
  await svc.start();
  const api = await serveApi(svc, { host: '127.0.0.1', port: 0, token: TOKEN });
  try {
    await svc.add('cam', 'bars');
    const port = Number(new URL(api.url).port);
    const r = await http(port, 'GET', '/v1/streams/cam/live', { ...auth, accept: 'application/json' });
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).error.code, 'SLUICE_ERR_LIVE_OFF');
    assert.match(JSON.parse(r.body).error.message, /add "live: \{\}"/);
    assert.equal((await http(port, 'POST', '/v1/live/whep/cam', { ...auth, 'content-type': 'application/sdp' }, 'x')).status, 404);
  } finally {
    await api.close();
    await svc.shutdown();
  }
});
