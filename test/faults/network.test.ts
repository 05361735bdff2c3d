// Hostile clients against every kind of server Sluice runs, each case asserting that a good
// client keeps being served, memory stays bounded, and the refusal is counted. Loopback only,
// every loop bounded. (docs/reliability.md lists the cases.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { WebcamServer } from '../../src/net/servers.ts';
import { JpegCodec } from '../../src/net/jpeg.ts';
import { FORMAT_JPEG, HEADER_BYTES, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../../src/net/protocol.ts';
import { launch } from '../../src/index.ts';
import { Service } from '../../src/serve/service.ts';
import { serveApi } from '../../src/serve/api.ts';
import { registry } from '../../src/index.ts';
import { freePort, liveMemoryMB } from '../helpers.ts';

const hello = (t: string) => encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(t) });
const closedWithin = (s: Socket, ms: number) => new Promise<boolean>((r) => { const t = setTimeout(() => r(false), ms); s.once('close', () => { clearTimeout(t); r(true); }); });

/** A good camera: hello, then a frame every 33 ms; counts frames the server decoded. */
async function goodCamera(port: number, token: string) {
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: 64, height: 48, format: 'yuvj420p', data: new Uint8Array(64 * 48 * 1.5).fill(90) }, 5);
  const s = connect(port, '127.0.0.1');
  s.resume();
  await new Promise((r) => s.once('connect', r));
  s.write(hello(token));
  let seq = 0;
  const timer = setInterval(() => s.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: seq++, ts: Date.now(), width: 64, height: 48, payload: jpeg })), 33);
  return { stop: async () => { clearInterval(timer); s.destroy(); await codec.close(); } };
}

test('pre-auth flood: 50 connections declaring an 8 MiB hello and sending 1 MiB of it are cut off after the header; memory stays flat; a good camera goes on', { timeout: 60_000 }, async () => {
  const cam = new WebcamServer({ token: 'secret', limits: { maxPerAddress: 100, maxConnections: 200 } });
  const { port } = await cam.listen();
  const good = await goodCamera(port, 'secret');
  await sleep(300);
  const before = await liveMemoryMB();
  const decoded0 = cam.stats.decoded;
  // One 1 MiB buffer written by every client (references, not 50 copies in this process).
  const junk = Buffer.alloc(1 << 20, 7);
  const socks = await Promise.all(Array.from({ length: 50 }, async () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    await new Promise((r) => s.once('connect', r));
    const h = hello('');
    h.writeUInt32BE(8 << 20, 24);
    s.write(h);
    const closed = closedWithin(s, 5000);
    s.write(junk);
    return closed;
  }));
  const closed = await Promise.all(socks);
  const after = await liveMemoryMB();
  assert.equal(closed.filter(Boolean).length, 50, 'every flooding connection was closed');
  assert.equal(cam.stats.rejections.protocol, 50);
  assert.ok(after.rss - before.rss < 60, `RSS grew ${(after.rss - before.rss).toFixed(1)} MB (before the fix: +567 MB)`);
  await sleep(300);
  assert.ok(cam.stats.decoded > decoded0 + 5, 'the good camera kept being decoded');
  await good.stop();
  await cam.close();
});

test('slowloris: a client that sends nothing, or half a header, is closed after the handshake timeout; an idle camera after the idle timeout', { timeout: 30_000 }, async () => {
  const cam = new WebcamServer({ token: 't', limits: { handshakeMs: 300, idleMs: 600 } });
  const { port } = await cam.listen();
  const client = () => { const s = connect(port, '127.0.0.1'); s.on('error', () => {}); s.resume(); return { s, closed: closedWithin(s, 3000) }; };
  const silent = client();
  const half = client();
  await new Promise((r) => half.s.once('connect', r));
  half.s.write(hello('t').subarray(0, 10));
  const idle = client();
  await new Promise((r) => idle.s.once('connect', r));
  idle.s.write(hello('t'));
  assert.ok(await silent.closed, 'silent client closed');
  assert.ok(await half.closed, 'half-header client closed');
  assert.ok(await idle.closed, 'idle camera closed');
  assert.equal(cam.stats.rejections.handshakeTimeout, 2);
  assert.equal(cam.stats.rejections.idle, 1);
  await cam.close();
});

test('connection caps: past the per-address cap and the total cap, new connections are refused with a reason; the ones in are kept', { timeout: 30_000 }, async () => {
  const cam = new WebcamServer({ token: 't', limits: { maxPerAddress: 3, maxConnections: 100 } });
  const { port } = await cam.listen();
  const open = async () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    let got = '';
    s.on('data', (d: Buffer) => { got += d.subarray(HEADER_BYTES).toString(); });
    await new Promise((r) => s.once('connect', r));
    s.write(hello('t'));
    return { s, got: () => got };
  };
  const kept = await Promise.all([open(), open(), open()]);
  await sleep(100);
  const fourth = await open();
  assert.ok(await closedWithin(fourth.s, 3000));
  assert.match(fourth.got(), /too many connections from/);
  assert.equal(cam.stats.rejections.perAddress, 1);
  assert.equal(cam.stats.clients, 3);
  for (const k of kept) assert.equal(k.s.destroyed, false);
  for (const k of kept) k.s.destroy();
  await cam.close();
});

test('WebSocket without the token: 30 upgrades are refused before a WebSocket exists (no buffers), a good page goes on', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const cam = new WebcamServer({ port, web: true, token: 'k', limits: { maxPerAddress: 100 } });
  await cam.listen();
  const good = new WebSocket(`ws://127.0.0.1:${port}/ws?token=k`);
  await new Promise((r) => good.once('open', r));
  good.send(hello('k'));
  const before = await liveMemoryMB();
  const codes = await Promise.all(Array.from({ length: 30 }, () => new Promise<number>((res) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on('unexpected-response', (_q, r) => res(r.statusCode ?? 0));
    ws.on('open', () => res(101));
    ws.on('error', () => res(-1));
  })));
  const after = await liveMemoryMB();
  assert.deepEqual([...new Set(codes)], [401]);
  assert.equal(cam.stats.rejections.token, 30);
  assert.ok(after.rss - before.rss < 30, `RSS grew ${(after.rss - before.rss).toFixed(1)} MB (before the fix: +250 MB for 30)`);
  assert.equal(good.readyState, WebSocket.OPEN);
  assert.equal(cam.stats.clients, 1);
  good.close();
  await cam.close();
});

test('serve API: an oversized body is refused before it is read, a slow header is cut off, a good request still works', { timeout: 40_000 }, async (t) => {
  const svc = new Service({ source: 'testsrc live=true pattern={uri}', chain: 'mux name=m ! fakesink', streams: [], api: '', state: '' }, registry());
  await svc.start();
  const api = await serveApi(svc, { host: '127.0.0.1', port: 0, token: 'tok' });
  t.after(async () => { await api.close(); await svc.shutdown(); });
  const port = Number(new URL(api.url).port);
  const big = await new Promise<number>((res) => {
    const r = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/streams', headers: { authorization: 'Bearer tok', 'content-length': String(50 << 20) } }, (resp) => { resp.resume(); res(resp.statusCode!); });
    r.on('error', () => res(-1));
    r.write(Buffer.alloc(1 << 16));
  });
  assert.equal(big, 413);
  const slow = connect(port, '127.0.0.1');
  slow.on('error', () => {});
  slow.resume();
  await new Promise((r) => slow.once('connect', r));
  const slowClosed = closedWithin(slow, 20_000);
  slow.write('GET /v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const ok = await fetch(`${api.url}/v1/streams`, { headers: { authorization: 'Bearer tok' } });
  assert.equal(ok.status, 200);
  assert.equal((await fetch(`${api.url}/v1/streams`)).status, 401);
  assert.ok(await slowClosed, 'a client that never finishes its headers is closed (headersTimeout)');
});

test('a slow consumer behind a leaky queue and an absent broker never stall the source', { timeout: 30_000 }, async () => {
  const port = await freePort();
  // Nothing listens on `port`: the broker is absent for the whole run.
  const p = launch(`testsrc live=true fps=50 num-frames=100 width=64 height=48 ! tee name=t  t. ! queue max-size=2 leaky=oldest ! identity delay=100 ! fakesink  t. ! queue ! mqtt url=mqtt://127.0.0.1:${port} buffer=10 drain-timeout=0`);
  const r = await p.run();
  assert.ok(r.wallSeconds < 3.5, `100 frames at 50 fps took ${r.wallSeconds} s`);
  assert.ok(Number(r.elements.mqtt0!.resolved!.messagesDropped) >= 80);
});

test('DNS rebinding: the metrics dashboard and the serve API answer 403 to a Host that is not theirs', { timeout: 30_000 }, async (t) => {
  const { serveMetrics } = await import('../../src/trace/metrics.ts');
  const p = launch('testsrc live=true width=64 height=48 ! fakesink');
  await p.setState('playing');
  const m = await serveMetrics(p, { port: 0 });
  const svc = new Service({ source: 'testsrc live=true pattern={uri}', chain: 'mux name=m ! fakesink', streams: [], api: '', state: '' }, registry());
  await svc.start();
  const api = await serveApi(svc, { host: '127.0.0.1', port: 0, token: '' });
  t.after(async () => { await m.close(); await api.close(); await svc.shutdown(); p.sendEosRequest(); await p.wait(); await p.setState('null'); });
  const status = (url: string, host: string) => new Promise<number>((res, rej) => {
    const u = new URL(url);
    const r = request({ host: '127.0.0.1', port: Number(u.port), path: u.pathname, headers: { host } }, (resp) => { resp.resume(); res(resp.statusCode!); });
    r.on('error', rej);
    r.end();
  });
  const mPort = new URL(m.url).port, aPort = new URL(api.url).port;
  assert.equal(await status(m.url.replace('/metrics', '/'), `evil.example:${mPort}`), 403);
  assert.equal(await status(m.url.replace('/metrics', '/'), `127.0.0.1:${mPort}`), 200);
  assert.equal(await status(`${api.url}/v1/streams`, `evil.example:${aPort}`), 403);
  assert.equal(await status(`${api.url}/v1/streams`, `localhost:${aPort}`), 200);
  // Each refusal is counted where Prometheus can see it.
  assert.match(await (await fetch(m.url)).text(), /sluice_metrics_rejected_total\{reason="host"\} 1/);
  assert.match(await (await fetch(`${api.url}/metrics`)).text(), /sluice_api_rejected_total\{reason="host"\} 1/);
});
