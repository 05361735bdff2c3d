// osd: draw results onto frames (DeepStream's nvdsosd): segmentation masks (blended natively by
// FFmpeg), boxes, labels (class, track id, score), track trails, analytics lines and regions
// with their counts, free text and an FPS counter.
// Works in place on 8-bit planar YUV; cost is proportional to what is drawn, never the frame.
import { z } from 'zod';
import { PLANAR_YUV, RAW, defineElement, sinkPad, srcPad } from '../core/element.ts';
import type { Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { AVPixels, avOf } from '../media/av.ts';
import { MaskOverlay } from '../draw/mask.ts';
import { font, textWidth } from '../draw/glyphs.ts';
import { fillRect, line, rgbToYuv, strokeRect, text, writableCanvas, type Yuv } from '../draw/planes.ts';
import { ANALYTICS_SHAPES, STREAM, TILES } from '../meta/keys.ts';

const props = z.object({
  thickness: p.int(2, 'box and line thickness in pixels', { min: 1, max: 32 }),
  fontSize: p.int(16, 'label text size in pixels', { min: 6, max: 128 }),
  labels: p.bool(true, 'draw "label #track score" above each box'),
  trails: p.int(30, 'draw each track\'s last N centre points (0: off)', { min: 0, max: 1000 }),
  text: p.str('', 'free text drawn at the top left'),
  fps: p.bool(false, 'draw the measured frame rate at the top right; after tile, each stream\'s own rate in its cell ("lost" for a lost camera)'),
  truth: p.bool(false, 'also draw testsrc ground-truth boxes (thin, white)'),
  analytics: p.bool(true, 'draw analytics lines and regions with their counts'),
  masks: p.bool(true, 'blend segmentation masks (meta.mask) over the frame, one colour per class'),
  maskAlpha: p.num(0.45, 'mask opacity', { min: 0, max: 1 }),
});

const PALETTE: [number, number, number][] = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128]];
const COLORS: Yuv[] = PALETTE.map(([r, g, b]) => rgbToYuv(r, g, b));
const WHITE = rgbToYuv(255, 255, 255);
const DARK = rgbToYuv(20, 20, 20);



export default defineElement({
  name: 'osd',
  summary: 'Draw boxes, labels, track trails, analytics overlays, text and FPS on frames',
  kind: 'filter',
  pads: [sinkPad([RAW], PLANAR_YUV), srcPad()],
  props,
  create(o, ctx) {
    const f = font(o.fontSize);
    const trails = new Map<number, { pts: [number, number][]; seen: number }>();
    const masks = new MaskOverlay([DARK, ...COLORS], o.maskAlpha);
    const times: number[] = [];
    /** After tile: when each stream's cell last got a new picture, for its own fps badge. */
    const cellRates = new Map<number, { frame: number; times: number[] }>();
    return {
      async process(frame: Frame) {
        let av = avOf(frame.pixels, ctx.name);
        if (o.masks && frame.meta.mask) {
          // The mask covers the source frame; place it where the source lands in this frame.
          const x = frame.xform;
          const at = { x: Math.round(x.dx), y: Math.round(x.dy), w: Math.max(2, Math.round(frame.source.width * x.sx) & ~1), h: Math.max(2, Math.round(frame.source.height * x.sy) & ~1) };
          const blended = await masks.blend(av, frame.meta.mask, at);
          frame.pixels!.release();
          frame.pixels = new AVPixels(blended);
          av = blended;
        }
        const c = writableCanvas(av, frame.format, frame.width, frame.height, ctx.name);
        // Every text badge of this frame goes through here: kept inside the frame, moved down
        // past badges already placed (the fps badge is reserved first), text dark on light colours.
        const placed: [number, number, number, number][] = [];
        const tiles = TILES.get(frame);
        // tile's cell names are already drawn: badges go clear of them too.
        for (const cell of tiles ?? []) if (cell.label) placed.push(cell.label);
        const badge = (label: string, x: number, y: number, bg: Yuv, pad = 3, area = { x: 0, y: 0, w: frame.width, h: frame.height }) => {
          const w = textWidth(f, label) + 2 * pad, h = f.height;
          let bx = Math.max(area.x, Math.min(Math.round(x), area.x + area.w - w)), by = Math.max(area.y, Math.min(Math.round(y), area.y + area.h - h));
          for (let tries = 0; tries < 20 && placed.some(([a, b, c2, d]) => bx < c2 && bx + w > a && by < d && by + h > b); tries++) {
            if (by + 2 * h + 1 > area.y + area.h) break;
            by += h + 1;
          }
          placed.push([bx, by, bx + w, by + h]);
          fillRect(c, bx, by, bx + w, by + h, bg);
          text(c, f, label, bx + pad, by, bg[0] > 140 ? 16 : 235);
        };
        if (o.fps) {
          const now = performance.now();
          const rateOf = (ts: number[]) => {
            while (ts.length > 1 && now - ts[0]! > 1000) ts.shift();
            return ts.length > 1 ? ((ts.length - 1) * 1000) / (now - ts[0]!) : 0;
          };
          // What the badges say, for probes and tests: { stream: fps | 'lost' } after tile, else { all: fps }.
          const drawn: Record<string, number | string> = {};
          frame.meta.user.osdFps = drawn;
          if (tiles) {
            // After tile: each camera's own rate (new pictures in its cell per second), in its cell.
            for (const cell of tiles) {
              let st = cellRates.get(cell.stream);
              if (!st) cellRates.set(cell.stream, st = { frame: -1, times: [] });
              if (cell.frame !== undefined && cell.frame !== st.frame) { st.frame = cell.frame; st.times.push(now); }
              const r = rateOf(st.times);
              drawn[cell.stream] = cell.lost ? 'lost' : Math.round(r * 10) / 10;
              const label = cell.lost ? 'lost' : `${r.toFixed(1)} fps`;
              badge(label, cell.x + cell.w - textWidth(f, label) - 10, cell.y + 4, DARK, 3, cell);
            }
          } else {
            times.push(now);
            const r = rateOf(times);
            drawn.all = Math.round(r * 10) / 10;
            const label = `${r.toFixed(1)} fps`;
            badge(label, frame.width - textWidth(f, label) - 10, 4, DARK);
          }
        }
        const x = frame.xform;
        const X = (v: number) => v * x.sx + x.dx, Y = (v: number) => v * x.sy + x.dy;
        const t = o.thickness;
        if (o.truth) for (const tr of frame.meta.truth ?? []) strokeRect(c, X(tr.box[0]), Y(tr.box[1]), X(tr.box[2]), Y(tr.box[3]), 1, WHITE);
        if (o.analytics) {
          const s = ANALYTICS_SHAPES.get(frame);
          for (const r of s?.rois ?? []) {
            const pts = r.pts.map(([a, b]) => [X(a!), Y(b!)] as [number, number]);
            pts.forEach((pt, i) => { const q = pts[(i + 1) % pts.length]!; line(c, pt[0], pt[1], q[0], q[1], t, COLORS[4]!); });
            badge(`${r.name}: ${r.occupancy}`, pts[0]![0], pts[0]![1], COLORS[4]!);
          }
          for (const l of s?.lines ?? []) {
            line(c, X(l.a[0]!), Y(l.a[1]!), X(l.b[0]!), Y(l.b[1]!), t + 1, COLORS[7]!);
            badge(`${l.name} in ${l.in} out ${l.out}`, X(l.a[0]!) + 4, Y(l.a[1]!) + 4, DARK);
          }
        }
        for (const ob of frame.meta.objects) {
          const color = COLORS[(ob.track ?? ob.class) % COLORS.length]!;
          const [x1, y1, x2, y2] = [X(ob.box[0]), Y(ob.box[1]), X(ob.box[2]), Y(ob.box[3])];
          strokeRect(c, x1, y1, x2, y2, t, color);
          if (o.labels) {
            const label = `${ob.label ?? ob.class}${ob.track !== undefined ? ` #${ob.track}` : ''} ${ob.score.toFixed(2)}`;
            // After tile: kept inside the object's own cell.
            const cell = tiles?.find((tc) => tc.stream === STREAM.get(ob));
            const area = cell ? { x: cell.x, y: cell.y, w: cell.w, h: cell.h } : undefined;
            badge(label, x1, y1 - f.height >= (area?.y ?? 0) ? y1 - f.height : y1, color, 3, area);
          }
          if (o.trails > 0 && ob.track !== undefined) {
            let tr = trails.get(ob.track);
            if (!tr) { tr = { pts: [], seen: frame.frame }; trails.set(ob.track, tr); }
            tr.pts.push([(ob.box[0] + ob.box[2]) / 2, (ob.box[1] + ob.box[3]) / 2]);
            if (tr.pts.length > o.trails) tr.pts.shift();
            tr.seen = frame.frame;
            for (let i = 1; i < tr.pts.length; i++) line(c, X(tr.pts[i - 1]![0]), Y(tr.pts[i - 1]![1]), X(tr.pts[i]![0]), Y(tr.pts[i]![1]), Math.max(1, t - 1), color);
          }
        }
        // Forget trails of tracks not seen for a while (bounded memory).
        if (frame.frame % 50 === 0) for (const [id, tr] of trails) if (frame.frame - tr.seen > 100) trails.delete(id);
        let ty = 4;
        if (o.text) { badge(o.text, 4, ty, DARK); ty += f.height + 2; }
        // Whole-frame classifications (a classifier as primary model): one line per class, best first.
        if (o.labels) {
          for (const k of frame.meta.classifications ?? []) {
            badge(`${k.label ?? k.class} ${(k.score * 100).toFixed(0)}%`, 4, ty, DARK);
            ty += f.height + 2;
          }
        }
        await ctx.push(frame);
      },
      stop() { masks.close(); },
    };
  },
});
