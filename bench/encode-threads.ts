// Benchmark: ms per 1080p frame of `encode` (libx264) by thread count, on a realistic composite:
// a 2x2 tile of four real clips from ../shared/media at 1920x1080 (made once by Sluice itself,
// nearly lossless), decoded frame by frame and given to encoders of each thread count in turn,
// so every count encodes the same pictures in the same run. Also measures how much of each
// encode call runs on the main thread (node-av's encode is async work on libuv's pool).
//   node bench/encode-threads.ts [--frames N] [--preset veryfast] [--tune zerolatency] [--threads 1,0]
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { launch } from '../src/index.ts';
import { VideoSource } from '../src/media/source.ts';
import { VideoEncoder } from '../src/media/writer.ts';
import { getLogger } from '../src/core/log.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const frames = Number(flag('--frames', '240'));
const preset = flag('--preset', 'veryfast');
const tune = flag('--tune', 'zerolatency');
const counts = flag('--threads', '1,0').split(',').map(Number);
const media = join(resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared'), 'media');
const clips = ['car-detection.mp4', 'one-by-one-person-detection.mp4', 'bottle-detection.mp4', 'head-pose-face-detection-female-and-male.mp4'];
const composite = join(tmpdir(), `sluice-composite-1080p-${frames}.mkv`);

if (!existsSync(composite)) {
  const inputs = clips.map((c, i) => `uri location=${join(media, c)} loop=true num-frames=${frames} ! t.sink_${i}`).join(' ');
  await launch(`${inputs} tile name=t width=1920 height=1080 ! file location=${composite} preset=ultrafast crf=8`, { statsIntervalMs: 0 }).run();
}

const encoders = counts.map((threads) => new VideoEncoder({ codec: 'h264', fps: 30, preset, crf: 23, bitrate: 0, gop: 30, tune, quality: 4, globalHeader: false, threads }));
const elu = counts.map(() => 0);
const wall = counts.map(() => 0);
const src = new VideoSource({ location: composite, hw: 'none', loop: false, log: getLogger('bench') });
await src.open();
// Every frame decoded first (3 MB each) and the source closed: nothing else runs during the
// timed calls (the source's read-ahead would count as the encoder's main-thread time).
const pictures: NonNullable<Awaited<ReturnType<typeof src.next>>>['av'][] = [];
for (let d = await src.next(); d; d = await src.next()) pictures.push(d.av);
await src.close();
const n = pictures.length;
for (const [j, av] of pictures.entries()) {
  // Rotate which count goes first, so none always runs on a cache warmed by another.
  for (let k = 0; k < encoders.length; k++) {
    const i = (j + k) % encoders.length;
    const e0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    for (const p of await encoders[i]!.encode(av, j / 30, 30)) p.free();
    wall[i]! += performance.now() - t0;
    elu[i]! += performance.eventLoopUtilization(e0).active;
  }
  av.free();
}
console.log(`${n} frames of a 1920x1080 composite of 4 real clips, x264 ${preset} tune=${tune}, ${availableParallelism()} cores (${cpus()[0]?.model})`);
console.log('threads (asked -> used)  p50 ms  p99 ms  mean ms  main-thread ms/frame');
for (const [i, c] of counts.entries()) {
  const e = encoders[i]!;
  for (const p of await e.flush()) p.free();
  const d = e.describe();
  console.log(`${`${c === 0 ? 'auto' : c} -> ${d.threads}${d.slicedThreads ? ' sliced' : ''}`.padEnd(24)} ${String(d.encodeMsP50).padStart(6)}  ${String(d.encodeMsP99).padStart(6)}  ${(wall[i]! / n).toFixed(2).padStart(7)}  ${(elu[i]! / n).toFixed(3).padStart(8)}`);
  e.close();
}
