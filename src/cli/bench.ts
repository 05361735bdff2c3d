// `sluice bench`: throughput of a pipeline as users run it, repeated and summarised by the
// median, with each element's fps, busy fraction and latency and the bottleneck verdict of the
// median run. Without a pipeline it runs a built-in suite on input it generates itself (a
// 1080p H.264 clip made by testsrc + libx264, and the colour-segmentation model built in code),
// so it works on a fresh machine with nothing downloaded.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPipeline } from '../core/graph.ts';
import { parseLaunch } from '../core/launch.ts';
import { SluiceError, Err } from '../core/errors.ts';
import type { GraphSpec } from '../core/graph.ts';
import type { PipelineReport } from '../core/pipeline.ts';
import { registry } from '../index.ts';
import { writeColourModel } from '../infer/colour-model.ts';

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

/**
 * The built-in suite: source, decode, decode + scale, encode, inference, and the whole demo-like
 * chain, each isolating one stage so the table says which costs what on this machine.
 */
export async function builtinSuite(o: { ep: string; frames: number }): Promise<{ cases: BenchCase[]; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const clip = join(dir, 'clip-1080p.mp4');
  const n = o.frames;
  // The decode cases need a real H.264 file: make one (testsrc objects, libx264 ultrafast).
  const make = buildPipeline(parseLaunch(`testsrc pattern=objects width=1920 height=1080 num-objects=8 num-frames=${n} ! file location=${clip} preset=ultrafast`), registry(), { description: 'bench input', statsIntervalMs: 0 });
  await make.run();
  const { model, labels } = writeColourModel(320, 180);
  const infer = `infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none ep=${o.ep}`;
  const cases: BenchCase[] = [
    { name: 'testsrc 1080p', pipeline: `testsrc pattern=objects width=1920 height=1080 num-objects=8 num-frames=${n} ! fakesink` },
    { name: 'decode 1080p H.264', pipeline: `uri location=${clip} hw=none ! fakesink` },
    { name: 'decode + scale to 640x360', pipeline: `uri location=${clip} hw=none ! scale width=640 height=360 ! fakesink` },
    { name: 'encode 720p H.264 (veryfast)', pipeline: `testsrc pattern=objects width=1280 height=720 num-frames=${n} ! encode preset=veryfast ! fakesink` },
    { name: `infer 320x180 segmentation (${o.ep})`, pipeline: `testsrc pattern=objects width=640 height=360 num-frames=${n} ! ${infer} ! fakesink` },
    { name: 'decode ! infer ! track ! osd ! encode', pipeline: `uri location=${clip} hw=none ! scale width=960 height=540 ! ${infer} mask-objects=true ! track ! osd ! encode preset=veryfast ! fakesink` },
  ];
  return { cases, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
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
