// snapshot: the best picture of every tracked object (Frigate's snapshots, DeepStream's object
// image saving). Per track, the frame where it scored highest with its box wholly inside the
// frame is kept (its crop, and/or the whole frame with the box drawn) and written as JPEG when the
// track ends (or `after` seconds into it); plus a whole frame per trigger (on=). Frames pass on
// unchanged. JPEG encoding runs in a worker and never holds the video: over `max-pending` writes
// a snapshot is dropped (counted, warned).
import { mkdirSync, writeFile } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { Err } from '../core/errors.ts';
import type { Box, Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { avOf } from '../media/av.ts';
import { JpegCodec } from '../net/jpeg.ts';
import { EventHub, TRACK_END_FRAMES, Triggers } from '../meta/events.ts';

const props = z.object({
  location: p.str('', 'folder the JPEGs go into (made when missing)'),
  mode: p.enum(['crop', 'full', 'both'], 'both', 'crop: the object alone; full: the whole frame with its box drawn; both'),
  after: p.num(0, 'seconds after a track starts to write its snapshot (the best so far); 0: when the track ends', { min: 0 }),
  on: p.str('', 'also one whole frame per trigger: line-cross, roi-enter, roi-exit, overcrowding, track-start, class:NAME (comma-separated)'),
  quality: p.int(3, 'JPEG quality, 2 (best) to 31', { min: 2, max: 31 }),
  margin: p.int(1, 'pixels a box must keep from every edge to count as wholly inside the frame', { min: 0 }),
  maxPending: p.int(32, 'JPEG writes waiting at once; over it a snapshot is dropped (counted)', { min: 1 }),
  maxBytes: p.int(256 << 20, 'bytes of kept candidate pictures (whole frames for mode=full/both); over it new tracks keep their crop only', { min: 1 << 20 }),
});

/** Packed 4:2:0 planes (Y, U, V), what the JPEG worker takes. */
interface Planes { width: number; height: number; data: Uint8Array }

interface Cand { track: number; cls: number; label: string; score: number; box: Box; frame: number; pts: number; crop: Planes | null; full: Planes | null; boxInFull: Box | null }
interface TrackSnap { firstPts: number; lastFrame: number; best: Cand | null; written: boolean }

/** Copy a rectangle (even-aligned) of a 4:2:0 frame into packed planes. */
function copyRect(av: ReturnType<typeof avOf>, x0: number, y0: number, w: number, h: number): Planes {
  const out = new Uint8Array(w * h * 3 / 2);
  const ls = av.linesize, data = av.data!;
  let off = 0;
  for (let i = 0; i < 3; i++) {
    const sx = i ? x0 / 2 : x0, sy = i ? y0 / 2 : y0, pw = i ? w / 2 : w, ph = i ? h / 2 : h;
    const src = data[i]!;
    for (let y = 0; y < ph; y++) { out.set(src.subarray((sy + y) * ls[i]! + sx, (sy + y) * ls[i]! + sx + pw), off); off += pw; }
  }
  return { width: w, height: h, data: out };
}

/** A 2-pixel box outline in the luma plane, bright on dark and dark on bright. */
function drawBox(img: Planes, b: Box): void {
  const { width: W, height: H, data } = img;
  const x1 = Math.max(0, Math.round(b[0])), y1 = Math.max(0, Math.round(b[1])), x2 = Math.min(W - 1, Math.round(b[2])), y2 = Math.min(H - 1, Math.round(b[3]));
  const put = (x: number, y: number) => { const i = y * W + x; data[i] = data[i]! > 128 ? 16 : 235; };
  for (let t = 0; t < 2; t++) {
    for (let x = x1; x <= x2; x++) { put(x, Math.min(H - 1, y1 + t)); put(x, Math.max(0, y2 - t)); }
    for (let y = y1; y <= y2; y++) { put(Math.min(W - 1, x1 + t), y); put(Math.max(0, x2 - t), y); }
  }
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 64) || 'x';

export default defineElement({
  name: 'snapshot',
  summary: 'Write the best JPEG of every track (crop and/or full frame with its box) and one per trigger',
  kind: 'filter',
  // Its JPEGs are drawn on copies: the frames it sends on are as they came.
  passesPixels: () => true,
  pads: [sinkPad(['video/x-raw'], ['yuv420p', 'yuvj420p']), srcPad()],
  props,
  doc: `Put it after track (and analytics, for on=): ... ! track ! snapshot location=snaps ! ...
Files: STREAM-track-ID-LABEL.jpg (crop) and STREAM-track-ID-LABEL-full.jpg; per trigger
STREAM-frame-N-TYPE.jpg. The best frame is the highest score with the box at least margin pixels
from every edge. A track ends after ${TRACK_END_FRAMES} frames unseen, or at the end of its stream; its
track-end event (meta mode=events) names the snapshot.`,
  files: (o) => ({ writes: o.location ? [o.location] : [] }),
  create(o, ctx) {
    if (!o.location) throw new Err.PROPERTY('snapshot needs location=FOLDER (the JPEGs are written there)');
    const dir = resolve(o.location);
    const triggers = new Triggers(o.on, (m) => { throw new Err.PROPERTY(`snapshot: ${m}`); });
    const hub = EventHub.of(ctx.negotiation);
    const streams = new Map<number, Map<number, TrackSnap>>();
    let jpeg: JpegCodec | null = null;
    let pending = 0, written = 0, dropped = 0, keptBytes = 0, warned = false;
    let failure: unknown = null;
    const writes = new Set<Promise<void>>();

    const emit = (file: string, img: Planes) => {
      if (pending >= o.maxPending) {
        dropped++;
        if (!warned) { warned = true; ctx.warn(`JPEG writes to ${dir} are not keeping up (${o.maxPending} waiting, max-pending): snapshots are dropped, counted as snapshotsDropped`); }
        return false;
      }
      pending++;
      jpeg ??= new JpegCodec();
      const job = jpeg.encode({ width: img.width, height: img.height, format: 'yuv420p', data: img.data }, o.quality)
        .then((buf) => new Promise<void>((res, rej) => writeFile(file, buf, (e) => (e ? rej(e) : res()))))
        .then(() => { written++; ctx.log.info(`wrote ${file}`); ctx.post({ type: 'element', source: ctx.name, name: 'snapshot', data: { path: file } }); })
        .catch((e) => { failure ??= new Err.IO(`${ctx.name}: writing ${file} failed (${(e as Error).message})`, { cause: e }); })
        .finally(() => { pending--; writes.delete(job); });
      writes.add(job);
      return true;
    };

    const finish = (stream: number, track: number, t: TrackSnap) => {
      if (t.written || !t.best) return;
      t.written = true;
      const c = t.best;
      const base = join(dir, `${safe(ctx.streamLabel(stream))}-track-${track}-${safe(c.label)}`);
      let shown = '';
      if (c.crop && emit(`${base}.jpg`, c.crop)) shown = `${base}.jpg`;
      if (c.full && c.boxInFull) { drawBox(c.full, c.boxInFull); if (emit(`${base}-full.jpg`, c.full)) shown ||= `${base}-full.jpg`; }
      if (shown) hub.remember(hub.snapshots, `${stream}:${track}`, shown);
      if (c.full) keptBytes -= c.full.data.length;
      if (c.crop) keptBytes -= c.crop.data.length;
      t.best = null;
    };

    const endStream = (stream: number) => {
      const m = streams.get(stream);
      if (!m) return;
      for (const [id, t] of m) finish(stream, id, t);
      streams.delete(stream);
    };

    return {
      start() { mkdirSync(dir, { recursive: true }); },
      async process(frame: Frame) {
        if (failure) throw failure;
        let m = streams.get(frame.stream);
        if (!m) { m = new Map(); streams.set(frame.stream, m); }
        const W = frame.width, H = frame.height, x = frame.xform;
        let av: ReturnType<typeof avOf> | null = null;
        const pixels = () => (av ??= avOf(frame.pixels, ctx.name));
        for (const ob of frame.meta.objects) {
          if (ob.track === undefined) continue;
          let t = m.get(ob.track);
          if (!t) { t = { firstPts: frame.pts, lastFrame: frame.frame, best: null, written: false }; m.set(ob.track, t); }
          t.lastFrame = frame.frame;
          if (t.written) continue;
          // The box in this frame's pixels (boxes are in source pixels).
          const b: Box = [ob.box[0] * x.sx + x.dx, ob.box[1] * x.sy + x.dy, ob.box[2] * x.sx + x.dx, ob.box[3] * x.sy + x.dy];
          const inside = b[0] >= o.margin && b[1] >= o.margin && b[2] <= W - o.margin && b[3] <= H - o.margin && b[2] - b[0] >= 2 && b[3] - b[1] >= 2;
          if (!inside || (t.best && ob.score <= t.best.score)) continue;
          const x0 = Math.max(0, Math.floor(b[0] / 2) * 2), y0 = Math.max(0, Math.floor(b[1] / 2) * 2);
          const x1 = Math.min(W & ~1, Math.ceil(b[2] / 2) * 2), y1 = Math.min(H & ~1, Math.ceil(b[3] / 2) * 2);
          if (t.best) { keptBytes -= (t.best.crop?.data.length ?? 0) + (t.best.full?.data.length ?? 0); }
          const wantFull = o.mode !== 'crop' && (keptBytes + W * H * 1.5 <= o.maxBytes || (t.best?.full ?? null) !== null);
          // Over max-bytes a track keeps its crop alone, whatever the mode.
          const crop = o.mode !== 'full' || !wantFull ? copyRect(pixels(), x0, y0, x1 - x0, y1 - y0) : null;
          const full = wantFull ? copyRect(pixels(), 0, 0, W & ~1, H & ~1) : null;
          keptBytes += (crop?.data.length ?? 0) + (full?.data.length ?? 0);
          t.best = { track: ob.track, cls: ob.class, label: ob.label ?? String(ob.class), score: ob.score, box: ob.box, frame: frame.frame, pts: frame.pts, crop, full, boxInFull: full ? b : null };
        }
        for (const [id, t] of m) {
          if (!t.written && o.after > 0 && frame.pts - t.firstPts >= o.after) finish(frame.stream, id, t);
          if (frame.frame - t.lastFrame > TRACK_END_FRAMES) { finish(frame.stream, id, t); m.delete(id); }
        }
        if (!triggers.empty) {
          const fired = triggers.match(frame);
          if (fired.length) {
            const img = copyRect(pixels(), 0, 0, W & ~1, H & ~1);
            for (const ob of frame.meta.objects) if (fired.some((f) => f.track === undefined || f.track === ob.track)) drawBox(img, [ob.box[0] * x.sx + x.dx, ob.box[1] * x.sy + x.dy, ob.box[2] * x.sx + x.dx, ob.box[3] * x.sy + x.dy]);
            emit(join(dir, `${safe(ctx.streamLabel(frame.stream))}-frame-${frame.frame}-${safe(fired[0]!.type.replace(':', '-'))}.jpg`), img);
          }
        }
        await ctx.push(frame);
      },
      streamRemoved(stream) { endStream(stream); triggers.forget(stream); },
      async flush() {
        for (const s of [...streams.keys()]) endStream(s);
        await Promise.all([...writes]);
        if (failure) throw failure;
      },
      describe: () => ({ snapshots: written, snapshotsDropped: dropped }),
      async stop() {
        await Promise.all([...writes]).catch(() => {});
        await jpeg?.close();
        jpeg = null;
        streams.clear();
      },
    };
  },
});
