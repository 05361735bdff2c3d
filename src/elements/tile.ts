// tile: composite N streams into one grid frame (DeepStream's nvmultistreamtiler). Each stream's
// sources make a cell-sized view of its frames as they decode (ElementContext.requestView), which
// is copied into its cell; without one, the frame is scaled by swscale straight into its cell
// (letterboxed, no intermediate frame), cells side by side on libuv's pool. Rows, columns and the
// canvas follow the streams' count and aspect unless given.
// Files (frames without a capture time): one composite per round, every cell from the same frame
// number, a stream that ended left black. Live streams: composites at a fixed rate (`fps`), each
// of the newest frame of every stream, so timestamps advance evenly and a slow or lost camera
// cannot hold up the others; a lost stream's cell is greyed with "lost" and the age of its last
// frame. Objects are mapped into the grid's pixels and keep their stream in attributes.stream.
import { SoftwareScaleContext } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P, SWS_BILINEAR } from 'node-av/constants';
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { Err } from '../core/errors.ts';
import { newFrame, releaseFrame, type Frame, type ObjectMeta } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { AVPixels, allocVideoFrame, avOf, pixFmtFromName, toPts } from '../media/av.ts';
import { SharedPixels, ViewCopy, packedPlanes } from '../media/shared-pixels.ts';
import { hasFullPixels, viewOf } from '../core/frame.ts';
import type { ViewRequest } from '../core/views.ts';
import { copyBytes } from '../core/bytes.ts';
import { font, textWidth } from '../draw/glyphs.ts';
import { fillRect, rgbToYuv, text, type Canvas } from '../draw/planes.ts';
import { STREAM, TILES } from '../meta/keys.ts';

const DIM = rgbToYuv(90, 90, 90);

/**
 * Live composites that may be on their way downstream at once (as nvmultistreamtiler's fixed
 * surface pool): one being encoded, one being drawn on, one waiting. A display chain holding
 * them all is behind, and a tick then makes nothing (counted), rather than a composite that a
 * queue further on would drop after it was drawn: that work took the cores inference needs.
 */
const LIVE_POOL = 3;

/** A composite's pixels; `onFree` is told when the last owner downstream lets them go. */
class PooledPixels extends AVPixels {
  private onFree: () => void;
  constructor(av: ConstructorParameters<typeof AVPixels>[0], onFree: () => void) { super(av); this.onFree = onFree; }
  protected free(): void { super.free(); this.onFree(); }
}

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
  fps: p.num(0, 'live streams: composites per second (each of the newest frame of every stream); 0: the fastest stream\'s rate', { min: 0, max: 240 }),
  lostAfter: p.int(750, 'live streams: ms without a frame after which a stream\'s cell is greyed and says "lost"', { min: 50 }),
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
  // Rounded as media/scale.ts placement() rounds a letterboxed image, so a source's view of
  // the cell (ElementContext.requestView) is exactly the cell's picture.
  const w = Math.min(cw, even(Math.round(srcW * r))), h = Math.min(ch, even(Math.round(srcH * r)));
  const col = i % cols, row = Math.floor(i / cols);
  return { x: (col * cw + ((cw - w) >> 1)) & ~1, y: (row * ch + ((ch - h) >> 1)) & ~1, w, h };
}

export default defineElement({
  name: 'tile',
  summary: 'Composite several streams into one grid (nvmultistreamtiler)',
  kind: 'filter',
  pads: [joinSinkPads(), srcPad()],
  // It reads each stream at its cell's size (a view its sources make as they decode); the
  // composites it sends on are new pixels.
  pixels: () => 'view',
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
    /** Live: when each stream's newest frame came. */
    const arrived = new Map<number, number>();
    let streams = o.streams;
    let out = 0;
    let t0 = -1;
    let lastPts = -Infinity;
    /** Fastest stream rate seen: the output rate of live composites (unless fps=) and what encode declares. */
    let rate = 0;

    /** Streams removed from a dynamic pipeline: their late frames are not drawn. */
    const removed = new Set<number>();
    /** Cell of stream s: its rank among the streams upstream (ids grow as branches come and go). */
    let order: readonly number[] = [];
    const slot = (s: number) => { const i = order.indexOf(s); return i >= 0 ? i : s; };
    /** Frames its source made, once a stream ended (the pipeline's `ended:<stream>`). */
    const endedAt = (s: number) => ctx.negotiation.get(`ended:${s}`) as number | undefined;
    /** Every frame of stream s has come (its source ended, its last frame is here). */
    const complete = (s: number) => {
      const end = endedAt(s);
      if (end === undefined) return false;
      const f = latest.get(s);
      return end === 0 || (!!f && f.frame + 1 >= end) || (!f && !waiting.get(s)?.length && everSeen.has(s));
    };
    const everSeen = new Set<number>();

    const compose = async (liveTick: { pts: number; now: number } | null, cells: Map<number, Frame> = latest): Promise<Frame | null> => {
      order = ctx.upstreamStreams;
      const n = Math.max(o.streams || Math.max(streams, order.length), ...[...cells.keys()].map((s) => slot(s) + 1));
      const first = [...cells.values()][0];
      if (!first) return null;
      if (!grid || gridFor !== n) {
        grid = chooseGrid(n, first.width, first.height, grid ? { ...o, width: grid.width, height: grid.height } : o);
        gridFor = n;
        askCells(grid, n);
      }
      let pts: number;
      if (liveTick) pts = liveTick.pts;
      else {
        // One round: the cells show the same frame number, so any stream's time is the round's;
        // strictly increasing whatever the streams' clocks do.
        const cand = [...cells.values()].reduce((m, f) => Math.max(m, f.pts), 0);
        if (t0 < 0) t0 = cand;
        pts = Math.max(cand - t0, lastPts + 1 / (rate || 30));
      }
      lastPts = pts;
      // Owned from the start, so a scaling error below cannot leak the composed frame.
      const av = allocVideoFrame(grid.width, grid.height, AV_PIX_FMT_YUV420P, toPts(pts));
      if (liveTick) inFlight++;
      const owned = liveTick ? new PooledPixels(av, () => { inFlight--; }) : new AVPixels(av);
      try {
        return await draw(owned, n, pts, grid, liveTick?.now ?? 0, cells);
      } catch (e) {
        owned.release();
        throw e;
      }
    };

    /** tile's request for a cell-sized picture of each frame (ElementContext.requestView), for the grid it is of. */
    let cellView: ViewRequest | null = null;
    let cellViewFor = '';
    const askCells = (g: Grid, n: number) => {
      const cols = g.cols || Math.ceil(Math.sqrt(n)), rows = g.rows || Math.ceil(n / cols);
      const cw = Math.floor(g.width / cols) & ~1, ch = Math.floor(g.height / rows) & ~1;
      const key = `${cw}x${ch}`;
      if (key === cellViewFor) return;
      if (cellView) ctx.cancelView(cellView);
      cellViewFor = key;
      cellView = ctx.requestView({ width: cw, height: ch, format: 'yuv420p', letterbox: true, placement: 'center', method: 'bilinear' });
    };
    let cellsFromViews = 0, cellsScaled = 0;

    /** Stream s's picture into its cell of the composite's planes. */
    const paint = async (s: number, f: Frame, cell: Cell, data: Buffer[], ls: number[]) => {
      const v = viewOf(f, cellView);
      if (v && v.format === 'yuv420p' && v.width === cell.w && v.height === cell.h) {
        // Packed planes, copied row by row: no scaling on this thread.
        let off = 0;
        for (let p = 0; p < 3; p++) {
          const w = p ? cell.w >> 1 : cell.w, h = p ? cell.h >> 1 : cell.h;
          const x0 = p ? cell.x >> 1 : cell.x, y0 = p ? cell.y >> 1 : cell.y, stride = ls[p]!, plane = data[p]!;
          for (let y = 0; y < h; y++) copyBytes(plane, (y0 + y) * stride + x0, v.data, off + y * w, off + (y + 1) * w);
          off += w * h;
        }
        cellsFromViews++;
        return;
      }
      // The full frame, or (a frame its source kept as views alone) a view of another size.
      let srcData: Buffer[], srcLs: number[], fmt: number, srcW: number, srcH: number;
      if (hasFullPixels(f) || !v) {
        const av = avOf(f.pixels, ctx.name);
        srcData = av.data!; srcLs = av.linesize; fmt = av.format as number; srcW = f.width; srcH = f.height;
      } else {
        const planes = packedPlanes(v.format, v.width, v.height)!;
        srcData = []; srcLs = [];
        let off = 0;
        for (let p = 0; p < planes.rows.length; p++) {
          srcData.push(Buffer.from(v.data.buffer, v.data.byteOffset + off, planes.widths[p]! * planes.rows[p]!));
          srcLs.push(planes.widths[p]!);
          off += planes.widths[p]! * planes.rows[p]!;
        }
        fmt = pixFmtFromName(v.format); srcW = v.width; srcH = v.height;
      }
      const key = `${srcW}x${srcH}:${fmt}:${cell.w}x${cell.h}`;
      let sc = scalers.get(s);
      if (!sc || sc.key !== key) {
        sc?.ctx.freeContext();
        const c = new SoftwareScaleContext();
        c.getContext(srcW, srcH, fmt as never, cell.w, cell.h, AV_PIX_FMT_YUV420P, SWS_BILINEAR);
        if (c.initContext() < 0) throw new Err.FORMAT(`tile cannot scale ${f.format} ${srcW}x${srcH}`);
        sc = { key, ctx: c };
        scalers.set(s, sc);
      }
      // Write straight into the cell: plane pointers offset to its top-left corner.
      const dst = [
        data[0]!.subarray(cell.y * ls[0]! + cell.x),
        data[1]!.subarray((cell.y >> 1) * ls[1]! + (cell.x >> 1)),
        data[2]!.subarray((cell.y >> 1) * ls[2]! + (cell.x >> 1)),
      ];
      const r = await sc.ctx.scale(srcData, srcLs, 0, srcH, dst, [ls[0]!, ls[1]!, ls[2]!]);
      if (r < 0) throw new Err.FORMAT(`tile: scaling stream ${s} failed (${r})`);
      cellsScaled++;
    };

    const draw = async (owned: AVPixels, n: number, pts: number, g: Grid, now: number, cells: Map<number, Frame>): Promise<Frame> => {
      const av = owned.av;
      const data = av.data!, ls = av.linesize;
      data[0]!.fill(16, 0, ls[0]! * g.height);
      data[1]!.fill(128, 0, ls[1]! * (g.height >> 1));
      data[2]!.fill(128, 0, ls[2]! * (g.height >> 1));
      const canvas: Canvas = { width: g.width, height: g.height, planes: [[data[0]!, ls[0]!, 0, 0], [data[1]!, ls[1]!, 1, 1], [data[2]!, ls[2]!, 1, 1]] };
      const objects: ObjectMeta[] = [];
      const labelBoxes = new Map<number, [number, number, number, number]>();
      let captured = Infinity;
      const lost: number[] = [];
      // The pictures first, every cell at once: a cell-sized view a decoding thread made is
      // copied in; anything else is scaled by swscale on libuv's pool, cells side by side.
      await Promise.all([...cells].map(([s, f]) => paint(s, f, cellFor(slot(s), n, g, f.width, f.height), data, ls)));
      for (const [s, f] of cells) {
        const cell = cellFor(slot(s), n, g, f.width, f.height);
        const age = now ? now - (arrived.get(s) ?? now) : 0;
        const isLost = now > 0 && age > o.lostAfter;
        if (isLost) {
          // Greyed: a dim, colourless copy of the last picture, and how long ago it came.
          for (let y = cell.y; y < cell.y + cell.h; y++) {
            const row = y * ls[0]!;
            for (let x = cell.x; x < cell.x + cell.w; x++) data[0]![row + x] = 16 + ((data[0]![row + x]! - 16) >> 2);
          }
          fillRect({ ...canvas, planes: canvas.planes.slice(1) }, cell.x, cell.y, cell.x + cell.w, cell.y + cell.h, [128, 128] as never);
          const msg = `lost ${(age / 1000).toFixed(1)} s`;
          const tw = textWidth(labelFont, msg);
          fillRect(canvas, cell.x + ((cell.w - tw) >> 1) - 4, cell.y + ((cell.h - labelFont.height) >> 1), cell.x + ((cell.w + tw) >> 1) + 4, cell.y + ((cell.h + labelFont.height) >> 1), DIM);
          text(canvas, labelFont, msg, cell.x + ((cell.w - tw) >> 1), cell.y + ((cell.h - labelFont.height) >> 1));
          lost.push(s);
        } else if (f.captured !== undefined) captured = captured === Infinity ? f.captured : Math.max(captured, f.captured);
        if (o.labels) {
          const label = ctx.streamLabel(s);
          const name = names[s] ?? (label !== String(s) ? label : `stream ${s}`);
          const box: [number, number, number, number] = [cell.x, cell.y, cell.x + textWidth(labelFont, name) + 8, cell.y + labelFont.height];
          fillRect(canvas, ...box, LABEL_BG);
          text(canvas, labelFont, name, cell.x + 4, cell.y);
          labelBoxes.set(s, box);
        }
        if (isLost) continue;
        // Source pixels of stream s -> its frame -> the cell.
        const x = f.xform, kx = cell.w / f.width, ky = cell.h / f.height;
        for (const ob of f.meta.objects) {
          const b = ob.box;
          const moved: ObjectMeta = { ...ob, box: [(b[0] * x.sx + x.dx) * kx + cell.x, (b[1] * x.sy + x.dy) * ky + cell.y, (b[2] * x.sx + x.dx) * kx + cell.x, (b[3] * x.sy + x.dy) * ky + cell.y], attributes: { ...ob.attributes } };
          STREAM.set(moved, s);
          objects.push(moved);
        }
      }
      const frame = newFrame({ stream: 0, frame: out++, pts, rate: o.fps || rate || [...cells.values()][0]?.rate, width: g.width, height: g.height, format: 'yuv420p', pixels: owned });
      frame.meta.objects = objects;
      // The composite is as recent as its newest picture: a camera that sends slowly leaves an
      // older one in its cell, which must not make the whole composite late (and dropped).
      if (captured < Infinity) frame.captured = captured;
      TILES.set(frame, [...cells].map(([s, f]) => ({ stream: s, ...cellFor(slot(s), n, g, f.width, f.height), ...(lost.includes(s) ? { lost: true } : {}), frame: f.frame, ...(labelBoxes.has(s) ? { label: labelBoxes.get(s)! } : {}) })));
      return frame;
    };

    /** Live: frames of a mux batch not yet all here, by batch id. */
    const partial = new Map<number, Frame[]>();
    /** Frames that came while their stream was already in the round being filled. */
    const waiting = new Map<number, Frame[]>();
    // Files: a stream ahead of the others waits (its frames copied out of any decoding slot, so
    // its decoder is not held up); only a stream this far behind without having ended (a
    // dropper like `rate` before tile) lets rounds go with its last picture.
    // The limit is in memory (64 frames at least, 64 MB of waiting pixels per stream): a decoder
    // starved a moment on a loaded machine must not be taken for a dropper (small frames and
    // cell views allow hundreds).
    const AHEAD = 64, AHEAD_BYTES = 64 << 20;
    /** A frame that waits gives its decoding slot back: its cell view copied out, else a native copy. */
    const keepOutOfSlot = (frame: Frame) => {
      if (!(frame.pixels instanceof SharedPixels)) return;
      const v = viewOf(frame, cellView);
      if (v && cellView) { const px = frame.pixels; frame.pixels = new ViewCopy(cellView, v); px.release(); }
      else if (hasFullPixels(frame)) frame.pixels.toAV();
    };
    const take = (frame: Frame) => {
      const old = latest.get(frame.stream);
      if (old && live && !shown.has(old)) notShown++;
      if (old) releaseFrame(old);
      latest.set(frame.stream, frame);
      fresh.add(frame.stream);
      everSeen.add(frame.stream);
    };
    /** Streams a round waits for: those upstream that are still going. */
    const pendingStreams = () => {
      const up = o.streams ? [...Array(o.streams).keys()] : ctx.upstreamStreams.length ? ctx.upstreamStreams : [...latest.keys()];
      return up.filter((s) => !removed.has(s) && !complete(s));
    };
    /** Compose every round that is full (or the current one, forced), refilling from the waiting frames. */
    const round = async (force: boolean) => {
      for (;;) {
        const need = pendingStreams();
        const full = need.every((s) => fresh.has(s)) && (fresh.size > 0 || need.length > 0);
        if (!(full || (force && fresh.size > 0))) return;
        if (fresh.size === 0) return;
        force = false;
        fresh.clear();
        const f = await compose(null);
        if (f) await ctx.push(f);
        // A stream whose last frame was shown leaves a black cell from now on.
        for (const s of [...latest.keys()]) if (complete(s) && !waiting.get(s)?.length) { releaseFrame(latest.get(s)!); latest.delete(s); }
        for (const [st, q] of waiting) {
          const w = q.shift();
          if (w) take(w);
          if (!q.length) waiting.delete(st);
        }
        if (!fresh.size) return;
      }
    };

    // Live mode: a ticker at the output rate; ticks that find the composite before still going
    // (the encoder behind is slow) are skipped, never made up in a burst.
    let live = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let tickT0 = 0, tick = 0;
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown = null;
    let composing = false;
    /** Live composites not yet released downstream (LIVE_POOL), ticks that made none because of them or a push still going, frames replaced before any composite showed them. */
    let inFlight = 0, ticksSkipped = 0, notShown = 0;
    const shown = new WeakSet<Frame>();
    const serial = (fn: () => Promise<void> | void) => (chain = chain.then(fn).catch((e) => { failure ??= e; }));
    /** Rounds of files run on the same chain as streamRemoved, which frees a stream's scaler and frame only between them. */
    const inTurn = async (fn: () => Promise<void>) => { await serial(fn); if (failure) throw failure; };
    const period = () => 1000 / (o.fps || rate || 30);
    const schedule = () => {
      const due = tickT0 + tick * period();
      timer = setTimeout(onTick, Math.max(0, due - performance.now()));
    };
    const onTick = () => {
      timer = null;
      const now = performance.now();
      // Missed ticks are skipped: the output keeps its even clock.
      const k = Math.floor((now - tickT0) / period());
      if (k > tick) tick = k;
      if ((composing || inFlight >= LIVE_POOL) && latest.size > 0) ticksSkipped++;
      else if (latest.size > 0) {
        composing = true;
        for (const f of latest.values()) shown.add(f);
        const pts = tick * period() / 1000;
        for (const s of [...latest.keys()]) if (complete(s)) { releaseFrame(latest.get(s)!); latest.delete(s); }
        // The composite is drawn from references to the newest frames, so new frames keep coming
        // in (and old ones are released) while it is drawn and while a slow encoder takes it.
        const cells = new Map([...latest].map(([st, f]) => [st, { ...f, pixels: f.pixels?.clone() ?? null }] as const));
        void serial(async () => {
          try {
            const f = await compose({ pts, now: performance.now() }, cells);
            if (f) await ctx.push(f);
          } finally {
            for (const f of cells.values()) releaseFrame(f);
            composing = false;
          }
        });
      }
      tick++;
      schedule();
    };

    return {
      start() {
        if (!streams && ctx.sinkPads.length > 1) streams = ctx.sinkPads.length;
        // With the canvas given, ask for the cells now, for 16:9 streams (most cameras), so the
        // sources make them from their first frame (and NVDEC can decode to their size); the
        // first frame corrects the grid if the streams are of another shape.
        const n = o.streams || Math.max(streams, ctx.upstreamStreams.length);
        if (o.width && o.height && n > 0) askCells(chooseGrid(n, 1920, 1080, o), n);
      },
      // Where the cells' pictures came from: views made while decoding, or scaled here.
      // Live: what the display chain behind did not take (see LIVE_POOL), counted, not hidden.
      describe: () => ({ cellsFromViews, cellsScaled, ...(cellViewFor ? { cellView: cellViewFor } : {}), ...(live ? { compositesSkipped: ticksSkipped, framesNotShown: notShown } : {}) }),
      async process(frame) {
        if (failure) throw failure;
        if (removed.has(frame.stream)) { ctx.drop(frame); return; }
        if (frame.batch && !o.streams) streams = Math.max(streams, frame.batch.size);
        if (frame.rate && frame.rate > rate) rate = frame.rate;
        if (frame.captured !== undefined && !live) {
          live = true;
          tickT0 = performance.now();
          schedule();
        }
        if (live) {
          // The newest frame of each stream is what the next tick shows. A mux batch (one frame
          // per stream, of one moment) is shown whole, once all of it is here, so cells stay in
          // step; a batch left incomplete (a frame dropped on the way) goes when the next starts.
          const now = performance.now();
          const show = (f: Frame) => { take(f); arrived.set(f.stream, now); };
          if (!frame.batch) { show(frame); return; }
          for (const [id, fs] of partial) if (id < frame.batch.id) { fs.forEach(show); partial.delete(id); }
          let fs = partial.get(frame.batch.id);
          if (!fs) partial.set(frame.batch.id, fs = []);
          fs.push(frame);
          if (fs.length >= frame.batch.size) { fs.forEach(show); partial.delete(frame.batch.id); }
          return;
        }
        if (fresh.has(frame.stream)) {
          // Ahead of the others: wait for the round to fill.
          let q = waiting.get(frame.stream);
          if (!q) waiting.set(frame.stream, q = []);
          keepOutOfSlot(frame);
          q.push(frame);
          if (q.length > AHEAD && q.reduce((b, w) => b + (w.pixels?.bytes ?? 0), 0) > AHEAD_BYTES) await inTurn(() => round(true));
          return;
        }
        take(frame);
        await inTurn(() => round(false));
      },
      async flush() {
        if (timer) { clearTimeout(timer); timer = null; }
        await chain;
        if (failure) throw failure;
        if (live) return;
        while (fresh.size > 0) await inTurn(() => round(true));
      },
      streamRemoved(s) {
        removed.add(s);
        void serial(() => {
          fresh.delete(s);
          for (const f of waiting.get(s) ?? []) ctx.drop(f);
          waiting.delete(s);
          const f = latest.get(s);
          if (f) releaseFrame(f);
          latest.delete(s);
          scalers.get(s)?.ctx.freeContext();
          scalers.delete(s);
          if (!o.streams) streams = 0;
        });
      },
      stop() {
        if (timer) { clearTimeout(timer); timer = null; }
        for (const f of latest.values()) releaseFrame(f);
        latest.clear();
        for (const q of waiting.values()) for (const f of q) releaseFrame(f);
        waiting.clear();
        for (const fs of partial.values()) for (const f of fs) releaseFrame(f);
        partial.clear();
        for (const s of scalers.values()) s.ctx.freeContext();
        scalers.clear();
      },
    };
  },
});
