// Loopback latency of the remote-camera path with no model: a camera client sends 640x480 JPEGs
// at 30 fps with their capture time; the app loop does read() -> write() (echo); a viewer
// measures now - capture time for each frame it gets back. node bench/remote-latency.ts
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamServer, WebcamServer } from '../src/net/servers.ts';
import { JpegCodec } from '../src/net/jpeg.ts';
import { FORMAT_JPEG, MessageParser, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../src/net/protocol.ts';

const W = 640, H = 480, seconds = Number(process.argv[2] ?? 10);
const cam = new WebcamServer();
const out = new StreamServer();
const { port: cport } = await cam.listen();
const { port: sport } = await out.listen();
const codec = new JpegCodec();
const pic = new Uint8Array(W * H * 1.5).fill(128);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) pic[y * W + x] = (x * 3 + y) & 255;
const jpeg = await codec.encode({ width: W, height: H, format: 'yuvj420p', data: pic }, 5);
const hello = encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.alloc(0) });
const v = connect(sport, '127.0.0.1'); v.setNoDelay(true);
await new Promise((r) => v.once('connect', r)); v.write(hello);
const lat: number[] = [];
const parser = new MessageParser();
v.on('data', (c: Buffer) => { for (const m of parser.push(c)) lat.push(Date.now() - m.ts); });
const c = connect(cport, '127.0.0.1'); c.setNoDelay(true);
await new Promise((r) => c.once('connect', r)); c.write(hello);
let stop = false;
// The application loop: echo each new camera frame, keeping its capture time.
void (async () => { while (!stop) { const f = await cam.read(); out.write(f, { seq: f.seq, ts: f.ts }); } })();
const t0 = performance.now();
for (let seq = 0; performance.now() - t0 < seconds * 1000; seq++) {
  c.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq, ts: Date.now(), width: W, height: H, payload: jpeg }));
  const wait = t0 + ((seq + 1) * 1000) / 30 - performance.now();
  if (wait > 0) await sleep(wait);
}
await sleep(300);
stop = true;
lat.sort((a, b) => a - b);
const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
console.log(`640x480 JPEG at 30 fps over loopback, ${lat.length} frames echoed: latency p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lat.at(-1)} ms`);
c.destroy(); v.destroy();
await cam.close(); await out.close(); await codec.close();
process.exit(0);
