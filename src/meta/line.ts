// One frame's metadata as a JSON line: what the meta sink writes and the broker sinks (mqtt,
// nats, redis) publish. Field names are a contract (DESIGN.md, docs/metadata.md): fields may be
// added, never renamed.
import type { Frame } from '../core/frame.ts';

const r2 = (x: number) => Math.round(x * 100) / 100;

/** Typed arrays (embeddings) as plain rounded number arrays, so JSON stays readable. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as Float32Array, (x) => Math.round(x * 1e4) / 1e4);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Version of the line's schema (docs/metadata.md): fields may be added, never renamed. */
export const META_VERSION = 1;

/** One frame's metadata as a JSON line; `label` is the stream's id where it has one (sluice serve). */
export function metaLine(f: Frame, label?: string): string {
  const rec: Record<string, unknown> = {
    version: META_VERSION,
    stream: f.stream,
    ...(label !== undefined && label !== String(f.stream) ? { stream_id: label } : {}),
    frame: f.frame,
    pts: Math.round(f.pts * 1e6) / 1e6,
    width: f.source.width,
    height: f.source.height,
    objects: f.meta.objects.map((o) => {
      const out: Record<string, unknown> = { class: o.class, label: o.label ?? String(o.class), score: Math.round(o.score * 1000) / 1000, box: o.box.map(r2) };
      if (o.track !== undefined) out.track = o.track;
      out.attributes = plain(o.attributes);
      return out;
    }),
  };
  if (f.meta.truth) rec.truth = f.meta.truth.map((t) => ({ id: t.id, class: t.class, box: t.box.map(r2), visible: r2(t.visible) }));
  rec.events = f.meta.events;
  if (f.meta.classifications) rec.classifications = f.meta.classifications.map((c) => ({ ...c, score: Math.round(c.score * 1000) / 1000 }));
  if (f.meta.mask) {
    // The class map itself is large; lines carry its size and the share of each class.
    const m = f.meta.mask;
    // A flat histogram (classes are bytes): a Map here cost ~2 ms per 320x180 mask.
    const counts = new Uint32Array(256);
    const d = m.data;
    for (let i = 0; i < d.length; i++) counts[d[i]!]!++;
    const fractions: Record<string, number> = {};
    for (let c = 0; c < 256; c++) if (counts[c]) fractions[m.labels?.[c] ?? String(c)] = Math.round((counts[c]! / d.length) * 1000) / 1000;
    rec.mask = { width: m.width, height: m.height, fractions };
  }
  if (f.meta.embedding) rec.embedding = plain(f.meta.embedding);
  return JSON.stringify(rec);
}
