// analytics: regions and lines over tracked objects (DeepStream's nvdsanalytics).
//  - lines: directional crossing counts; a crossing is the track's anchor point moving from one
//    side of the segment's line to the other while passing between its ends.
//  - rois: polygons with per-frame occupancy, entry/exit events, dwell time, overcrowding.
// Events go to meta.events and to the bus as element messages; running totals are in
// meta.user.analytics. Configure with properties (all streams) or config=FILE.yaml (per stream).
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYamlText } from 'yaml';
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { Err } from '../core/errors.ts';
import type { EventMeta, Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { ANALYTICS, ANALYTICS_SHAPES, type AnalyticsSummary } from '../meta/keys.ts';

const props = z.object({
  lines: p.str('', 'counting lines "name:x1,y1,x2,y2;..." in source pixels; "in" is crossing from the left of x1,y1→x2,y2 to its right'),
  rois: p.str('', 'regions "name:x1,y1,x2,y2,x3,y3,...;..." (polygons, source pixels)'),
  overcrowd: p.int(0, 'ROI occupancy above which an overcrowding event fires (0: off)', { min: 0 }),
  anchor: p.enum(['center', 'bottom'], 'center', 'point of the box that counts: its centre, or bottom centre (feet)'),
  classes: p.str('', 'only these classes (labels or ids, comma-separated); empty: all tracked objects'),
  grace: p.int(10, 'frames a tracked object may go unseen before it counts as having left a region', { min: 0 }),
  config: p.str('', 'YAML: streams: {0: {lines: {name: [x1,y1,x2,y2]}, rois: {name: [[x,y],...]}, overcrowd: N}}'),
});

interface Line { name: string; a: [number, number]; b: [number, number]; in: number; out: number }
interface Roi { name: string; pts: [number, number][]; overcrowd: number; inside: Map<number, { since: number; seen: number }>; crowded: boolean }
interface StreamCfg { lines: Line[]; rois: Roi[] }

function nums(s: string, what: string): number[] {
  const v = s.split(',').map((x) => Number(x.trim()));
  if (v.some((x) => !Number.isFinite(x))) throw new Err.PROPERTY(`${what}: "${s}" must be comma-separated numbers`);
  return v;
}

function parseLines(spec: string): Line[] {
  return spec.split(';').filter((x) => x.trim()).map((item, i) => {
    const [name, coords] = item.includes(':') ? item.split(':') as [string, string] : [`line${i}`, item];
    const v = nums(coords, `line ${name}`);
    if (v.length !== 4) throw new Err.PROPERTY(`line ${name} needs x1,y1,x2,y2 (got ${v.length} numbers)`);
    return { name: name.trim(), a: [v[0]!, v[1]!], b: [v[2]!, v[3]!], in: 0, out: 0 };
  });
}

function parseRois(spec: string, overcrowd: number): Roi[] {
  return spec.split(';').filter((x) => x.trim()).map((item, i) => {
    const [name, coords] = item.includes(':') ? item.split(':') as [string, string] : [`roi${i}`, item];
    const v = nums(coords, `roi ${name}`);
    if (v.length < 6 || v.length % 2) throw new Err.PROPERTY(`roi ${name} needs at least 3 points as x,y pairs`);
    const pts: [number, number][] = [];
    for (let k = 0; k < v.length; k += 2) pts.push([v[k]!, v[k + 1]!]);
    return { name: name.trim(), pts, overcrowd, inside: new Map(), crowded: false };
  });
}

/** Which side of the line through a→b the point is on: >0 right (in image coordinates), <0 left. */
function side(l: Line, x: number, y: number): number {
  return (l.b[0] - l.a[0]) * (y - l.a[1]) - (l.b[1] - l.a[1]) * (x - l.a[0]);
}

/** Whether segment p→q crosses segment a→b. */
function segmentsCross(p: [number, number], q: [number, number], a: [number, number], b: [number, number]): boolean {
  const o = (u: [number, number], v: [number, number], w: [number, number]) => Math.sign((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]));
  return o(p, q, a) !== o(p, q, b) && o(a, b, p) !== o(a, b, q);
}

export function insidePolygon(pts: [number, number][], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i]!, [xj, yj] = pts[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function fromConfig(file: string, overcrowd: number): Map<number, StreamCfg> {
  if (!existsSync(file)) throw new Err.FILE_NOT_FOUND(`analytics config not found: ${file}`);
  const raw = parseYamlText(readFileSync(file, 'utf8')) as { streams?: Record<string, { lines?: Record<string, number[]>; rois?: Record<string, number[][]>; overcrowd?: number }> };
  if (!raw?.streams) throw new Err.YAML(`${file}: expected "streams:" with per-stream lines and rois`);
  const out = new Map<number, StreamCfg>();
  for (const [sid, c] of Object.entries(raw.streams)) {
    const lines = Object.entries(c.lines ?? {}).map(([name, v]) => parseLines(`${name}:${v.join(',')}`)[0]!);
    const rois = Object.entries(c.rois ?? {}).map(([name, v]) => parseRois(`${name}:${v.flat().join(',')}`, c.overcrowd ?? overcrowd)[0]!);
    out.set(Number(sid), { lines, rois });
  }
  return out;
}

export default defineElement({
  name: 'analytics',
  summary: 'Count line crossings and ROI occupancy, dwell and overcrowding on tracked objects',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  pixels: () => 'none',
  passesPixels: () => true,
  props,
  create(o, ctx) {
    const perStream = o.config ? fromConfig(o.config, o.overcrowd) : null;
    const template = () => ({ lines: parseLines(o.lines), rois: parseRois(o.rois, o.overcrowd) });
    template(); // validate before start
    const state = new Map<number, StreamCfg & { last: Map<number, [number, number, number]> }>();
    const wanted = o.classes ? new Set(o.classes.split(',').map((s) => s.trim())) : null;
    return {
      streamRemoved(s) { state.delete(s); },
      async process(frame: Frame) {
        let st = state.get(frame.stream);
        if (!st) {
          const cfg = perStream ? perStream.get(frame.stream) ?? { lines: [], rois: [] } : template();
          st = { ...cfg, last: new Map() };
          state.set(frame.stream, st);
        }
        const events: EventMeta[] = [];
        const seen = new Set<number>();
        for (const obj of frame.meta.objects) {
          if (obj.track === undefined) continue;
          if (wanted && !wanted.has(obj.label ?? '') && !wanted.has(String(obj.class))) continue;
          const x = (obj.box[0] + obj.box[2]) / 2;
          const y = o.anchor === 'bottom' ? obj.box[3] : (obj.box[1] + obj.box[3]) / 2;
          seen.add(obj.track);
          const prev = st.last.get(obj.track);
          if (prev) {
            const from: [number, number] = [prev[0], prev[1]];
            for (const l of st.lines) {
              const s0 = side(l, from[0], from[1]), s1 = side(l, x, y);
              if (s0 !== 0 && s1 !== 0 && Math.sign(s0) !== Math.sign(s1) && segmentsCross(from, [x, y], l.a, l.b)) {
                const direction = s0 < 0 ? 'in' : 'out';
                l[direction]++;
                events.push({ type: 'line-cross', line: l.name, track: obj.track, direction });
              }
            }
          }
          st.last.set(obj.track, [x, y, frame.frame]);
          for (const r of st.rois) {
            const inside = insidePolygon(r.pts, x, y);
            const cur = r.inside.get(obj.track);
            if (inside && !cur) { r.inside.set(obj.track, { since: frame.pts, seen: frame.frame }); events.push({ type: 'roi-enter', roi: r.name, track: obj.track }); }
            else if (!inside && cur) { r.inside.delete(obj.track); events.push({ type: 'roi-exit', roi: r.name, track: obj.track, dwell: frame.pts - cur.since }); }
            else if (inside && cur) cur.seen = frame.frame;
            if (inside) obj.attributes[`dwell:${r.name}`] = Math.round((frame.pts - r.inside.get(obj.track)!.since) * 1000) / 1000;
          }
        }
        // A track unseen for longer than the grace period has left its regions.
        for (const r of st.rois) for (const [track, cur] of r.inside) if (!seen.has(track) && frame.frame - cur.seen > o.grace) {
          r.inside.delete(track);
          events.push({ type: 'roi-exit', roi: r.name, track, dwell: frame.pts - cur.since });
        }
        // Forget positions of long-gone tracks so memory stays bounded.
        if (frame.frame % 100 === 0) for (const [track, v] of st.last) if (frame.frame - v[2] > 300) st.last.delete(track);
        const summary: AnalyticsSummary = {};
        for (const l of st.lines) summary[l.name] = { in: l.in, out: l.out };
        for (const r of st.rois) {
          const count = r.inside.size;
          summary[r.name] = { occupancy: count };
          const crowded = r.overcrowd > 0 && count > r.overcrowd;
          if (crowded !== r.crowded) {
            r.crowded = crowded;
            events.push({ type: crowded ? 'overcrowding' : 'overcrowding-end', roi: r.name, count });
          }
        }
        ANALYTICS.set(frame, summary);
        // Geometry and counts for drawing (osd), in source pixels.
        ANALYTICS_SHAPES.set(frame, {
          lines: st.lines.map((l) => ({ name: l.name, a: l.a, b: l.b, in: l.in, out: l.out })),
          rois: st.rois.map((r) => ({ name: r.name, pts: r.pts, occupancy: r.inside.size })),
        });
        frame.meta.events.push(...events);
        for (const e of events) ctx.post({ type: 'element', source: ctx.name, name: e.type, data: { ...e, stream: frame.stream, frame: frame.frame } });
        await ctx.push(frame);
      },
    };
  },
});
