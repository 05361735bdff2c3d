// Benchmark: the pipeline `uri ! scale ! file` against the same steps written as one sequential
// loop (decode -> scale -> encode -> mux, each awaited in turn), same file, same process, same
// FFmpeg calls. Prints a table and writes bench/results.json.
//   node bench/pipeline-vs-loop.ts [video] [--runs N] [--size WxH]
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launch } from '../src/index.ts';
import { VideoSource } from '../src/media/source.ts';
import { Scaler } from '../src/media/scale.ts';
import { FileMuxer, VideoEncoder, needsGlobalHeader } from '../src/media/writer.ts';
import { getLogger } from '../src/core/log.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : def; };
const assets = resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared');
const input = args[0] && !args[0].startsWith('--') ? args[0] : join(assets, 'media', 'bottle-detection.mp4');
const runs = Number(flag('--runs', '3'));
const [W, H] = flag('--size', '320x180').split('x').map(Number) as [number, number];
const preset = flag('--preset', 'veryfast');

async function sequential(out: string): Promise<{ seconds: number; frames: number }> {
  const t0 = performance.now();
  const src = new VideoSource({ location: input, hw: 'none', loop: false, log: getLogger('bench') });
  await src.open();
  const scaler = new Scaler({ width: W, height: H, format: '', letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
  const enc = new VideoEncoder({ codec: 'h264', fps: 0, preset, crf: 23, bitrate: 0, gop: 0, quality: 4, globalHeader: needsGlobalHeader('mp4') });
  const mux = new FileMuxer(out, 'mp4');
  await mux.open();
  let frames = 0;
  for (;;) {
    const d = await src.next();
    if (!d) break;
    const { av } = await scaler.scale(d.av);
    d.av.free();
    const packets = await enc.encode(av, d.pts, src.rate);
    av.free();
    for (const p of packets) { await mux.write(p, enc.info!); p.free(); }
    frames++;
  }
  for (const p of await enc.flush()) { await mux.write(p, enc.info!); p.free(); }
  await mux.close();
  enc.close();
  scaler.close();
  await src.close();
  return { seconds: (performance.now() - t0) / 1000, frames };
}

async function pipeline(out: string) {
  const t0 = performance.now();
  const r = await launch(`uri location=${input} hw=none ! scale width=${W} height=${H} ! file location=${out} preset=${preset}`, { statsIntervalMs: 0 }).run();
  return { seconds: (performance.now() - t0) / 1000, frames: r.frames, report: r };
}

const dir = tmpdir();
const rows: { run: number; loop: number; pipe: number }[] = [];
let last: Awaited<ReturnType<typeof pipeline>> | null = null;
// Alternate the order so neither side always runs on a warmer machine.
for (let i = 0; i < runs; i++) {
  const a = i % 2 === 0 ? await sequential(join(dir, 'bench-loop.mp4')) : null;
  const b = await pipeline(join(dir, 'bench-pipe.mp4'));
  const c = a ?? await sequential(join(dir, 'bench-loop.mp4'));
  if (b.frames !== c.frames) throw new Error(`frame counts differ: pipeline ${b.frames}, loop ${c.frames}`);
  rows.push({ run: i + 1, loop: c.frames / c.seconds, pipe: b.frames / b.seconds });
  last = b;
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const loopFps = med(rows.map((r) => r.loop));
const pipeFps = med(rows.map((r) => r.pipe));
const result = {
  date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version,
  input, size: `${W}x${H}`, preset, frames: last!.frames, runs: rows,
  loopFps, pipelineFps: pipeFps, ratio: pipeFps / loopFps,
  bottleneck: last!.report.bottleneck?.text,
  elements: Object.fromEntries(Object.entries(last!.report.elements).map(([k, v]) => [k, { fps: v.fps, busy: v.busy, p50: v.latencyMs.p50 }])),
};
writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
console.log(`input ${input} -> ${W}x${H} h264 (${preset}), ${last!.frames} frames, ${cpus().length} cores, median of ${runs}`);
console.log('run  loop fps  pipeline fps');
for (const r of rows) console.log(`${String(r.run).padStart(3)}  ${r.loop.toFixed(1).padStart(8)}  ${r.pipe.toFixed(1).padStart(12)}`);
console.log(`pipeline / loop = ${(pipeFps / loopFps).toFixed(2)}x`);
for (const [k, v] of Object.entries(result.elements)) console.log(`  ${k.padEnd(8)} busy ${(v.busy * 100).toFixed(0).padStart(3)}%  p50 ${v.p50.toFixed(2)} ms`);
console.log(`verdict: ${result.bottleneck}`);
