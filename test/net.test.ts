import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { ffprobe, freePort, liveMemoryMB, media, sluice, tmp } from './helpers.ts';
import { StreamServer, WebcamServer } from '../src/net/servers.ts';
import { JpegCodec } from '../src/net/jpeg.ts';
import { FORMAT_JPEG, MessageParser, ProtocolError, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../src/net/protocol.ts';

const W = 640, H = 480;
function picture(noise: boolean, shift = 0): Uint8Array {
  const d = new Uint8Array(W * H * 1.5).fill(128);
  if (noise) randomFillSync(d, 0, W * H);
  else for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) d[y * W + x] = (x + y + shift) & 255;
  return d;
}

async function open(port: number, token: string): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(token) }));
  // Read (and by default discard) what the server sends: its refusal reason comes before its
  // FIN, and a socket that never reads would not see the close.
  s.resume();
  return s;
}

/** A camera client streaming JPEGs at `fps` until stopped. */
async function camera(port: number, token: string, fps: number, jpegs: Buffer[]) {
  const s = await open(port, token);
  let seq = 0, stop = false;
  const run = (async () => {
    const t0 = performance.now();
    while (!stop) {
      s.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq, ts: Date.now(), width: W, height: H, payload: jpegs[seq % jpegs.length]! }));
      seq++;
      const wait = t0 + (seq * 1000) / fps - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })();
  return { sent: () => seq, stop: async () => { stop = true; await run; s.destroy(); } };
}

/** A viewer that records each frame's size, arrival and capture time. */
async function viewer(port: number, token: string) {
  const s = await open(port, token);
  const p = new MessageParser();
  const got: { t: number; bytes: number; ts: number }[] = [];
  s.on('data', (c: Buffer) => { for (const m of p.push(c)) got.push({ t: performance.now(), bytes: m.payload.length + 28, ts: m.ts }); });
  return { got, close: () => s.destroy() };
}

test('protocol parser: whole messages from any chunking; bad input is a ProtocolError', () => {
  const m = encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: 7, ts: 123.5, width: 4, height: 2, payload: Buffer.from('abcdef') });
  const both = Buffer.concat([m, m]);
  for (const cut of [1, 5, 27, 28, 30, 34, 40]) {
    const p = new MessageParser();
    const out = [...p.push(both.subarray(0, cut)), ...p.push(both.subarray(cut))];
    assert.equal(out.length, 2);
    assert.deepEqual([out[1]!.seq, out[1]!.ts, out[1]!.width, out[1]!.payload.toString()], [7, 123.5, 4, 'abcdef']);
  }
  assert.throws(() => new MessageParser().push(Buffer.alloc(40, 7)), ProtocolError);
  const big = Buffer.from(m); big.writeUInt32BE(1 << 30, 24);
  assert.throws(() => new MessageParser().push(big), /exceeds/);
});

test('the loop never waits: readNowait + write run >= 100k/s while a camera streams 640x480 at 30 fps', async () => {
  const cam = new WebcamServer({ token: 'secret' });
  const out = new StreamServer({ token: 'secret' });
  const { port: cport } = await cam.listen();
  const { port: sport } = await out.listen();
  const codec = new JpegCodec();
  const jpegs = [await codec.encode({ width: W, height: H, format: 'yuvj420p', data: picture(false, 0) }, 5), await codec.encode({ width: W, height: H, format: 'yuvj420p', data: picture(false, 40) }, 5)];
  const before = cam.readNowait();
  assert.deepEqual(before, { fresh: false, frame: null }, 'before the first frame: not fresh, no frame');
  const v = await viewer(sport, 'secret');
  const c = await camera(cport, 'secret', 30, jpegs);
  let iterations = 0, fresh = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) {
    for (let i = 0; i < 5000; i++) {
      const r = cam.readNowait();
      if (r.fresh && r.frame) { fresh++; out.write(r.frame); }
      iterations++;
    }
    await tick(); // let sockets and workers run, as any event-loop application does
  }
  const rate = iterations / ((performance.now() - t0) / 1000);
  await sleep(200);
  await c.stop();
  assert.ok(rate >= 100_000, `loop rate ${Math.round(rate)}/s`);
  assert.ok(fresh >= 40, `fresh camera frames seen: ${fresh}`);
  assert.ok(v.got.length >= 40, `frames received by the viewer: ${v.got.length}`);
  v.close();
  await cam.close(); await out.close(); await codec.close();
});

test('wrong token, garbage, oversized and truncated input drop only that client', async () => {
  const cam = new WebcamServer({ token: 'secret', limits: { maxPayload: 1 << 20 } });
  const { port } = await cam.listen();
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: W, height: H, format: 'yuvj420p', data: picture(false) }, 5);
  const good = await camera(port, 'secret', 30, [jpeg]);
  const closed = (s: Socket) => new Promise<void>((r) => s.once('close', () => r()));
  const wrong = await open(port, 'nope');
  await closed(wrong);
  const garbage = connect(port, '127.0.0.1');
  garbage.resume();
  garbage.on('error', () => {});
  garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + 'x'.repeat(100)));
  await closed(garbage);
  const huge = await open(port, 'secret');
  huge.on('error', () => {});
  const hdr = encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: 1, ts: 0, width: W, height: H, payload: Buffer.alloc(0) });
  hdr.writeUInt32BE(50 << 20, 24);
  huge.write(hdr);
  await closed(huge);
  const trunc = await open(port, 'secret');
  trunc.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: 1, ts: 0, width: W, height: H, payload: jpeg }).subarray(0, 5000));
  trunc.destroy();
  const decodedBefore = cam.stats.decoded;
  await sleep(500);
  assert.ok(cam.stats.decoded > decodedBefore + 5, 'the good camera keeps being served');
  assert.ok(cam.stats.rejected >= 3, `rejected ${cam.stats.rejected}`);
  await good.stop();
  await cam.close(); await codec.close();
});

test('maxMBps=1.0 holds the output within 10% of 1 MB/s over 10 s; without a cap quality stays constant', { timeout: 60_000 }, async () => {
  const frames = [picture(true), picture(true), picture(true)];
  const measure = async (maxMBps: number, seconds: number) => {
    const out = new StreamServer({ maxMBps, quality: 4 });
    const { port } = await out.listen();
    const v = await viewer(port, '');
    const qualities = new Set<number>();
    const t0 = performance.now();
    let i = 0;
    // 30 fps of noise pictures: far more than 1 MB/s at quality 4 (~150 KB each).
    while (performance.now() - t0 < seconds * 1000) {
      out.write({ width: W, height: H, format: 'yuvj420p', data: frames[i++ % 3]! });
      qualities.add(out.quality);
      await sleep(1000 / 30);
    }
    await sleep(300);
    v.close();
    await out.close();
    return { got: v.got, qualities, t0 };
  };
  const capped = await measure(1.0, 10.5);
  // Skip the first half second while the quality loop settles, then take a 10 s window.
  const start = capped.t0 + 500;
  const bytes = capped.got.filter((g) => g.t >= start && g.t < start + 10_000).reduce((a, g) => a + g.bytes, 0);
  const mbps = bytes / 10 / 1e6;
  if (process.env.SLUICE_VERBOSE) console.log(`capped output: ${mbps.toFixed(3)} MB/s`);
  assert.ok(Math.abs(mbps - 1.0) <= 0.1, `measured ${mbps.toFixed(3)} MB/s`);
  const free = await measure(0, 1.5);
  assert.deepEqual([...free.qualities], [4], 'without a cap the quality never changes');
  assert.ok(free.got.length > 20);
});

test('netcam ! scale ! display: a remote camera through a pipeline and back to a viewer', { timeout: 60_000 }, async () => {
  const { launch } = await import('../src/index.ts');
  const p = launch('netcam port=0 token=t num-frames=40 ! scale width=320 height=240 ! display port=0 token=t');
  const ports: Record<string, number> = {};
  const ready = new Promise<void>((r) => p.bus.on('element', (m) => { if (m.name === 'listening') { ports[m.source] = m.data.port as number; if (Object.keys(ports).length === 2) r(); } }));
  const done = p.run();
  await ready;
  const v = await viewer(ports.display0!, 't');
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: W, height: H, format: 'yuvj420p', data: picture(false, 0) }, 3);
  const c = await camera(ports.netcam0!, 't', 30, [jpeg]);
  const report = await done;
  await c.stop();
  await sleep(200);
  assert.equal(report.elements.netcam0!.framesOut, 40);
  assert.ok(v.got.length >= 20, `viewer got ${v.got.length} frames`);
  assert.ok(v.got.every((g) => g.ts > 0 && Date.now() - g.ts < 10_000), 'frames carry the camera capture time');
  v.close();
  await codec.close();
});

test('CLI: webcam-client streams a file into a netcam pipeline, view writes what display serves', { timeout: 120_000 }, async () => {
  const [camPort, viewPort] = [await freePort(), await freePort()];
  const dir = tmp();
  const pipeline = sluice(['launch', `netcam port=${camPort} num-frames=40 ! scale width=320 height=180 ! display port=${viewPort}`, '-q']);
  // Wait until both servers accept connections (a probe that says nothing is just dropped).
  const up = async (port: number) => {
    for (let i = 0; i < 200; i++) {
      const ok = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
      if (ok) return;
      await sleep(100);
    }
    throw new Error(`port ${port} never opened`);
  };
  await up(camPort);
  await up(viewPort);
  const viewing = sluice(['view', '--server', `127.0.0.1:${viewPort}`, '--out', `${dir}/seen.mp4`]);
  await sleep(1000);
  const cam = await sluice(['webcam-client', '--server', `127.0.0.1:${camPort}`, '--file', media('face-demographics-walking-and-pause.mp4'), '--loop', '--frames', '60']);
  assert.equal(cam.code, 0, cam.stderr);
  const [p, v] = await Promise.all([pipeline, viewing]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(v.code, 0, v.stderr);
  const probe = ffprobe(`${dir}/seen.mp4`);
  assert.deepEqual([probe.width, probe.height], [320, 180]);
  assert.ok(probe.frames >= 20, `viewer recorded ${probe.frames} frames`);
});

test('fuzz: random headers, random payloads and random disconnects leave the server up and memory flat', { timeout: 120_000 }, async () => {
  const cam = new WebcamServer({ limits: { maxPayload: 256 * 1024 } });
  const { port } = await cam.listen();
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: 320, height: 240, format: 'yuvj420p', data: new Uint8Array(320 * 240 * 1.5).fill(90) }, 5);
  const rnd = (n: number) => { const b = Buffer.alloc(n); randomFillSync(b); return b; };
  const round = async (k: number) => {
    const s = connect(port, '127.0.0.1');
    s.resume();
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    const kind = k % 5;
    if (kind === 0) s.write(rnd(1 + (k % 4000)));
    else {
      s.write(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.alloc(0) }));
      const payload = kind === 1 ? rnd(100 + (k % 50_000)) : kind === 2 ? jpeg.subarray(0, k % jpeg.length) : jpeg;
      const msg = encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: k, ts: Date.now(), width: 320, height: 240, payload });
      s.write(kind === 3 ? msg.subarray(0, msg.length >> 1) : msg);
    }
    await sleep(2);
    s.destroy();
  };
  // Warm up (allocator arenas, decoder state), then memory must level off (see the WebSocket
  // fuzz below for why the heap is the exact measure and RSS gets a looser bound).
  const mem: Awaited<ReturnType<typeof liveMemoryMB>>[] = [];
  for (let phase = 0; phase < 6; phase++) {
    for (let k = phase * 400; k < (phase + 1) * 400; k++) await round(k);
    await sleep(100);
    mem.push(await liveMemoryMB());
  }
  const show = mem.map((m) => `${m.heap.toFixed(2)}/${m.rss.toFixed(0)}`).join(' ');
  const heapGrowth = Math.max(...mem.slice(3).map((m) => m.heap)) - mem[2]!.heap;
  const rssGrowth = Math.max(...mem.slice(3).map((m) => m.rss)) - mem[2]!.rss;
  const clients = cam.stats.clients;
  try {
    assert.equal(clients, 0, 'every fuzzing client is gone from the server');
    assert.ok(heapGrowth < 1, `JS heap still growing (heap/RSS MB by phase): ${show}`);
    assert.ok(rssGrowth < 60, `RSS still growing (heap/RSS MB by phase): ${show}`);
  } catch (e) {
    await cam.close();
    await codec.close();
    throw e;
  }
  // Still serving: a good client gets decoded.
  const before = cam.stats.decoded;
  const c = await camera(port, '', 30, [jpeg]);
  await sleep(500);
  await c.stop();
  assert.ok(cam.stats.decoded > before, 'a well-behaved camera is still decoded');
  assert.ok(cam.stats.errors > 0 && cam.stats.rejected > 0, `errors ${cam.stats.errors}, rejected ${cam.stats.rejected}`);
  await cam.close();
  await codec.close();
});

test('web hub: a page that connected before the display attached still gets the display (its hello is replayed)', async () => {
  const { WebSocket } = await import('ws');
  const free = await freePort();
  const cam = new WebcamServer({ port: free, web: true, token: 't' });
  await cam.listen();
  const ws = new WebSocket(`ws://127.0.0.1:${free}/ws?token=t`);
  await new Promise((r) => ws.once('open', r));
  const got: number[] = [];
  ws.on('message', (d: Buffer) => got.push(d.readUInt32BE(8)));
  ws.send(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from('t') }));
  await sleep(100);
  assert.equal(cam.stats.clients, 1);
  // Like a pipeline whose model loads between netcam and display: the display comes later.
  const out = new StreamServer({ port: free, web: true, token: 't' });
  await out.listen();
  assert.equal(out.viewerCount, 1);
  out.write({ width: 64, height: 48, format: 'yuvj420p', data: new Uint8Array(64 * 48 * 1.5).fill(100) }, { seq: 42, ts: 1 });
  for (let i = 0; i < 50 && got.length === 0; i++) await sleep(20);
  assert.deepEqual(got, [42]);
  // A second server of the same role on that port is refused, naming the port.
  const second = new StreamServer({ port: free, web: true, token: 't' });
  await assert.rejects(second.listen(), /already has a display/);
  await second.close();
  // A different token on a shared port is refused.
  const other = new StreamServer({ port: free, web: true, token: 'other' });
  await assert.rejects(other.listen(), /same token/);
  await other.close();
  ws.close();
  await out.close();
  await cam.close();
});

test('fuzz over WebSocket: text, garbage, oversized, truncated and wrong-token messages and abrupt closes; two good pages keep working', { timeout: 120_000 }, async () => {
  const { WebSocket } = await import('ws');
  const port = await freePort();
  const limits = { maxPayload: 256 * 1024 };
  const cam = new WebcamServer({ port, web: true, token: 'k', limits });
  const out = new StreamServer({ port, web: true, token: 'k', limits });
  await cam.listen();
  await out.listen();
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: 320, height: 240, format: 'yuvj420p', data: new Uint8Array(320 * 240 * 1.5).fill(90) }, 5);
  const hello = (t: string) => encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(t) });
  const frame = (seq: number, payload: Buffer) => encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq, ts: Date.now(), width: 320, height: 240, payload });
  const rnd = (n: number) => { const b = Buffer.alloc(n); randomFillSync(b); return b; };
  // Two well-behaved pages stream and watch the whole time.
  const good = await Promise.all([0, 1].map(async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=k`);
    await new Promise((r) => ws.once('open', r));
    ws.send(hello('k'));
    const seen = { n: 0 };
    ws.on('message', () => { seen.n++; });
    return { ws, seen };
  }));
  let stop = false;
  const app = (async () => { while (!stop) { const f = await Promise.race([cam.read(), sleep(50).then(() => null)]); if (f) out.write(f, { seq: f.seq, ts: f.ts }); } })();
  let seq = 0;
  const feeder = setInterval(() => { for (const g of good) if (g.ws.readyState === 1) g.ws.send(frame(seq++, jpeg)); }, 33);
  const round = async (k: number) => {
    // Every seventh round has no token on the URL and is refused before the WebSocket opens.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${k % 7 === 6 ? '' : '?token=k'}`);
    ws.on('error', () => {});
    const opened = await new Promise<boolean>((r) => { ws.once('open', () => r(true)); ws.once('close', () => r(false)); });
    if (!opened) return;
    const kind = k % 6;
    if (kind === 0) ws.send(rnd(1 + (k % 4000)));
    else if (kind === 1) ws.send('not binary');
    else if (kind === 2) ws.send(hello('wrong'));
    else {
      ws.send(hello('k'));
      if (kind === 3) ws.send(frame(k, rnd(100 + (k % 50_000))));
      else if (kind === 4) ws.send(frame(k, jpeg).subarray(0, 20 + (k % 40)));
      else ws.send(Buffer.concat([frame(k, jpeg).subarray(0, 28), rnd(300 * 1024)]));
    }
    await sleep(2);
    if (k % 2) ws.terminate(); else ws.close();
  };
  const mem: Awaited<ReturnType<typeof liveMemoryMB>>[] = [];
  const PH = Number(process.env.SLUICE_FUZZ_PHASES ?? 10);
  for (let phase = 0; phase < PH; phase++) {
    for (let k = phase * 300; k < (phase + 1) * 300; k++) await round(k);
    await sleep(100);
    mem.push(await liveMemoryMB());
    if (process.env.SLUICE_VERBOSE) console.log('phase', phase, JSON.stringify(mem.at(-1)));
  }
  clearInterval(feeder);
  stop = true;
  await app;
  const counts = good.map((g) => g.seen.n);
  // Every bad page is gone from the servers: only the two good ones are still counted.
  await sleep(100);
  const live = { cameras: cam.stats.clients, viewers: out.viewerCount };
  for (const g of good) g.ws.close();
  await out.close();
  await cam.close();
  await codec.close();
  assert.deepEqual(live, { cameras: 2, viewers: 2 });
  // Memory levels off after warm-up. The JS heap is exact after gc(): leaked connections,
  // parsers or closures (3,000+ of them) would show. Buffers handed to the JPEG worker are
  // freed by that worker's own collector, so Buffer and RSS figures lag as a sawtooth; RSS
  // gets a bound that a leak of the payloads (~15 MB of oversized frames per phase) breaks.
  const tail = mem.slice(4);
  const heapGrowth = Math.max(...tail.map((m) => m.heap)) - mem[3]!.heap;
  const rssGrowth = Math.max(...tail.map((m) => m.rss)) - mem[3]!.rss;
  const show = mem.map((m) => `${m.heap.toFixed(2)}/${m.rss.toFixed(0)}`).join(' ');
  assert.ok(heapGrowth < 1, `JS heap still growing (heap/RSS MB by phase): ${show}`);
  assert.ok(rssGrowth < 60, `RSS still growing (heap/RSS MB by phase): ${show}`);
  assert.ok(cam.stats.rejected >= 600, `rejected ${cam.stats.rejected}`);
  // Both good pages kept receiving results throughout.
  for (const n of counts) assert.ok(n > 20, `a good page saw ${counts}`);
});
