// Decoding thread (uri threaded=true): demux, decode, download from NVDEC and scale/convert a
// few streams here, so the main thread only receives a small message per frame. Each frame
// lands as packed planes in a slot of its stream's pool of shared memory: scaled there by
// swscale, synchronously on this thread (no libuv job: that pool is shared with decoding and
// inference calls; no frame in between), or copied when it needs no scaling. The main thread
// hands a slot back (an Atomics flag) when the last element holding that frame releases it, so
// a stream never runs more than POOL frames ahead of the pipeline.
import { parentPort } from 'node:worker_threads';
import { SoftwareScaleContext } from 'node-av/lib';
import { VideoSource, isNetworkUrl, type SourceOptions } from './source.ts';
import { pixFmtFromName, pixFmtName } from './av.ts';
import { packedPlanes, type SlotView } from './shared-pixels.ts';
import { placement, swsFlag } from './scale.ts';
import { viewKey, type ScaleMethod, type ViewFormat, type ViewSpec } from '../core/views.ts';
import { SluiceError, Err } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ToDecoder, ViewAsk } from './threaded.ts';
import { copyBytes } from '../core/bytes.ts';

const port = parentPort!;

interface Stream {
  id: number; src: VideoSource;
  /** Read and decode with blocking calls (VideoSource.nextSync), decided once the source is open. */
  sync: boolean; abort: AbortController; ctl: Int32Array; slots: Uint8Array[]; closed: boolean; pumping: Promise<void>;
  /** The open in progress: a close waits for it (an FFmpeg call still running when the thread exits aborts the process). */
  opening: Promise<unknown>;
  /** Output format asked for ('' keeps the decoder's). */
  format: string;
  method: ScaleMethod;
  /** swscale from the decoder's geometry straight into a slot, on this thread (no libuv job, no frame between). */
  sws: { key: string; ctx: SoftwareScaleContext } | null;
  /** The views elements downstream asked for, made too and packed after the frame (ThreadedSource.setViews). */
  views: ViewAsk | null;
  /** One scaler per distinct view. */
  viewSws: Map<string, Sws>;
  /** Frames handed out so far (infer's interval is counted on them). */
  framesOut: number;
  /** The largest slot this stream has needed (bounds how many slots it may make). */
  slotBytes: number;
}
const streams = new Map<number, Stream>();

const logger = (id: number): Logger => {
  const at = (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') => (msg: string) => port.postMessage({ type: 'log', id, level, msg });
  return { category: 'uri', enabled: () => true, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace') };
};

function fail(id: number, e: unknown): void {
  const err = e as Error;
  port.postMessage({ type: 'error', id, code: e instanceof SluiceError ? e.code : '', message: err.message });
}

/** What one stream's slots may take in all (a new slot past 16 is made only within it). */
const SLOT_BYTES = 56 << 20;

async function freeSlot(s: Stream, max: number): Promise<number> {
  for (;;) {
    if (s.closed) return -1;
    const seen = Atomics.load(s.ctl, 0);
    for (let i = 0; i < s.slots.length; i++) if (Atomics.load(s.ctl, 1 + i) === 0) return i;
    const cap = s.slotBytes > 0 ? Math.min(max, Math.max(16, Math.floor(SLOT_BYTES / s.slotBytes))) : Math.min(max, 16);
    if (s.slots.length < cap) return s.slots.length;
    // Every slot is held downstream: wait until one comes back (or the stream closes). The flag
    // asks the main thread for a notify; set before the wait, so a slot given back after
    // `seen` was read either changes the counter (the wait returns at once) or sees the flag.
    Atomics.store(s.ctl, max + 1, 1);
    const w = Atomics.waitAsync(s.ctl, 0, seen);
    if (w.async) await w.value;
  }
}

const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

async function pump(s: Stream): Promise<void> {
  const max = s.ctl.length - 2;
  const sync = s.sync;
  for (;;) {
    const idx = await freeSlot(s, max);
    if (idx < 0) return;
    // Blocking reads still let this thread's messages (close) and other streams in, once a frame.
    if (sync) await yieldTurn();
    const d = sync ? s.src.nextSync() : await s.src.next();
    if (s.closed) { d?.av.free(); return; }
    if (!d) { port.postMessage({ type: 'end', id: s.id, decodedThisPass: s.src.decodedThisPass, framesLost: s.src.framesLost }); return; }
    const av = d.av;
    try {
      const srcFormat = pixFmtName(av.format as never);
      // Decoded at the view's size by NVDEC (decodeTo): the frame still is the stream's full size.
      const toView = s.src.decodesToView;
      const W = (toView ? s.src.width : s.src.outWidth) || av.width, H = (toView ? s.src.height : s.src.outHeight) || av.height, format = s.format || srcFormat;
      const layout = packedPlanes(format, W, H);
      if (!layout) throw new Err.FORMAT(`threaded decoding passes yuv420p, nv12, rgb24, bgr24 or gray frames; this stream decodes to ${format}: set format=yuv420p on the uri`);
      // Each view is placed for this frame's size as its asker places it (a stream may change
      // size), and made only for the frames its askers read (infer: every `interval` of them).
      const nth = s.framesOut++;
      const made = planViews(s.views?.requests ?? [], nth, W, H);
      // Nothing downstream reads the full frame: the slot holds the views alone (or nothing).
      const only = !!s.views?.only;
      const fullBytes = only ? 0 : layout.bytes;
      let bytes = fullBytes;
      for (const v of made) { v.offset = bytes; bytes += v.bytes; }
      s.slotBytes = Math.max(s.slotBytes, bytes);
      let sab: SharedArrayBuffer | undefined;
      if (idx >= s.slots.length || s.slots[idx]!.byteLength < bytes) {
        sab = new SharedArrayBuffer(bytes);
        s.slots[idx] = new Uint8Array(sab);
      }
      const dst = s.slots[idx]!;
      if (only) { /* no full frame */ } else if (av.width === W && av.height === H && format === srcFormat) copyPlanes(av, dst, layout);
      else s.sws = scaleInto(s.sws, av, dst, W, H, format, layout, s.method);
      for (const v of made) s.viewSws.set(v.key, scaleInto(s.viewSws.get(v.key) ?? null, av, dst.subarray(v.offset), v.width, v.height, v.format, v.layout, v.method));
      if (s.viewSws.size > made.length + 8) trimScalers(s, made);
      Atomics.store(s.ctl, 1 + idx, 1);
      const views: SlotView[] = made.map((v) => ({ ids: v.ids, offset: v.offset, bytes: v.bytes, width: v.width, height: v.height, format: v.format }));
      // Decoded now, or due now (a paced file), in epoch ms (comparable across threads): a live stream's capture time.
      port.postMessage({ type: 'frame', id: s.id, slot: idx, sab, bytes, pts: d.pts, at: performance.timeOrigin + (s.src.paced ? s.src.dueAt(d.pts) : performance.now()), captured: s.src.capturedEpoch(d.pts), skipped: s.src.skippedLate, width: W, height: H, format, views, whole: !only, streamWidth: s.src.width, streamHeight: s.src.height });
    } finally {
      av.free();
    }
    // A paced file (uri live=true) is read as a camera delivers it: never more than a frame
    // ahead of its due time, so a slow pipeline finds the next packets late and skips them to
    // the next keyframe before decoding (SourceOptions.skipLateMs) instead of decoding them ahead.
    if (s.src.paced) {
      const wait = s.src.dueAt(d.pts) - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

type Layout = NonNullable<ReturnType<typeof packedPlanes>>;

interface PlannedView { key: string; ids: number[]; width: number; height: number; format: ViewFormat; method: ScaleMethod; layout: Layout; bytes: number; offset: number }

/**
 * The views to make of frame number `nth` of a W x H stream: one per distinct picture, serving
 * every request that wants it on this frame (requests for the same pixels share it).
 */
function planViews(requests: readonly { id: number; spec: ViewSpec }[], nth: number, W: number, H: number): PlannedView[] {
  const out = new Map<string, PlannedView>();
  for (const r of requests) {
    const w = r.spec;
    if (w.crop || (w.every && w.every > 1 && nth % w.every !== 0)) continue;
    const key = viewKey(w);
    const had = out.get(key);
    if (had) { had.ids.push(r.id); continue; }
    const pl = placement(W, H, w);
    const layout = packedPlanes(w.format, pl.iw, pl.ih);
    if (!layout) continue;
    out.set(key, { key, ids: [r.id], width: pl.iw, height: pl.ih, format: w.format, method: w.method, layout, bytes: layout.bytes, offset: 0 });
  }
  return [...out.values()];
}

/** Free the scalers of views no longer asked for (a tile whose cells changed size). */
function trimScalers(s: Stream, made: PlannedView[]): void {
  const keep = new Set(made.map((v) => v.key));
  for (const r of s.views?.requests ?? []) keep.add(viewKey(r.spec));
  for (const [k, sws] of s.viewSws) if (!keep.has(k)) { sws.ctx.freeContext(); s.viewSws.delete(k); }
}

function copyPlanes(av: import('node-av/lib').Frame, dst: Uint8Array, layout: Layout): void {
  const data = av.data!, ls = av.linesize;
  let off = 0;
  for (let p = 0; p < layout.rows.length; p++) {
    const w = layout.widths[p]!, rows = layout.rows[p]!, plane = data[p]!, stride = ls[p]!;
    if (stride === w) copyBytes(dst, off, plane, 0, w * rows);
    else for (let y = 0; y < rows; y++) copyBytes(dst, off + y * w, plane, y * stride, y * stride + w);
    off += w * rows;
  }
}

type Sws = { key: string; ctx: SoftwareScaleContext };

/**
 * Scale and convert with swscale, synchronously on this thread, into packed planes at dst; the
 * context is kept while the geometry stays (returned, to keep for the next frame).
 */
function scaleInto(sws: Sws | null, av: import('node-av/lib').Frame, dst: Uint8Array, W: number, H: number, format: string, layout: Layout, method: ScaleMethod): Sws {
  const key = `${av.width}x${av.height}:${av.format}>${W}x${H}:${format}:${method}`;
  if (sws?.key !== key) {
    sws?.ctx.freeContext();
    const c = new SoftwareScaleContext();
    c.getContext(av.width, av.height, av.format as never, W, H, pixFmtFromName(format) as never, swsFlag(method) as never);
    if (c.initContext() < 0) throw new Err.FORMAT(`cannot scale ${av.width}x${av.height} ${pixFmtName(av.format as never)} to ${W}x${H} ${format}`);
    sws = { key, ctx: c };
  }
  const planes: Buffer[] = [], strides: number[] = [];
  let off = 0;
  for (let p = 0; p < layout.rows.length; p++) {
    planes.push(Buffer.from(dst.buffer, dst.byteOffset + off, layout.widths[p]! * layout.rows[p]!));
    strides.push(layout.widths[p]!);
    off += layout.widths[p]! * layout.rows[p]!;
  }
  const r = sws.ctx.scaleSync(av.data!, av.linesize, 0, av.height, planes, strides);
  if (r < 0) throw new Err.FORMAT(`scaling ${av.width}x${av.height} to ${W}x${H} ${format} failed (${r})`);
  return sws;
}

async function open(m: Extract<ToDecoder, { type: 'open' }>): Promise<void> {
  const abort = new AbortController();
  const opts: SourceOptions = { ...m.opts, log: logger(m.id), signal: abort.signal, callerScales: true };
  const s: Stream = { id: m.id, sync: false, src: new VideoSource(opts), abort, ctl: new Int32Array(m.ctl), slots: [], closed: false, pumping: Promise.resolve(), opening: Promise.resolve(), format: m.opts.format ?? '', method: m.opts.method ?? 'bilinear', sws: null, views: m.views, viewSws: new Map(), framesOut: 0, slotBytes: 0 };
  streams.set(m.id, s);
  try {
    s.opening = s.src.open();
    await s.opening;
  } catch (e) {
    if (!s.closed) fail(m.id, e);
    return;
  }
  if (s.closed) return;
  const v = s.src;
  // syncDecode (the default; SLUICE_SYNC_DECODE=0 turns it off): a local file decoded on the CPU
  // is read and decoded with node-av's blocking calls on this thread, no libuv job per packet and
  // frame (the thread then serves one stream's decoding at a time: threaded.ts gives each stream
  // its own thread). NVDEC and network reads stay asynchronous.
  s.sync = !!m.opts.syncDecode && !v.usingHw && !isNetworkUrl(m.opts.location);
  // The views asked for at open are made from the first frame. NVDEC decoding to a view's size
  // (decodeTo) has no full frame: its frames are their views alone.
  if (s.views && v.decodesToView) s.views = { ...s.views, only: true };
  port.postMessage({ type: 'opened', id: m.id, info: { rate: v.rate, width: v.width, height: v.height, outWidth: v.outWidth, outHeight: v.outHeight, usingHw: v.usingHw, cudaContext: v.cudaContext, decodeThreads: v.decodeThreads, scaling: v.scaling, expectedFrames: v.expectedFrames, decodesToView: v.decodesToView } });
  s.pumping = pump(s).catch((e) => { if (!s.closed) fail(m.id, e); });
}

async function close(id: number): Promise<void> {
  const s = streams.get(id);
  if (s) {
    s.closed = true;
    s.abort.abort();
    streams.delete(id);
    // Wake a pump waiting for a slot; let a read in progress finish before the decoder is freed
    // (a stalled network read gives up at its own timeout; do not wait that long).
    Atomics.add(s.ctl, 0, 1);
    Atomics.notify(s.ctl, 0);
    // The abort interrupts an open in progress; it returns within moments. One that does not is
    // left to finish before its decoder and scalers are freed (freeing them under a running FFmpeg
    // call would crash); the close is answered meanwhile.
    const busy = Promise.allSettled([s.opening, s.pumping]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = await Promise.race([busy.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 2000); })]);
    clearTimeout(timer);
    const free = async () => {
      await s.src.close().catch(() => {});
      s.sws?.ctx.freeContext();
      s.sws = null;
      for (const x of s.viewSws.values()) x.ctx.freeContext();
      s.viewSws.clear();
    };
    if (settled) await free();
    else void busy.then(free);
  }
  port.postMessage({ type: 'closed', id });
}

port.on('message', (m: ToDecoder) => {
  if (m.type === 'open') void open(m);
  else if (m.type === 'close') void close(m.id);
  else if (m.type === 'views') { const s = streams.get(m.id); if (s) s.views = s.src.decodesToView ? { ...m.views, only: true } : m.views; }
});
