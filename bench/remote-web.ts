// `sluice remote` measured without a browser: the pipeline that `sluice remote --task T` runs,
// in this process, and a WebSocket camera client (the page's protocol) sending one real frame
// (640x480 JPEG) at 30 fps. Reports frames back per second and round-trip latency (capture time
// echoed by the server). node bench/remote-web.ts [task] [model] [ep] [seconds]
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { buildPipeline, parseLaunch, registry } from '../src/index.ts';
import { remotePipeline } from '../src/cli/remote.ts';
import { VideoSource } from '../src/media/source.ts';
import { Scaler } from '../src/media/scale.ts';
import { JpegCodec } from '../src/net/jpeg.ts';
import { getLogger } from '../src/core/log.ts';
import { FORMAT_JPEG, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../src/net/protocol.ts';

const [task = 'invert', model = '', ep = '', secs = '10'] = process.argv.slice(2);
const assets = process.env.SLUICE_TEST_ASSETS ?? join(import.meta.dirname, '..', '..', 'shared');
// A real camera-like frame (bottle-detection.mp4, frame 100), as the browser would send it: JPEG.
async function cameraJpeg(): Promise<Buffer> {
  const src = new VideoSource({ location: join(assets, 'media', 'bottle-detection.mp4'), hw: 'none', loop: false, log: getLogger('bench') });
  await src.open();
  for (let i = 0; i < 100; i++) (await src.next())!.av.free();
  const d = (await src.next())!;
  const scaler = new Scaler({ width: 640, height: 480, format: 'yuvj420p', letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
  const { av } = await scaler.scale(d.av);
  const codec = new JpegCodec();
  const jpeg = await codec.encode({ width: 640, height: 480, format: 'yuvj420p', data: av.toBuffer() }, 4);
  av.free(); d.av.free(); scaler.close(); await src.close(); await codec.close();
  return jpeg;
}
const jpeg = await cameraJpeg();
const port = 18000 + Math.floor(Math.random() * 1000);
const text = remotePipeline({ task, model: model || undefined, host: '127.0.0.1', port, token: '', ep: ep || undefined });
const pipeline = buildPipeline(parseLaunch(text), registry(), { description: text });
const running = pipeline.run();
for (let i = 0; i < 600; i++) {
  const ok = await fetch(`http://127.0.0.1:${port}/config.json`).then((r) => r.ok, () => false);
  if (ok) break;
  await sleep(100);
}
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
await new Promise((r) => ws.once('open', r));
ws.send(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.alloc(0) }));
const rtt: number[] = [];
running.catch((e: Error) => { console.error('pipeline failed:', e.message); process.exit(1); });
// Warm-up lasts until frames come back (a CUDA session's first runs search cuDNN algorithms)
// plus two seconds; only then does the measured window start.
let measureFrom = Infinity;
const t0 = performance.now();
ws.on('message', (d: Buffer) => {
  const now = performance.now();
  if (measureFrom === Infinity) measureFrom = now + 2000;
  if (now >= measureFrom && now < measureFrom + Number(secs) * 1000) rtt.push(performance.timeOrigin + now - d.readDoubleBE(12));
});
let seq = 0;
while (performance.now() < measureFrom + Number(secs) * 1000 && performance.now() - t0 < 120_000) {
  // Like the page: do not queue behind a busy socket.
  if (ws.bufferedAmount === 0) ws.send(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: seq++, ts: performance.timeOrigin + performance.now(), width: 640, height: 480, payload: jpeg }));
  const wait = t0 + (seq * 1000) / 30 - performance.now();
  if (wait > 0) await sleep(wait);
}
await sleep(300);
ws.close();
pipeline.sendEosRequest();
await running;
rtt.sort((a, b) => a - b);
const q = (p: number) => rtt[Math.min(rtt.length - 1, Math.floor(p * rtt.length))]!;
console.log(`${task}${model ? ` ${model}` : ''}${ep ? ` ep=${ep}` : ''}: sent ${seq} frames at 30 fps, ${rtt.length} back in ${secs} s (${(rtt.length / Number(secs)).toFixed(1)} fps); round trip p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms`);
