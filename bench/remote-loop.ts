// Decoupling check of NVSS: does talking to a remote camera and viewer slow the application loop?
// A camera client (a separate `sluice webcam-client` process, 640x480 at the video's rate) streams
// in, a viewer (another process) takes frames out. The loop is NVSS's dummy model: invert the
// newest frame. Phase A times invert alone on a held frame; phase B times readNowait() + invert +
// write(). Phases alternate (250 ms each) so both see the same machine load.
// node bench/remote-loop.ts [rounds]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { StreamServer, WebcamServer } from '../src/net/servers.ts';
import { invertFull } from '../src/draw/invert.ts';

const rounds = Number(process.argv[2] ?? 40);
const root = join(import.meta.dirname, '..');
const video = join(process.env.SLUICE_TEST_ASSETS ?? join(root, '..', 'shared'), 'media', 'one-by-one-person-detection.mp4');
const cam = new WebcamServer();
const out = new StreamServer();
const { port: cport } = await cam.listen();
const { port: sport } = await out.listen();
const client = spawn(process.execPath, [join(root, 'bin/sluice.js'), 'webcam-client', '--server', `127.0.0.1:${cport}`, '--file', video, '--loop', '--size', '640x480'], { stdio: 'ignore' });
// A viewer that only drains (a separate process, so its reading is not charged to this loop).
const viewer = spawn(process.execPath, ['-e', `const s=require('net').connect(${sport},'127.0.0.1',()=>{const h=Buffer.alloc(28);h.writeUInt32BE(0x534c4331,0);h[4]=1;h[5]=1;s.write(h)});let n=0;s.on('data',c=>{n+=c.length});setInterval(()=>{},1000)`], { stdio: 'ignore' });
const first = await cam.read();
const dst = new Uint8Array(first.data.length);

// Two separate loops (not one with a flag) so V8 optimises each on its own.
async function invertOnly(ms: number): Promise<number> {
  const held = first;
  const t0 = performance.now();
  let i = 0;
  for (; performance.now() - t0 < ms; i++) {
    invertFull(held.data, dst);
    // Both loops give the event loop the same turns (sockets and workers report there).
    if ((i & 15) === 0) await yieldLoop();
  }
  return (i * 1000) / (performance.now() - t0);
}

async function withIo(ms: number): Promise<number> {
  let held = first;
  const t0 = performance.now();
  let i = 0;
  for (; performance.now() - t0 < ms; i++) {
    held = cam.readNowait().frame ?? held;
    invertFull(held.data, dst);
    out.write({ width: held.width, height: held.height, format: held.format, data: dst }, { seq: held.seq, ts: held.ts });
    if ((i & 15) === 0) await yieldLoop();
  }
  return (i * 1000) / (performance.now() - t0);
}

await sleep(1000);
await invertOnly(500);
await withIo(500);
// Short alternating phases, each B compared with the A phases either side of it: the machine's
// own drift (other processes, clocks) cancels out of the per-pair ratios.
const a: number[] = [], b: number[] = [];
for (let r = 0; r < rounds; r++) { a.push(await invertOnly(250)); b.push(await withIo(250)); }
a.push(await invertOnly(250));
const ratios = b.map((x, i) => x / ((a[i]! + a[i + 1]!) / 2)).sort((p, q) => p - q);
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
console.log(`invert only: ${med(a).toFixed(0)} it/s; readNowait + invert + write: ${med(b).toFixed(0)} it/s; ratio (median of ${rounds} paired phases) ${med(ratios).toFixed(3)}, quartiles ${ratios[rounds >> 2]!.toFixed(3)}..${ratios[(3 * rounds) >> 2]!.toFixed(3)}`);
console.log(`camera frames received ${cam.stats.received}, decoded ${cam.stats.decoded}; frames sent to the viewer ${out.sentFrames} (${(out.sentBytes / 1e6).toFixed(1)} MB)`);
client.kill();
viewer.kill();
await cam.close();
await out.close();
