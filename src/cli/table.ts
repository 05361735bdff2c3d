// Human output: the live status line and the end-of-run table with the bottleneck verdict.
import type { Pipeline, PipelineReport } from '../core/pipeline.ts';
import type { StatsSnapshot } from '../core/stats.ts';

export function liveLine(s: StatsSnapshot, pipeline: Pipeline): string {
  let frames = 0;
  for (const n of pipeline.nodes) if (n.isSource) frames += n.stats.framesOut;
  const fps = s.wallSeconds > 0 ? frames / s.wallSeconds : 0;
  return `frames ${frames}  ${fps.toFixed(1)} fps  ${s.wallSeconds.toFixed(1)} s`;
}

export function formatTable(r: PipelineReport): string {
  const head = ['element', 'type', 'in', 'out', 'fps', 'busy', 'p50 ms', 'p99 ms', 'dropped', 'queue'];
  const rows = Object.entries(r.elements).map(([name, e]) => [
    name, e.type, String(e.framesIn), String(e.framesOut), e.fps.toFixed(1), `${Math.round(e.busy * 100)}%`,
    e.latencyMs.p50.toFixed(2), e.latencyMs.p99.toFixed(2), String(e.dropped), e.queue.capacity ? `${e.queue.highWater}/${e.queue.capacity}` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lines = [fmt(head), ...rows.map(fmt)];
  lines.push(`${r.frames} frames in ${r.wallSeconds.toFixed(2)} s (${r.fps.toFixed(1)} fps)`);
  if (r.bottleneck) lines.push(r.bottleneck.text);
  return lines.join('\n');
}
