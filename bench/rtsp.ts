// RTSP out on loopback: latency from a frame's birth (testsrc) to a client receiving its last
// RTP packet (encode tune=zerolatency ! rtsp), and the server's CPU per added client (FFmpeg
// clients copying the stream, in their own processes, so only Sluice's CPU is counted).
//   node bench/rtsp.ts [--seconds 6] [--size 1280x720]
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch } from '../src/index.ts';

const args = process.argv.slice(2);
const flag = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1]! : d; };
const seconds = Number(flag('--seconds', '6'));
const [W, H] = flag('--size', '1280x720').split('x').map(Number) as [number, number];
const port = 18000 + Math.floor(Math.random() * 2000);

const born = new Map<number, number>();
const p = launch(`testsrc pattern=objects live=true fps=30 width=${W} height=${H} ! encode preset=ultrafast tune=zerolatency gop=30 ! rtsp port=${port}`);
// The rtsp sink stamps RTP with round(pts * 90000): remember when each pts was born.
p.addProbe('testsrc0.src', (f) => { born.set(Math.round(f.pts * 90000) >>> 0, f.born); });
await p.setState('playing');
await sleep(1000);

/** A minimal RTSP client (TCP interleaved) that notes when each access unit's last packet arrives. */
async function latencyClient(ms: number): Promise<number[]> {
  const url = `rtsp://127.0.0.1:${port}/ds`;
  const s = connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let text = '';
  const lat: number[] = [];
  let playing = false;
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf[0] === 0x24) {
        if (buf.length < 4) return;
        const len = buf.readUInt16BE(2);
        if (buf.length < 4 + len) return;
        const rtp = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (rtp.length >= 12 && (rtp[1]! & 0x80) && (rtp[1]! & 0x7f) === 96) {
          const b = born.get(rtp.readUInt32BE(4));
          if (b !== undefined) lat.push(performance.now() - b);
        }
        continue;
      }
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const cl = Number(/Content-Length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + cl) return;
      text += head;
      buf = buf.subarray(end + 4 + cl);
    }
  });
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(`SETUP ${url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`);
  for (let i = 0; i < 100 && !/Session: (\w+)/.test(text); i++) await sleep(10);
  const session = /Session: (\w+)/.exec(text)![1];
  s.write(`PLAY ${url} RTSP/1.0\r\nCSeq: 2\r\nSession: ${session}\r\n\r\n`);
  playing = true;
  await sleep(ms);
  s.destroy();
  return playing ? lat : [];
}

const q = (a: number[], f: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? NaN; };
const lat = await latencyClient(seconds * 1000);

/** Sluice's CPU (user + system, % of one core) over `ms` with k FFmpeg clients copying the stream. */
async function cpuWith(k: number, ms: number): Promise<number> {
  const clients: ChildProcess[] = [];
  for (let i = 0; i < k; i++) clients.push(spawn('ffmpeg', ['-v', 'quiet', '-rtsp_transport', 'tcp', '-i', `rtsp://127.0.0.1:${port}/ds`, '-c', 'copy', '-f', 'null', '-'], { stdio: 'ignore' }));
  await sleep(1500);
  const c0 = process.cpuUsage(), t0 = performance.now();
  await sleep(ms);
  const c = process.cpuUsage(c0), dt = performance.now() - t0;
  for (const x of clients) x.kill('SIGKILL');
  await sleep(300);
  return ((c.user + c.system) / 1000 / dt) * 100;
}

const cpu: Record<number, number> = {};
for (const k of [0, 1, 5, 20]) cpu[k] = await cpuWith(k, seconds * 1000);
p.sendEosRequest();
await p.wait();
await p.setState('null');

console.log(`rtsp out, ${W}x${H} 30 fps live testsrc, x264 ultrafast zerolatency gop 30, ${cpus().length} x ${cpus()[0]?.model.trim()}`);
console.log(`latency born -> client receipt (${lat.length} frames): p50 ${q(lat, 0.5).toFixed(1)} ms, p99 ${q(lat, 0.99).toFixed(1)} ms`);
console.log('clients  sluice CPU (% of a core)  per added client vs 0');
for (const k of [0, 1, 5, 20]) console.log(`${String(k).padStart(7)}  ${cpu[k]!.toFixed(1).padStart(24)}  ${k ? ((cpu[k]! - cpu[0]!) / k).toFixed(2) : '-'}`);
