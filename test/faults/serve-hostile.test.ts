// `sluice serve` against hostile and faulty input (issue 24): the real CLI, real sockets, real
// files, FIFOs and symbolic links. Each refusal is checked from the attacker's side: the request
// that used to work now fails, at once, the service does not touch what was asked for, and the
// refusal is counted.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, freePort, sluice, tmp } from '../helpers.ts';

const BIN = join(ROOT, 'bin', 'sluice.js');
const TOKEN = 'hostile-test-token';

/** A 2 s 64x48 clip made by FFmpeg (a real file a stream can play). */
function clip(file: string): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', file]);
  return file;
}

/** A folder with a serve file (uri sources, one mux into fakesink) and a clip in it. */
function serveDir(extra: string[] = []): { dir: string; config: string; state: string; clip: string } {
  const dir = tmp();
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, ['source: uri location={uri}', 'chain: mux name=m ! fakesink', ...extra, ''].join('\n'));
  return { dir, config, state: join(dir, 'state.json'), clip: clip(join(dir, 'clip.mp4')) };
}

interface Serve { proc: ChildProcess; port: number; log: () => string; exited: Promise<number | null> }

function startServe(config: string, port: number, args: string[] = [], env: NodeJS.ProcessEnv = { SLUICE_API_TOKEN: TOKEN }): Serve {
  const proc = spawn(process.execPath, [BIN, 'serve', config, '--api', `127.0.0.1:${port}`, ...args], { env: { ...process.env, SLUICE_API_TOKEN: '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { proc, port, log: () => err, exited };
}

async function up(s: Serve): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000) {
    if (s.proc.exitCode !== null) assert.fail(`serve exited ${s.proc.exitCode}: ${s.log()}`);
    try { if ((await fetch(`http://127.0.0.1:${s.port}/v1/health`)).status === 200) return; } catch { /* not up yet */ }
    await sleep(50);
  }
  assert.fail(`serve did not come up: ${s.log()}`);
}

async function api(port: number, method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function stop(s: Serve): Promise<number | null> {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  s.proc.kill('SIGTERM');
  const code = await Promise.race([s.exited, sleep(15_000).then(() => 'hung' as const)]);
  assert.notEqual(code, 'hung', `serve did not exit 15 s after SIGTERM: ${s.log()}`);
  return code as number | null;
}

const listening = (port: number) => new Promise<boolean>((r) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); r(true); });
  s.once('error', () => r(false));
});

test('a token file that is empty, missing or unreadable stops serve and netcam from starting (no open API)', { timeout: 60_000 }, async () => {
  const dir = tmp();
  const { config } = serveDir();
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  const port = await freePort();
  for (const [file, why] of [[empty, /is empty/], [join(dir, 'missing'), /does not exist/], [dir, /is a directory/]] as const) {
    const s = startServe(config, port, ['--token-file', file], {});
    const code = await Promise.race([s.exited, sleep(20_000).then(() => 'hung')]);
    assert.equal(code, 1, `serve --token-file ${file}: ${s.log()}`);
    assert.match(s.log(), /SLUICE_ERR_TOKEN_FILE: token file .* (is empty|does not exist|is a directory)/);
    assert.match(s.log(), why);
    assert.doesNotMatch(s.log(), /internal error|at .*\.ts:\d+/, 'a coded error, no stack');
    assert.equal(await listening(port), false, 'the API never listened');
  }
  // The same rule for every server that takes a token file (here the camera server element).
  const camPort = await freePort();
  const r = await sluice(['launch', `netcam port=${camPort} token-file=${empty} ! fakesink`], { timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /SLUICE_ERR_TOKEN_FILE: token file .* is empty/);
});

test('two serve processes on one state file: the second refuses, naming the first; a killed holder leaves no lock behind', { timeout: 90_000 }, async (t) => {
  const d = serveDir();
  const [p1, p2] = [await freePort(), await freePort()];
  const a = startServe(d.config, p1, ['--state', d.state]);
  t.after(() => a.proc.kill('SIGKILL'));
  await up(a);
  assert.equal((await api(p1, 'POST', '/v1/streams', { id: 'camA', uri: d.clip })).status, 201);
  const b = startServe(d.config, p2, ['--state', d.state]);
  t.after(() => b.proc.kill('SIGKILL'));
  assert.equal(await Promise.race([b.exited, sleep(20_000).then(() => 'hung')]), 1, b.log());
  assert.match(b.log(), new RegExp(`SLUICE_ERR_STATE_LOCKED: state file .*state\\.json is in use by another sluice serve \\(pid ${a.proc.pid}\\)`));
  assert.equal(await listening(p2), false);
  // The first one is untouched and its stream is still in the file.
  assert.equal((await api(p1, 'GET', '/v1/streams/camA')).status, 200);
  assert.deepEqual(JSON.parse(readFileSync(d.state, 'utf8')).streams.map((s: { id: string }) => s.id), ['camA']);
  // kill -9 leaves the lock file; its holder is gone, so the next start takes it over.
  a.proc.kill('SIGKILL');
  await a.exited;
  assert.ok(existsSync(`${d.state}.lock`));
  const c = startServe(d.config, p2, ['--state', d.state]);
  t.after(() => c.proc.kill('SIGKILL'));
  await up(c);
  assert.deepEqual((await api(p2, 'GET', '/v1/streams')).json.streams.map((s: { id: string }) => s.id), ['camA']);
  assert.equal(await stop(c), 0, c.log());
  assert.equal(existsSync(`${d.state}.lock`), false, 'a clean stop removes the lock');
});

test('sources through the API: listeners, other schemes, FFmpeg URL options, files outside --allow-dir, FIFOs and loopback http are refused at once and counted', { timeout: 90_000 }, async (t) => {
  const d = serveDir();
  const fifo = join(d.dir, 'pipe.mp4');
  execFileSync('mkfifo', [fifo]);
  symlinkSync('/etc/passwd', join(d.dir, 'link.mp4'));
  // A private service on loopback that an SSRF would reach; it counts every request.
  let secretHits = 0;
  const secret = createHttpServer((_q, r) => { secretHits++; r.end('secret'); });
  await new Promise<void>((r) => secret.listen(0, '127.0.0.1', () => r()));
  t.after(() => secret.close());
  const sPort = (secret.address() as { port: number }).port;
  const port = await freePort();
  const s = startServe(d.config, port, ['--state', d.state]);
  t.after(() => s.proc.kill('SIGKILL'));
  await up(s);
  const listenPort = await freePort();
  const refused: [string, RegExp][] = [
    [`tcp://127.0.0.1:${listenPort}?listen=1`, /tcp: sources are not allowed/],
    [`udp://127.0.0.1:${listenPort}?listen=1`, /udp: sources are not allowed/],
    [`rtsp://127.0.0.1:${listenPort}/cam?listen=1`, /FFmpeg's "listen" option/],
    ['concat:/etc/passwd|/etc/passwd', /concat: sources are not allowed/],
    ['pipe:0', /pipe: sources are not allowed/],
    [`http://127.0.0.1:${sPort}/secret`, /loopback or link-local address, is refused/],
    [`http://localhost:${sPort}/secret`, /loopback or link-local address, is refused/],
    ['http://169.254.169.254/latest/meta-data/', /loopback or link-local address, is refused/],
    [`http://[::1]:${sPort}/secret`, /loopback or link-local address, is refused/],
    [join(d.dir, 'link.mp4'), /is not under a folder streams may read/],
    [fifo, /is not a regular file \(a FIFO\)/],
    [d.dir, /is not a regular file \(a directory\)/],
  ];
  let n = 0;
  for (const [uri, why] of refused) {
    const t0 = Date.now();
    const r = await api(port, 'POST', '/v1/streams', { id: `x${n++}`, uri });
    assert.equal(r.status, 403, `${uri}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'SLUICE_ERR_SOURCE_DENIED', uri);
    assert.match(r.json.error.message, why, uri);
    assert.ok(Date.now() - t0 < 3000, `${uri} took ${Date.now() - t0} ms to refuse`);
  }
  // Nothing listens where the URL asked for a listener, and the private port was never called.
  assert.equal(await listening(listenPort), false);
  await sleep(300);
  assert.equal(secretHits, 0);
  // A file outside the roots that exists and one that does not get the same answer (no oracle).
  const shadow = await api(port, 'POST', '/v1/streams', { id: 'o1', uri: '/etc/shadow' });
  const none = await api(port, 'POST', '/v1/streams', { id: 'o2', uri: '/etc/no-such-file-here' });
  assert.deepEqual([shadow.status, shadow.json.error.code], [none.status, none.json.error.code]);
  assert.equal(shadow.json.error.message.replace('/etc/shadow', 'P'), none.json.error.message.replace('/etc/no-such-file-here', 'P'));
  // The API answered every one of those and still works: a good file inside the root plays.
  const good = await api(port, 'POST', '/v1/streams', { id: 'good', uri: d.clip });
  assert.equal(good.status, 201, JSON.stringify(good.json));
  assert.equal((await api(port, 'POST', '/v1/streams', { id: 'rel', uri: 'file://' + d.clip })).status, 201);
  assert.deepEqual((await api(port, 'GET', '/v1/streams')).json.streams.map((x: { id: string }) => x.id), ['good', 'rel']);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  assert.match(metrics, new RegExp(`sluice_api_rejected_total\\{reason="source"\\} ${refused.length + 2}\\b`));
  assert.equal(await stop(s), 0, s.log());
});

test('with --allow-local-http and --allow-dir the operator opens what the defaults refuse', { timeout: 60_000 }, async (t) => {
  const d = serveDir();
  const other = tmp();
  const c2 = clip(join(other, 'c2.mp4'));
  const port = await freePort();
  const s = startServe(d.config, port, ['--allow-local-http', '--allow-dir', other]);
  t.after(() => s.proc.kill('SIGKILL'));
  await up(s);
  assert.equal((await api(port, 'POST', '/v1/streams', { id: 'c2', uri: c2 })).status, 201);
  // --allow-dir replaces the default root (the serve file's folder).
  assert.equal((await api(port, 'POST', '/v1/streams', { id: 'c1', uri: d.clip })).json.error.code, 'SLUICE_ERR_SOURCE_DENIED');
  // Loopback http is let through to FFmpeg now (and fails there: nothing serves video on port 1).
  const r = await api(port, 'POST', '/v1/streams', { id: 'h', uri: 'http://127.0.0.1:1/v.mp4' });
  assert.notEqual(r.json?.error?.code, 'SLUICE_ERR_SOURCE_DENIED', JSON.stringify(r.json));
  assert.equal(await stop(s), 0, s.log());
});

test('a restart whose saved sources are missing or a FIFO: the API listens, they stay (failed, with why) and the missing one comes back', { timeout: 90_000 }, async (t) => {
  const d = serveDir();
  const fifo = join(d.dir, 'fifo.mp4');
  execFileSync('mkfifo', [fifo]);
  const later = join(d.dir, 'later.mp4');
  writeFileSync(d.state, JSON.stringify({ version: 1, streams: [{ id: 'cam', uri: later }, { id: 'fifo', uri: fifo }, { id: 'ok', uri: d.clip }] }));
  const port = await freePort();
  const s = startServe(d.config, port, ['--state', d.state]);
  t.after(() => s.proc.kill('SIGKILL'));
  await up(s);
  const byId = async () => Object.fromEntries(((await api(port, 'GET', '/v1/streams')).json.streams as { id: string; state: string; lastError: { code: string } | null }[]).map((x) => [x.id, x]));
  let streams = await byId();
  assert.deepEqual(Object.keys(streams), ['cam', 'fifo', 'ok'], 'kept, in the order of the state file');
  assert.equal(streams.cam.state, 'failed');
  assert.equal(streams.cam.lastError?.code, 'SLUICE_ERR_FILE_NOT_FOUND');
  assert.equal(streams.fifo.lastError?.code, 'SLUICE_ERR_SOURCE_DENIED');
  // Kept in the desired set: the state file still has all three.
  assert.deepEqual(JSON.parse(readFileSync(d.state, 'utf8')).streams.map((x: { id: string }) => x.id), ['cam', 'fifo', 'ok']);
  // The source comes back: the stream starts on a retry by itself.
  copyFileSync(d.clip, later);
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000 && (streams = await byId()).cam.state === 'failed') await sleep(200);
  assert.ok(['connecting', 'playing', 'ended'].includes(streams.cam.state), JSON.stringify(streams.cam));
  assert.equal(streams.cam.lastError, null);
  // Deleting is what takes a stream out of the desired set.
  assert.equal((await api(port, 'DELETE', '/v1/streams/fifo')).status, 204);
  assert.deepEqual(JSON.parse(readFileSync(d.state, 'utf8')).streams.map((x: { id: string }) => x.id), ['cam', 'ok']);
  assert.equal(await stop(s), 0, s.log());
});

test('API edges: a malformed %-escape is 400, a chunked body over 64 KiB is 413 (not a reset), a state file of the wrong shape has its own error, --allow-host', { timeout: 60_000 }, async (t) => {
  const d = serveDir();
  const port = await freePort();
  const s = startServe(d.config, port, ['--allow-host', 'cams.example']);
  t.after(() => s.proc.kill('SIGKILL'));
  await up(s);
  const bad = await api(port, 'GET', '/v1/streams/%E0%A4%A');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'SLUICE_ERR_API_BODY');
  // A chunked body never declares its length: it is counted as it comes, and answered 413.
  const sock: Socket = connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (b) => { got += b; });
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  sock.write(`POST /v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = 'a'.repeat(16 * 1024);
  for (let i = 0; i < 6 && !sock.destroyed; i++) { sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`); await sleep(20); }
  const t0 = Date.now();
  while (!/\r\n\r\n/.test(got) && Date.now() - t0 < 5000) await sleep(20);
  assert.match(got, /^HTTP\/1\.1 413 /);
  assert.match(got, /SLUICE_ERR_API_TOO_LARGE/);
  sock.destroy();
  // --allow-host adds a name to the DNS rebinding guard; others are still refused.
  const withHost = (host: string) => new Promise<number>((res, rej) => {
    const c = connect(port, '127.0.0.1', () => c.write(`GET /v1/streams HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`));
    let b = '';
    c.on('data', (x) => { b += x; });
    c.on('end', () => res(Number(/^HTTP\/1\.1 (\d+)/.exec(b)?.[1] ?? 0)));
    c.on('error', rej);
  });
  assert.equal(await withHost(`cams.example:${port}`), 200);
  assert.equal(await withHost(`evil.example:${port}`), 403);
  assert.equal(await stop(s), 0, s.log());
  // A state file that is JSON but not what serve writes.
  writeFileSync(d.state, JSON.stringify({ streams: [{ id: 'a', uri: 7 }] }));
  const w = startServe(d.config, port, ['--state', d.state]);
  assert.equal(await Promise.race([w.exited, sleep(20_000).then(() => 'hung')]), 1, w.log());
  assert.match(w.log(), /SLUICE_ERR_STATE_FILE: state file .* is JSON but not a sluice serve state file \(at streams\.0\.uri: /);
  assert.doesNotMatch(w.log(), /not readable JSON/);
});

test('an add whose source never finishes starting: /v1/health says stuck (503), naming it; the API still answers', { timeout: 30_000 }, async (t) => {
  const { z } = await import('zod');
  const { defineElement, srcPad } = await import('../../src/core/element.ts');
  const { defaultRegistry } = await import('../../src/elements/index.ts');
  const { Service } = await import('../../src/serve/service.ts');
  const { serveApi } = await import('../../src/serve/api.ts');
  // A source whose start blocks as an open of a hung file system would, until released.
  let release = () => {};
  const held = new Promise<void>((r) => { release = r; });
  const reg = defaultRegistry();
  reg.register(defineElement({ name: 'stucksrc', summary: 'blocks in start', kind: 'source', pads: [srcPad()], props: z.object({ location: z.string().default('') }), create: () => ({ start: () => held, produce: async () => null }) }));
  const svc = new Service({ source: 'stucksrc location={uri}', chain: 'mux name=m ! fakesink', streams: [], api: '', state: '' }, reg, { stuckMs: 300 });
  await svc.start();
  const a = await serveApi(svc, { host: '127.0.0.1', port: 0, token: '' });
  t.after(async () => { release(); await a.close(); await svc.shutdown(); });
  const health = async () => { const r = await fetch(`${a.url}/v1/health`); return { status: r.status, json: (await r.json()) as { status: string } }; };
  assert.equal((await health()).status, 200);
  const adding = fetch(`${a.url}/v1/streams`, { method: 'POST', body: JSON.stringify({ id: 'hung', uri: 'x' }) });
  await sleep(700);
  const h = await health();
  assert.equal(h.status, 503);
  assert.match(h.json.status, /^stuck: adding hung for \d+ s$/);
  assert.equal((await fetch(`${a.url}/v1/streams`)).status, 200, 'reads are not queued behind it');
  release();
  assert.equal((await adding).status, 201);
  assert.equal((await health()).status, 200);
});

test('a network source that keeps failing backs off (reconnect-max-interval), and serve sets it on its streams', { timeout: 60_000 }, async (t) => {
  // An "RTSP server" that accepts and hangs up: every open fails at once, so only the wait
  // between attempts limits how often it is dialled.
  const at: number[] = [];
  const srv = createTcpServer((c) => { at.push(Date.now()); c.destroy(); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const { launch } = await import('../../src/index.ts');
  const count = async (extra: string) => {
    at.length = 0;
    const p = launch(`uri location=rtsp://127.0.0.1:${port}/cam reconnect-interval=50 ${extra} ! fakesink`);
    await p.setState('playing');
    await sleep(3000);
    p.sendEosRequest();
    await p.wait().catch(() => {});
    await p.setState('null');
    return at.length;
  };
  const flat = await count('');
  const backedOff = await count('reconnect-max-interval=800');
  t.diagnostic(`connections in 3 s: ${flat} every 50 ms, ${backedOff} backing off to 800 ms`);
  // 50, 100, 200, 400, 800, 800... ms: about 7 attempts in 3 s; flat: one every 50 ms plus the open.
  assert.ok(backedOff <= 10, `with backoff: ${backedOff} connections in 3 s`);
  assert.ok(flat >= 2 * backedOff, `without: ${flat}, with: ${backedOff}`);
  // A stream added to serve gets the 30 s cap unless its template sets one.
  const { Service } = await import('../../src/serve/service.ts');
  const { registry } = await import('../../src/index.ts');
  const svc = new Service({ source: 'uri location={uri}', chain: 'mux name=m ! fakesink', streams: [], api: '', state: '' }, registry());
  await svc.start();
  t.after(() => svc.shutdown());
  await svc.add('cam', `rtsp://127.0.0.1:${port}/cam`);
  const node = svc.pipeline.nodes.find((n) => n.def.name === 'uri')!;
  assert.equal((node.props as { reconnectMaxInterval: number }).reconnectMaxInterval, 30_000);
  await svc.remove('cam');
});

test('streams added and removed in rounds leave nothing behind: elements, tasks, labels, heap and RSS stay bounded', { timeout: 120_000 }, async (t) => {
  const { liveMemoryMB } = await import('../helpers.ts');
  const { Service } = await import('../../src/serve/service.ts');
  const { serviceBackend } = await import('../../src/serve/api.ts');
  const { registry } = await import('../../src/index.ts');
  const d = serveDir();
  const file = clip(join(d.dir, 'long.mp4'));
  // Real decoders (uri on a file) and the metrics a scrape makes for each stream.
  const svc = new Service({ source: 'uri location={uri}', chain: 'mux name=m ! fakesink', streams: [], api: '', state: '', file: d.config }, registry());
  await svc.start();
  t.after(() => svc.shutdown());
  const backend = serviceBackend(svc);
  const internals = svc.pipeline as unknown as { tasks: unknown[]; labels: Map<number, string>; negotiation: Map<string, unknown> };
  const round = async (r: number, n: number) => {
    for (let i = 0; i < n; i++) await svc.add(`r${r}s${i}`, file);
    await sleep(200);
    await backend.metrics!();
    for (let i = 0; i < n; i++) await svc.remove(`r${r}s${i}`);
    await backend.metrics!();
  };
  const N = 40;
  await round(0, N);
  const first = await liveMemoryMB();
  for (let r = 1; r <= 4; r++) await round(r, N);
  const last = await liveMemoryMB();
  t.diagnostic(`after round 1: heap ${first.heap.toFixed(1)} MB, RSS ${first.rss.toFixed(0)} MB; after round 5: heap ${last.heap.toFixed(1)}, RSS ${last.rss.toFixed(0)} (${4 * N} more streams)`);
  assert.deepEqual(svc.pipeline.nodes.map((n) => n.def.name), ['mux', 'fakesink']);
  assert.equal(internals.tasks.length, 2, 'only the chain\'s element tasks are held');
  assert.equal(internals.labels.size, 0);
  assert.equal([...internals.negotiation.keys()].filter((k) => /^(full|view):/.test(k)).length, 0);
  assert.ok(last.heap - first.heap < 4, `heap grew ${(last.heap - first.heap).toFixed(1)} MB over ${4 * N} streams`);
  assert.ok(last.rss - first.rss < 60, `RSS grew ${(last.rss - first.rss).toFixed(0)} MB over ${4 * N} streams`);
  assert.doesNotMatch((await backend.metrics!()).text, /stream="r\d+s\d+"/, 'no metric series of removed streams');
});
