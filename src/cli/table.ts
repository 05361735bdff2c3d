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
  if (r.live) {
    // Live streams: latency from capture at each sink's hand-off, and what was dropped to keep it.
    const sinks = Object.entries(r.elements).filter(([, e]) => e.endToEndMs && e.sinceCaptureMs).map(([n, e]) => `${n} p50 ${Math.round(e.endToEndMs!.p50)} ms, p99 ${Math.round(e.endToEndMs!.p99)} ms`);
    const drops = Object.entries(r.live.dropped).map(([s, why]) => `stream ${s}: ${Object.entries(why).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    lines.push(`live (max-latency ${r.live.maxLatencyMs} ms): from capture to ${sinks.join('; ') || 'the sinks: none reached'}${drops.length ? `; dropped ${drops.join('; ')}` : '; nothing dropped'}`);
  }
  if (r.bottleneck) lines.push(r.bottleneck.text);
  return lines.join('\n');
}
