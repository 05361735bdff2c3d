// Human output: the end-of-run table with the bottleneck verdict (the live line is progress.ts).
import type { PipelineReport } from '../core/pipeline.ts';

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
