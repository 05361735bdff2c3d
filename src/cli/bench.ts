// `sluice bench`: throughput of a pipeline as users run it, repeated and summarised by the
// median, with each element's fps, busy fraction and latency and the bottleneck verdict of the
// median run. Without a pipeline it runs a built-in suite on input it generates itself (a
// 1080p H.264 clip made by testsrc + libx264, and the colour-segmentation model built in code),
// so it works on a fresh machine with nothing downloaded; where the test media are (a real
// video), the decode and chain cases run on a realistic clip made from it too (realisticClip).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Decoder, Demuxer, Encoder, FilterAPI, Muxer } from 'node-av/api';
import { FF_ENCODER_LIBX264 } from 'node-av/constants';
import type { Frame as AVFrame } from 'node-av/lib';
import { buildPipeline } from '../core/graph.ts';
import { parseLaunch } from '../core/launch.ts';
import { SluiceError, Err } from '../core/errors.ts';
import type { GraphSpec } from '../core/graph.ts';
import type { PipelineReport } from '../core/pipeline.ts';
import { registry } from '../index.ts';
import { writeColourModel } from '../infer/colour-model.ts';
import { cacheDir } from '../infer/compile/cache.ts';

export interface BenchCase { name: string; pipeline: string; spec?: GraphSpec }
export interface BenchRun { fps: number; frames: number; wallSeconds: number }
export interface BenchResult {
  name: string;
  pipeline: string;
  /** Median over runs of frames (from the sources) per second of playing time. */
  fps: number;
  runs: BenchRun[];
  /** The report of the run whose fps is the median: per-element rates and the verdict. */
  report: PipelineReport;
}
export interface BenchOptions { runs: number; seconds: number; onRun?: (c: BenchCase, r: BenchRun, i: number) => void }

/** Run one pipeline `runs` times; an endless one (or any, with seconds > 0) gets EOS after `seconds`. */
export async function benchCase(c: BenchCase, o: BenchOptions): Promise<BenchResult> {
  const done: { run: BenchRun; report: PipelineReport }[] = [];
  for (let i = 0; i < o.runs; i++) {
    const pipeline = buildPipeline(c.spec ?? parseLaunch(c.pipeline), registry(), { description: c.pipeline, statsIntervalMs: 0 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (o.seconds > 0) {
      // Start the clock once the pipeline plays (model loading is not part of the throughput).
      pipeline.bus.on('state-changed', (m) => {
        if (m.source === 'pipeline' && m.current === 'playing') timer = setTimeout(() => pipeline.sendEosRequest(), o.seconds * 1000);
      });
    }
    try {
      const report = await pipeline.run();
      const run = { fps: report.fps, frames: report.frames, wallSeconds: report.wallSeconds };
      done.push({ run, report });
      o.onRun?.(c, run, i);
    } finally {
      clearTimeout(timer);
    }
  }
  const sorted = [...done].sort((a, b) => a.run.fps - b.run.fps);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { name: c.name, pipeline: c.pipeline, fps: mid.run.fps, runs: done.map((d) => d.run), report: mid.report };
}

export interface RealisticClipOptions {
  /** The real video to start from; default `$SLUICE_TEST_ASSETS/media/one-by-one-person-detection.mp4`. */
  video?: string;
  /** Frames in the clip (at `fps`); benchmarks loop it. */
  frames?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** x264 target (and VBV maximum) in bit/s, as a camera's constant-bitrate stream. */
  bitrate?: number;
  /** FFmpeg `noise` strength (temporal: a new pattern every frame, as a sensor's). */
  noise?: number;
  /** Where clips are kept; default `<cache dir>/clips`. */
  dir?: string;
}
export interface RealisticClip {
  path: string;
  source: string;
  frames: number;
  width: number;
  height: number;
  fps: number;
  /** Bit/s of the file as written: ffprobe's figure where FFmpeg's CLI is installed, else size / duration. */
  bitrate: number;
  bitrateFrom: 'ffprobe' | 'size/duration';
  cached: boolean;
  /** One short label for tables: "real scene 1080p 4.0 Mbit/s". */
  label: string;
}

/** Bump when the recipe changes, so cached clips made the old way are not reused. */
const CLIP_RECIPE = 1;
/** Pixels of one cell of the clip's frame-code strip (two rows of 32, testsrc's layout: readCode reads it). */
export const CLIP_CODE_CELL = 32;

/** The default real video (CC BY 4.0, ../shared/media): an indoor scene, people coming and going. */
export function defaultRealVideo(): string {
  return join(resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared'), 'media', 'one-by-one-person-detection.mp4');
}

/**
 * The benchmarks' realistic clip: a real video scaled to 1080p (default), sensor-like temporal
 * noise, x264 preset medium at a camera's constant ~4 Mbit/s, a fixed GOP of 30 at 30 fps. The
 * testsrc clip (flat shapes, x264 ultrafast, a few hundred kbit/s) decodes ~2.5x faster than
 * real cameras do, so benchmarks on it alone overstate capacity. Each frame's number within the
 * clip is burned along its bottom-left as testsrc's code strip (row 0: the number; row 1: its
 * complement, so a misread is detected), so a reader of any output (a tiled RTSP stream) knows
 * which frame each cell shows. Cached by the sha256 of the video and the recipe.
 */
export async function realisticClip(o: RealisticClipOptions = {}): Promise<RealisticClip> {
  const video = resolve(o.video ?? defaultRealVideo());
  const frames = o.frames ?? 300, width = o.width ?? 1920, height = o.height ?? 1080, fps = o.fps ?? 30;
  const bitrate = o.bitrate ?? 4_000_000, noise = o.noise ?? 12;
  if (!existsSync(video)) throw new Err.FILE_NOT_FOUND(`the real video for the realistic clip is not there: ${video} (set SLUICE_TEST_ASSETS to the folder holding media/, or pass another video)`);
  if (width % 2 || height % 2 || width < 32 * CLIP_CODE_CELL) throw new Err.PROPERTY(`realistic clip: width and height must be even and width >= ${32 * CLIP_CODE_CELL} (the frame-code strip) (got ${width}x${height})`);
  const dir = o.dir ?? join(cacheDir(), 'clips');
  const recipe = { v: CLIP_RECIPE, frames, width, height, fps, bitrate, noise, cell: CLIP_CODE_CELL };
  const key = createHash('sha256').update(readFileSync(video)).update(JSON.stringify(recipe)).digest('hex').slice(0, 24);
  const path = join(dir, `real-${basename(video).replace(/\.[^.]+$/, '')}-${width}x${height}-${key}.mp4`);
  const cached = existsSync(path);
  if (!cached) {
    mkdirSync(dir, { recursive: true });
    const part = `${path}.${process.pid}.part`;
    try {
      await writeRealisticClip(video, part, { frames, width, height, fps, bitrate, noise });
      renameSync(part, path);
    } catch (e) {
      rmSync(part, { force: true });
      throw e instanceof SluiceError ? e : new Err.ENCODE(`making the realistic clip from ${video} failed: ${(e as Error).message}`, { cause: e });
    }
  }
  const rate = await measureBitrate(path);
  return { path, source: video, frames, width, height, fps, ...rate, cached, label: `real scene ${height}p ${(rate.bitrate / 1e6).toFixed(1)} Mbit/s` };
}

/** The code strip as FFmpeg drawbox filters keyed on the frame number `n` (nothing to draw in JS). */
function codeFilters(height: number, bits: number): string[] {
  const c = CLIP_CODE_CELL, y0 = height - 2 * c;
  const f = [`drawbox=x=0:y=${y0}:w=${32 * c}:h=${c}:color=black:t=fill`, `drawbox=x=0:y=${y0 + c}:w=${(32 - bits) * c}:h=${c}:color=white:t=fill`, `drawbox=x=${(32 - bits) * c}:y=${y0 + c}:w=${bits * c}:h=${c}:color=black:t=fill`];
  for (let b = 0; b < bits; b++) {
    const x = (31 - b) * c, on = `mod(floor(n/${2 ** b}),2)`;
    f.push(`drawbox=x=${x}:y=${y0}:w=${c}:h=${c}:color=white:t=fill:enable='eq(${on},1)'`);
    f.push(`drawbox=x=${x}:y=${y0 + c}:w=${c}:h=${c}:color=white:t=fill:enable='eq(${on},0)'`);
  }
  return f;
}

async function writeRealisticClip(video: string, out: string, o: { frames: number; width: number; height: number; fps: number; bitrate: number; noise: number }): Promise<void> {
  await using input = await Demuxer.open(video);
  const vs = input.video();
  if (!vs) throw new Err.NO_VIDEO(`${video} has no video stream to make the realistic clip from`);
  using dec = await Decoder.create(vs);
  const bits = Math.max(1, Math.ceil(Math.log2(o.frames)));
  // fps first (a 10 fps scene repeats frames; the noise after it still differs every frame).
  const graph = [`fps=${o.fps}`, `scale=${o.width}:${o.height}:flags=bicubic`, 'format=yuv420p', `noise=alls=${o.noise}:allf=t`, ...codeFilters(o.height, bits), `setpts=N/(${o.fps}*TB)`].join(',');
  using filter = FilterAPI.create(graph, { timeBase: vs.timeBase } as never);
  // A camera's stream: constant bitrate (VBV max = target), keyframes every 30 frames, never on a scene cut.
  using enc = await Encoder.create(FF_ENCODER_LIBX264, { bitrate: o.bitrate, maxRate: o.bitrate, bufSize: o.bitrate * 2, gopSize: 30, options: { preset: 'medium', sc_threshold: '0', keyint_min: '30' } as never });
  await using mux = await Muxer.open(out, { format: 'mp4' });
  const idx = mux.addStream(enc);
  async function* first(): AsyncGenerator<AVFrame | null> {
    let n = 0;
    for await (const f of filter.frames(dec.frames(input.packets(vs!.index)))) {
      if (!f) break;
      if (n++ >= o.frames) { f.free(); break; }
      yield f;
    }
    yield null;
  }
  for await (const p of enc.packets(first())) {
    if (!p) break;
    await mux.writePacket(p, idx);
    p.free();
  }
}

/** The clip's real bitrate: ffprobe's (the figure users quote) where installed, else bytes / duration. */
export async function measureBitrate(path: string): Promise<{ bitrate: number; bitrateFrom: 'ffprobe' | 'size/duration' }> {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=bit_rate', '-of', 'default=nw=1:nk=1', path], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  if (r.status === 0 && v > 0) return { bitrate: v, bitrateFrom: 'ffprobe' };
  await using input = await Demuxer.open(path);
  return { bitrate: Math.round(statSync(path).size * 8 / input.duration), bitrateFrom: 'size/duration' };
}

/**
 * The built-in suite: source, decode, decode + scale, encode, inference, and the whole demo-like
 * chain, each isolating one stage so the table says which costs what on this machine.
 */
export async function builtinSuite(o: { ep: string; frames: number; video?: string }): Promise<{ cases: BenchCase[]; cleanup: () => void; clips: { testsrc: string; real?: RealisticClip } }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const clip = join(dir, 'clip-1080p.mp4');
  const n = o.frames;
  // The decode cases need a real H.264 file: make one (testsrc objects, libx264 ultrafast).
  const make = buildPipeline(parseLaunch(`testsrc pattern=objects width=1920 height=1080 num-objects=8 num-frames=${n} ! file location=${clip} preset=ultrafast`), registry(), { description: 'bench input', statsIntervalMs: 0 });
  await make.run();
  // Beside it the realistic clip (a real scene, noise, x264 medium ~4 Mbit/s), when the real
  // video is there: testsrc's flat shapes decode ~2.5x faster than camera footage.
  let real: RealisticClip | undefined;
  const video = o.video ?? defaultRealVideo();
  if (existsSync(video)) {
    real = await realisticClip({ video, frames: Math.min(n, 300) });
    process.stderr.write(`realistic clip: ${real.path} (${real.frames} frames, ${real.width}x${real.height} ${real.fps} fps, ${(real.bitrate / 1e6).toFixed(2)} Mbit/s by ${real.bitrateFrom}${real.cached ? ', cached' : ''})\n`);
  } else process.stderr.write(`no real video at ${video} (SLUICE_TEST_ASSETS): the suite runs on the testsrc clip only\n`);
  const { model, labels } = writeColourModel(320, 180);
  const infer = `infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none ep=${o.ep}`;
  const tag = ' (testsrc clip)';
  const chain = `scale width=960 height=540 ! ${infer} mask-objects=true ! track ! osd ! encode preset=veryfast ! fakesink`;
  // The real clip loops to the same frame count as the testsrc cases.
  const realSrc = real ? `uri location=${real.path} hw=none loop=true num-frames=${n}` : '';
  const cases: BenchCase[] = [
    { name: 'testsrc 1080p', pipeline: `testsrc pattern=objects width=1920 height=1080 num-objects=8 num-frames=${n} ! fakesink` },
    { name: `decode 1080p H.264${tag}`, pipeline: `uri location=${clip} hw=none ! fakesink` },
    ...(real ? [{ name: `decode 1080p H.264 (${real.label})`, pipeline: `${realSrc} ! fakesink` }] : []),
    { name: `decode + scale to 640x360${tag}`, pipeline: `uri location=${clip} hw=none ! scale width=640 height=360 ! fakesink` },
    ...(real ? [{ name: `decode + scale to 640x360 (${real.label})`, pipeline: `${realSrc} ! scale width=640 height=360 ! fakesink` }] : []),
    { name: 'encode 720p H.264 (veryfast)', pipeline: `testsrc pattern=objects width=1280 height=720 num-frames=${n} ! encode preset=veryfast ! fakesink` },
    { name: `infer 320x180 segmentation (${o.ep})`, pipeline: `testsrc pattern=objects width=640 height=360 num-frames=${n} ! ${infer} ! fakesink` },
    { name: `decode ! infer ! track ! osd ! encode${tag}`, pipeline: `uri location=${clip} hw=none ! ${chain}` },
    ...(real ? [{ name: `decode ! infer ! track ! osd ! encode (${real.label})`, pipeline: `${realSrc} ! ${chain}` }] : []),
  ];
  return { cases, cleanup: () => rmSync(dir, { recursive: true, force: true }), clips: { testsrc: clip, ...(real ? { real } : {}) } };
}

/** Machine facts printed with every result (ratios are only comparable on one machine). */
export function machine(): { date: string; cpus: number; cpu: string; node: string; platform: string } {
  return { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}` };
}

export function formatBench(results: BenchResult[]): string {
  const rows = results.map((r) => {
    const spread = r.runs.length > 1 ? `${Math.min(...r.runs.map((x) => x.fps)).toFixed(1)}-${Math.max(...r.runs.map((x) => x.fps)).toFixed(1)}` : '';
    return [r.name, r.fps.toFixed(1), spread, r.report.bottleneck?.text ?? ''];
  });
  const head = ['case', 'fps', 'range', 'verdict (median run)'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function checkRuns(runs: number, seconds: number): void {
  if (!Number.isInteger(runs) || runs < 1) throw new Err.PROPERTY(`--runs must be a whole number >= 1 (got ${runs})`);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Err.PROPERTY(`--seconds must be a number >= 0 (got ${seconds})`);
}
