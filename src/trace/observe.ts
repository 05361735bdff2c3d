// Observability that the environment turns on, installed on every pipeline as it is made (the
// way GST_DEBUG_DUMP_DOT_DIR and GStreamer's tracers work), so the engine knows none of it:
//   SLUICE_DEBUG_DUMP_DOT_DIR=dir  the graph at each state change (the last one with rates)
//   SLUICE_TRACE=file.json         a Chrome/Perfetto timeline of every frame through every element
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPipelineObserver, type Pipeline } from '../core/pipeline.ts';
import { pipelineDot } from '../core/dot.ts';
import { TimelineRecorder } from './timeline.ts';

/** GStreamer-style timestamp of a dump: h.mm.ss.nnnnnnnnn since the process started. */
function stamp(): string {
  const ns = process.hrtime.bigint() - START;
  const s = Number(ns / 1_000_000_000n), frac = String(ns % 1_000_000_000n).padStart(9, '0');
  return `${Math.floor(s / 3600)}.${String(Math.floor(s / 60) % 60).padStart(2, '0')}.${String(s % 60).padStart(2, '0')}.${frac}`;
}
const START = process.hrtime.bigint();

export function dumpDot(p: Pipeline, dir: string, from: string, to: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${stamp()}-sluice.${from.toUpperCase()}_${to.toUpperCase()}.dot`), pipelineDot(p, { stats: to === 'null' || from === 'playing' }));
  } catch {
    // A debugging aid must never break the run.
  }
}

/** Subscribe one pipeline to what the environment asks for. */
export function observe(p: Pipeline, env: NodeJS.ProcessEnv = process.env): void {
  const dotDir = env.SLUICE_DEBUG_DUMP_DOT_DIR;
  const trace = env.SLUICE_TRACE;
  if (!dotDir && !trace) return;
  let timeline: TimelineRecorder | null = null;
  p.bus.on('state-changed', (m) => {
    if (m.source !== 'pipeline') return;
    // The timeline records from the first frame to the end of the run.
    if (trace && m.current === 'playing' && !timeline) timeline = new TimelineRecorder(trace, p.options.description || 'pipeline', p.nodes.map((n) => n.name));
    if (dotDir) dumpDot(p, dotDir, m.old, m.current);
  });
  if (trace) p.onTeardown(async () => { await timeline?.close(); timeline = null; });
}

addPipelineObserver((p) => observe(p));
