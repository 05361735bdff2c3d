// tile: composite N streams into one grid frame (DeepStream's nvmultistreamtiler). Each stream
// is scaled by swscale straight into its cell of the output (letterboxed, no intermediate
// frame); rows, columns and the canvas follow the streams' count and aspect unless given. A
// composite goes out when every stream has delivered a frame since the last one. Objects are mapped into the grid's pixels and keep their stream in
// attributes.stream.
import { SoftwareScaleContext } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P, SWS_BILINEAR } from 'node-av/constants';
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { SluiceError, Err } from '../core/errors.ts';
import { newFrame, releaseFrame, type Frame, type ObjectMeta } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { AVPixels, allocVideoFrame, avOf, toPts } from '../media/av.ts';
import { font, textWidth } from '../draw/glyphs.ts';
import { fillRect, rgbToYuv, text, type Canvas } from '../draw/planes.ts';
import { STREAM, TILES } from '../meta/keys.ts';

const LABEL_BG = rgbToYuv(20, 20, 20);

const props = z.object({
  width: p.int(0, 'output width (even); 0: from the streams (cells at their aspect, the whole at most 1920x1080, never upscaled)', { min: 0, max: 8192 }),
  height: p.int(0, 'output height (even); 0: from the streams, or from width and the grid', { min: 0, max: 8192 }),
  rows: p.int(0, 'grid rows (DeepStream rows); 0 picks the grid that shows the streams largest', { min: 0, max: 64 }),
  cols: p.int(0, 'grid columns (DeepStream columns); 0 picks the grid that shows the streams largest', { min: 0, max: 64 }),
  streams: p.int(0, 'number of streams to lay out; 0 counts linked inputs or, after mux, its batch size', { min: 0, max: 1024 }),
  labels: p.bool(true, 'write each tile\'s name in its top-left corner'),
  names: p.str('', 'tile names, comma-separated in stream order (default: "stream N")'),
  fontSize: p.int(14, 'tile label size in pixels', { min: 6, max: 128 }),
});

interface Cell { x: number; y: number; w: number; h: number }
export interface Grid { width: number; height: number; rows: number; cols: number }

const MAX_W = 1920, MAX_H = 1080;
const even = (x: number) => Math.max(2, 2 * Math.round(x / 2));

/**
 * The grid for n streams of srcW x srcH: rows/columns as given, else those that show the streams
 * largest (ties: the fewest empty cells, then side by side); the canvas as given, else the grid's
 * cells at the streams' own aspect, scaled to fit 1920x1080 (or the given width or height) and
 * never up, so no part of it is black but unused cells.
 */
export function chooseGrid(n: number, srcW: number, srcH: number, o: Grid): Grid {
  n = Math.max(1, n);
  const grids: [number, number][] = [];
  if (o.cols && o.rows) grids.push([o.cols, o.rows]);
  else if (o.cols) grids.push([o.cols, Math.ceil(n / o.cols)]);
  else if (o.rows) grids.push([Math.ceil(n / o.rows), o.rows]);
  else for (let c = 1; c <= n; c++) grids.push([c, Math.ceil(n / c)]);
  // One side given: the other is bounded as for a 16:9 screen of that size.
  const maxW = o.width || (o.height ? (o.height * 16) / 9 : MAX_W), maxH = o.height || (o.width ? (o.width * 9) / 16 : MAX_H);
  // A canvas from the streams alone is never scaled up; a given width or height is filled.
  const scaleOf = ([c, r]: [number, number]) => Math.min(maxW / (c * srcW), maxH / (r * srcH), o.width || o.height ? Infinity : 1);
  let best = grids[0]!;
  for (const g of grids.slice(1)) {
    const a = scaleOf(g), b = scaleOf(best);
    const cells = g[0] * g[1], bestCells = best[0] * best[1];
    if (a > b * 1.0001 || (Math.abs(a - b) <= b * 0.0001 && (cells < bestCells || (cells === bestCells && g[0] > best[0])))) best = g;
  }
  const [cols, rows] = best;
  const k = scaleOf(best);
  return { cols, rows, width: o.width || even(cols * srcW * k), height: o.height || even(rows * srcH * k) };
}

/** Grid geometry: cell of stream i, letterboxed for a src of srcW x srcH. */
export function cellFor(i: number, n: number, o: Grid, srcW: number, srcH: number): Cell {
  const cols = o.cols || Math.ceil(Math.sqrt(n));
  const rows = o.rows || Math.ceil(n / cols);
  const cw = Math.floor(o.width / cols) & ~1, ch = Math.floor(o.height / rows) & ~1;
  const r = Math.min(cw / srcW, ch / srcH);
  const w = Math.max(2, Math.round(srcW * r) & ~1), h = Math.max(2, Math.round(srcH * r) & ~1);
  const col = i % cols, row = Math.floor(i / cols);
  return { x: (col * cw + ((cw - w) >> 1)) & ~1, y: (row * ch + ((ch - h) >> 1)) & ~1, w, h };
}

export default defineElement({
  name: 'tile',
  summary: 'Composite several streams into one grid (nvmultistreamtiler)',
  kind: 'filter',
  pads: [joinSinkPads(), srcPad()],
  props,
  create(o, ctx) {
    if (o.width % 2 || o.height % 2) throw new Err.PROPERTY(`tile width and height must be even (got ${o.width}x${o.height})`);
    /** The canvas is fixed by the first composite (an encoder after it cannot change size); the grid follows the stream count. */
    let grid: Grid | null = null;
    let gridFor = -1;
    const names = o.names ? o.names.split(',').map((n) => n.trim()) : [];
    const labelFont = font(o.fontSize);
    const latest = new Map<number, Frame>();
    const fresh = new Set<number>();
    const scalers = new Map<number, { key: string; ctx: SoftwareScaleContext }>();
    let streams = o.streams;
    let out = 0;
    let t0 = -1;

    /** Streams removed from a dynamic pipeline: their late frames are not drawn. */
    const removed = new Set<number>();
    /** Cell of stream s: its rank among the streams upstream (ids grow as branches come and go). */
    let order: readonly number[] = [];
    const slot = (s: number) => { const i = order.indexOf(s); return i >= 0 ? i : s; };
    const compose = async (): Promise<Frame> => {
      order = ctx.upstreamStreams;
      const n = Math.max(o.streams || Math.max(streams, order.length), ...[...latest.keys()].map((s) => slot(s) + 1));
      if (!grid || gridFor !== n) {
        const first = [...latest.values()][0]!;
        grid = chooseGrid(n, first.width, first.height, grid ? { ...o, width: grid.width, height: grid.height } : o);
        gridFor = n;
      }
      const pts = [...latest.values()].reduce((m, f) => Math.max(m, f.pts), 0);
      if (t0 < 0) t0 = pts;
      // Owned from the start, so a scaling error below cannot leak the composed frame.
      const owned = new AVPixels(allocVideoFrame(grid.width, grid.height, AV_PIX_FMT_YUV420P, toPts(pts - t0)));
      try {
        return await draw(owned, n, pts, grid);
      } catch (e) {
        owned.release();
        throw e;
      }
    };

    const draw = async (owned: AVPixels, n: number, pts: number, g: Grid): Promise<Frame> => {
      const av = owned.av;
      const data = av.data!, ls = av.linesize;
      data[0]!.fill(16, 0, ls[0]! * g.height);
      data[1]!.fill(128, 0, ls[1]! * (g.height >> 1));
      data[2]!.fill(128, 0, ls[2]! * (g.height >> 1));
      const objects: ObjectMeta[] = [];
      for (const [s, f] of latest) {
        const cell = cellFor(slot(s), n, g, f.width, f.height);
        const src = avOf(f.pixels, ctx.name);
        const key = `${f.width}x${f.height}:${src.format}:${cell.w}x${cell.h}`;
        let sc = scalers.get(s);
        if (!sc || sc.key !== key) {
          sc?.ctx.freeContext();
          const c = new SoftwareScaleContext();
          c.getContext(f.width, f.height, src.format as never, cell.w, cell.h, AV_PIX_FMT_YUV420P, SWS_BILINEAR);
          if (c.initContext() < 0) throw new Err.FORMAT(`tile cannot scale ${f.format} ${f.width}x${f.height}`);
          sc = { key, ctx: c };
          scalers.set(s, sc);
        }
        // Write straight into the cell: plane pointers offset to its top-left corner.
        const dst = [
          data[0]!.subarray(cell.y * ls[0]! + cell.x),
          data[1]!.subarray((cell.y >> 1) * ls[1]! + (cell.x >> 1)),
          data[2]!.subarray((cell.y >> 1) * ls[2]! + (cell.x >> 1)),
        ];
        const r = await sc.ctx.scale(src.data!, src.linesize, 0, f.height, dst, [ls[0]!, ls[1]!, ls[2]!]);
        if (r < 0) throw new Err.FORMAT(`tile: scaling stream ${s} failed (${r})`);
        if (o.labels) {
          const label = ctx.streamLabel(s);
          const name = names[s] ?? (label !== String(s) ? label : `stream ${s}`);
          const canvas: Canvas = { width: g.width, height: g.height, planes: [[data[0]!, ls[0]!, 0, 0], [data[1]!, ls[1]!, 1, 1], [data[2]!, ls[2]!, 1, 1]] };
          fillRect(canvas, cell.x, cell.y, cell.x + textWidth(labelFont, name) + 8, cell.y + labelFont.height, LABEL_BG);
          text(canvas, labelFont, name, cell.x + 4, cell.y);
        }
        // Source pixels of stream s -> its frame -> the cell.
        const x = f.xform, kx = cell.w / f.width, ky = cell.h / f.height;
        for (const ob of f.meta.objects) {
          const b = ob.box;
          const moved: ObjectMeta = { ...ob, box: [(b[0] * x.sx + x.dx) * kx + cell.x, (b[1] * x.sy + x.dy) * ky + cell.y, (b[2] * x.sx + x.dx) * kx + cell.x, (b[3] * x.sy + x.dy) * ky + cell.y], attributes: { ...ob.attributes } };
          STREAM.set(moved, s);
          objects.push(moved);
        }
      }
      const frame = newFrame({ stream: 0, frame: out++, pts: pts - t0, rate: [...latest.values()][0]?.rate, width: g.width, height: g.height, format: 'yuv420p', pixels: owned });
      frame.meta.objects = objects;
      TILES.set(frame, [...latest.keys()].map((s) => ({ stream: s, ...cellFor(slot(s), n, g, latest.get(s)!.width, latest.get(s)!.height) })));
      return frame;
    };

    /** Frames that came while their stream was already in the round being filled. */
    const waiting = new Map<number, Frame[]>();
    // Enough for a file stream that opened a little late to catch up; a stalled camera costs this
    // many frames of delay. Well under the 16 frames a decoding thread lets one stream have out
    // (uri threaded=true): waiting for more would hold every slot, and the stream would stop.
    const AHEAD = 8;
    const take = (frame: Frame) => {
      const old = latest.get(frame.stream);
      if (old) releaseFrame(old);
      latest.set(frame.stream, frame);
      fresh.add(frame.stream);
    };
    /** Compose every round that is full (or the current one, forced), refilling from the waiting frames. */
    const round = async (force: boolean) => {
      for (;;) {
        // The streams upstream (a partial first batch does not say how many there are).
        const expected = o.streams || Math.max(streams, ctx.upstreamStreams.length) || latest.size;
        if (!(fresh.size >= expected || (force && fresh.size > 0))) return;
        force = false;
        fresh.clear();
        await ctx.push(await compose());
        for (const [st, q] of waiting) {
          const f = q.shift();
          if (f) take(f);
          if (!q.length) waiting.delete(st);
        }
        if (!fresh.size) return;
      }
    };

    return {
      start() { if (!streams && ctx.sinkPads.length > 1) streams = ctx.sinkPads.length; },
      async process(frame) {
        if (removed.has(frame.stream)) { ctx.drop(frame); return; }
        if (frame.batch && !o.streams) streams = Math.max(streams, frame.batch.size);
        if (fresh.has(frame.stream)) {
          // Ahead of the others (a partial mux batch): wait for the round to fill, up to AHEAD
          // frames; past that the others have stalled and the round goes with their last pictures.
          let q = waiting.get(frame.stream);
          if (!q) waiting.set(frame.stream, q = []);
          q.push(frame);
          if (q.length > AHEAD) await round(true);
          return;
        }
        take(frame);
        await round(false);
      },
      async flush() {
        while (fresh.size > 0) await round(true);
      },
      streamRemoved(s) {
        removed.add(s);
        fresh.delete(s);
        for (const f of waiting.get(s) ?? []) ctx.drop(f);
        waiting.delete(s);
        const f = latest.get(s);
        if (f) releaseFrame(f);
        latest.delete(s);
        scalers.get(s)?.ctx.freeContext();
        scalers.delete(s);
        if (!o.streams) streams = 0;
      },
      stop() {
        for (const f of latest.values()) releaseFrame(f);
        latest.clear();
        for (const q of waiting.values()) for (const f of q) releaseFrame(f);
        waiting.clear();
        for (const s of scalers.values()) s.ctx.freeContext();
      },
    };
  },
});
