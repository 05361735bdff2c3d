// The machine-readable report of a run (`--report FILE.json`): per element frames, fps, busy
// fraction, latency, drops and queue high-water, plus what the element resolved at start.
import type { ElementReport, ElementStats, LatencyHistogram, Verdict } from './stats.ts';

export interface PipelineReport {
  version: 1;
  pipeline?: string;
  /** Frames the sources produced. */
  frames: number;
  wallSeconds: number;
  fps: number;
  elements: Record<string, ElementReport>;
  /**
   * The main thread's event loop, busy fraction over the run (the process's: shared with any other
   * pipeline in it). Elements' per-frame work all runs there; near 1 it is the limit.
   */
  mainThread?: { busy: number };
  bottleneck: Verdict | null;
  /**
   * Live streams (frames with a capture time): the latency budget, and the frames dropped to
   * keep within it, per stream and reason and per element that dropped them.
   */
  live?: { maxLatencyMs: number; dropped: Record<string, Record<string, number>>; droppedBy: Record<string, number> };
  errors: { source: string; code: string; message: string }[];
}

/** What a report needs of an element node (structural, so this file does not import the pipeline). */
export interface Reportable {
  def: { name: string };
  stats: ElementStats;
  endToEnd: LatencyHistogram;
  sinceCapture: LatencyHistogram;
  droppedLate: number;
  isSource: boolean;
  channel: { dropped: number; capacity: number; highWater: number } | null;
  impl: { describe?(): Record<string, string | number | boolean> } | null;
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function reportOf(n: Reportable, wall: number): ElementReport {
  const s = n.stats;
  const count = n.isSource ? s.framesOut : s.framesIn;
  const r: ElementReport = {
    type: n.def.name,
    framesIn: s.framesIn,
    framesOut: s.framesOut,
    fps: wall > 0 ? count / wall : 0,
    busy: wall > 0 ? Math.min(1, s.busyMs / 1000 / wall) : 0,
    latencyMs: { p50: round3(s.latency.quantile(0.5)), p99: round3(s.latency.quantile(0.99)) },
    dropped: s.dropped + (n.channel?.dropped ?? 0),
    queue: { capacity: n.channel?.capacity ?? 0, highWater: n.channel?.highWater ?? 0 },
  };
  const d = n.impl?.describe?.();
  if (d) r.resolved = d;
  if (n.sinceCapture.count > 0) r.sinceCaptureMs = { p50: round3(n.sinceCapture.quantile(0.5)), p99: round3(n.sinceCapture.quantile(0.99)) };
  if (n.droppedLate > 0) r.droppedLate = n.droppedLate;
  if (n.endToEnd.count > 0) r.endToEndMs = { p50: round3(n.endToEnd.quantile(0.5)), p99: round3(n.endToEnd.quantile(0.99)) };
  return r;
}
