// The pipeline as a Graphviz DOT graph (as GStreamer's GST_DEBUG_DUMP_DOT_DIR dumps): one box
// per element with its type, state, the properties that differ from their defaults and its pads
// as ports; one edge per link with the media type and the queue in front of the receiver. Once
// frames have flowed, each box also shows fps, busy share and the queue's high-water mark.
import type { z } from 'zod';
import { propDashed, propInfo } from './props.ts';
import type { ElementNode, Pipeline, PipelineReport } from './pipeline.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const id = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
const FILL: Record<string, string> = { source: '#d8f0d8', sink: '#d8e4f4', filter: '#f4f4f4' };

/** Properties whose values differ from the element's defaults, in launch spelling. */
function changedProps(n: ElementNode): string[] {
  const shape = (n.def.props as unknown as { shape: Record<string, z.ZodType> }).shape ?? {};
  const out: string[] = [];
  for (const [k, v] of Object.entries(n.props)) {
    const info = shape[k] ? propInfo(shape[k]) : undefined;
    if (info && JSON.stringify(info.default) === JSON.stringify(v)) continue;
    let text = typeof v === 'string' ? v : JSON.stringify(v);
    if (text.length > 48) text = `${text.slice(0, 45)}...`;
    out.push(`${propDashed(k)}=${text}`);
  }
  return out;
}

function label(n: ElementNode, state: string, report: PipelineReport | null): string {
  const rows: string[] = [];
  const cell = (s: string, extra = '') => `<TD${extra}>${s}</TD>`;
  const sinks = n.sinkPads, srcs = n.srcPads;
  const props = changedProps(n);
  // Pads as ports on the left (sink) and right (src) of the element's text.
  const middle = [`<B>${esc(n.name)}</B>`, `<FONT POINT-SIZE="10">${esc(n.def.name)} · ${state}</FONT>`,
    ...props.map((s) => `<FONT POINT-SIZE="9">${esc(s)}</FONT>`)];
  if (report) {
    const r = report.elements[n.name];
    if (r) middle.push(`<FONT POINT-SIZE="9" COLOR="#204080">${r.fps.toFixed(1)} fps · busy ${(r.busy * 100).toFixed(0)}%${r.queue.capacity ? ` · queue ${r.queue.highWater}/${r.queue.capacity}` : ''}${r.dropped ? ` · dropped ${r.dropped}` : ''}</FONT>`);
  }
  const span = Math.max(1, sinks.length, srcs.length);
  for (let i = 0; i < span; i++) {
    let row = '';
    if (sinks.length) row += sinks[i] ? cell(esc(sinks[i]!.name), ` PORT="${esc(sinks[i]!.name)}" BGCOLOR="#ffffff"`) : cell('');
    if (i === 0) row += `<TD ROWSPAN="${span}" BALIGN="LEFT">${middle.join('<BR/>')}</TD>`;
    if (srcs.length) row += srcs[i] ? cell(esc(srcs[i]!.name), ` PORT="${esc(srcs[i]!.name)}" BGCOLOR="#ffffff"`) : cell('');
    rows.push(`<TR>${row}</TR>`);
  }
  return `<<TABLE BORDER="1" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" BGCOLOR="${FILL[n.def.kind] ?? '#ffffff'}">${rows.join('')}</TABLE>>`;
}

/** DOT text of the pipeline; `stats` adds per-element rates (once frames have flowed). */
export function pipelineDot(p: Pipeline, o: { stats?: boolean; title?: string } = {}): string {
  const lines = [
    `digraph pipeline {`,
    `  rankdir=LR; fontname="Helvetica"; fontsize=11; labelloc=t;`,
    `  label=${id(o.title ?? (p.options.description || 'pipeline'))};`,
    `  node [shape=plaintext fontname="Helvetica" fontsize=11]; edge [fontname="Helvetica" fontsize=9];`,
  ];
  const report = o.stats ? p.report() : null;
  for (const n of p.nodes) lines.push(`  ${id(n.name)} [label=${label(n, p.state, report)}];`);
  for (const n of p.nodes) {
    for (const pad of n.srcPads) {
      const peer = pad.peer;
      if (!peer) continue;
      const caps = pad.template.caps.includes('ANY') ? peer.template.caps : pad.template.caps.filter((c) => peer.template.caps.includes('ANY') || peer.template.caps.includes(c));
      const ch = peer.element.channel;
      const q = ch ? `\\nqueue ${ch.capacity}` : '';
      const conv = peer.converts ? `\\nconverts ${peer.converts}` : '';
      lines.push(`  ${id(n.name)}:${id(pad.name)} -> ${id(peer.element.name)}:${id(peer.name)} [label="${caps.join(', ')}${q}${conv}"];`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
