// Demux + decode one video stream from a file or URL, optionally on NVDEC (cuda), optionally
// looping, optionally to a smaller size. Produces CPU frames: hardware frames are downloaded
// here so every element downstream can read them; with a decode size, NVDEC scales in its own
// post-processing (the cuvid decoders' resize) and only the small frame crosses PCIe.
// Before node-av: its packet reader needs Promise.withResolvers (a decoding thread has its own globals).
import '../node-compat.ts';
import { existsSync } from 'node:fs';
import { Decoder, Demuxer, DeviceAPI, HardwareContext } from 'node-av/api';
import { Codec, FormatContext, Frame, Log, avGetCodecName } from 'node-av/lib';
import { AV_HWDEVICE_TYPE_CUDA, AV_LOG_ERROR, AV_LOG_QUIET } from 'node-av/constants';
import type { Frame as AVFrame, Packet } from 'node-av/lib';

const NOPTS = -9223372036854775808n;
import { Err } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { Scaler, even, placement, type ScaleMethod, type ViewWant } from './scale.ts';
import { AVPixels, pixFmtName } from './av.ts';
import type { Pixels } from '../core/frame.ts';
import { CaptureClock } from '../core/live.ts';

export type HwMode = 'auto' | 'cuda' | 'none';

export interface SourceOptions {
  location: string;
  /** Open `location` as a camera (V4L2 on Linux, AVFoundation on macOS, DirectShow on Windows). */
  camera?: { width?: number; height?: number; fps?: number };
  hw: HwMode;
  loop: boolean;
  log: Logger;
  /** Network inputs: FFmpeg protocol options (rtsp_transport, timeout...). */
  protocolOptions?: Record<string, string>;
  /** Aborts a blocked open or read (Ctrl-C, pipeline stop). */
  signal?: AbortSignal;
  /** Keep FFmpeg's own messages out of the log while opening (expected failures: reconnect attempts). */
  quiet?: boolean;
  /** Network inputs: the most milliseconds an open may take in all. */
  openTimeoutMs?: number;
  /** Decode to this size (0: the stream's own; one 0 keeps the aspect ratio). */
  size?: { width: number; height: number };
  /** Convert to this CPU pixel format (FFmpeg name; '' or absent: the decoder's). */
  format?: string;
  /** NVDEC on this GPU (CUDA ordinal; default 0). */
  gpuId?: number;
  /**
   * Leave CPU scaling and conversion to the caller: frames come at the decoder's size (or
   * NVDEC's resize) and format. The decoding thread scales straight into shared memory.
   */
  callerScales?: boolean;
  /** swscale interpolation for CPU scaling (default bilinear). */
  method?: ScaleMethod;
  /** Threads per software decoder (0, or -1 here: FFmpeg's choice, about one per core; a ThreadedSource turns -1 into the cores shared among its streams). */
  decodeThreads?: number;
  /** In a decoding thread: read and decode a local file with blocking calls (VideoSource.nextSync). */
  syncDecode?: boolean;
  /**
   * Nothing downstream reads full pixels, only these views (ElementContext.views): NVDEC decodes
   * straight to the smallest size that covers them all (the cuvid resize, free), so only that
   * is downloaded and the views are made from it. The source still reports the stream's full
   * size (width/height). Ignored without NVDEC.
   */
  decodeTo?: ViewWant[];
  /**
   * Live streams: when a packet arrives more than this many ms after it was captured (the
   * stream's clock anchored on its least-delayed packet), packets are skipped up to the next
   * keyframe instead of decoded: the cheapest way to catch up with a camera. 0: never.
   */
  skipLateMs?: number;
  /**
   * A file read as a camera delivers it (uri live=true): each frame is due at the stream's own
   * rate from the first packet read, and that due time is its capture time (SourceFrame.at).
   * With skipLateMs, a packet due longer ago than that is skipped to the next keyframe before
   * decoding, as a camera's backlog is: a slow pipeline does not decode what it would drop.
   */
  paced?: boolean;
}

function cpuFrame(): AVFrame {
  const sw = new Frame();
  sw.alloc();
  return sw;
}

/** `sw`, the CPU copy of a CUDA frame once hwframeTransferData returned `ret`; frees the CUDA frame. */
function downloaded(frame: AVFrame, sw: AVFrame, ret: number): AVFrame {
  if (ret < 0) { sw.free(); frame.free(); throw new Err.DECODE('downloading a CUDA frame to CPU memory failed'); }
  sw.pts = frame.pts;
  sw.timeBase = frame.timeBase;
  frame.free();
  return sw;
}

/** What a source hands the uri element: pixels plus their geometry. */
export interface SourceFrame {
  pixels: Pixels;
  width: number;
  height: number;
  format: string;
  /** Seconds since the start, continuing across loops. */
  pts: number;
  /** performance.now() when it came out of the decoder (a decoding thread's time, converted). */
  at?: number;
  /**
   * performance.now() when the camera captured it, from its RTCP sender reports (FFmpeg's
   * start_time_realtime: the wall-clock time of pts 0): absent until the first report came, or
   * for sources that send none.
   */
  captured?: number;
  /** The stream's own size when this frame was decoded (it differs from width x height when decoded smaller; it changes when the stream changes resolution). */
  streamWidth?: number;
  streamHeight?: number;
}

/**
 * FFmpeg's open cannot be interrupted through node-av (its signal is checked only before), so a
 * network open is tried in slices of at most this long: Ctrl-C waits for one slice at most.
 */
const OPEN_SLICE_MS = 1000;

/**
 * Demuxer.open keeps its FormatContext to itself until the open is done, and FFmpeg's open
 * (and the stream probing after it) blocks a libuv thread for as long as a server keeps
 * sending: an RTSP answer with `Content-Length: 99999999` trickled forever never times out.
 * A thread stuck there also keeps the process from exiting (exit joins libuv's threads), so the
 * context is caught as Demuxer.open hands it to openInput (synchronously, in the same call), and
 * interrupted (FFmpeg's interrupt callback) on Ctrl-C/stop or at the open's deadline.
 */
let catchContext: ((fc: FormatContext) => void) | null = null;
const openInput = FormatContext.prototype.openInput;
FormatContext.prototype.openInput = function (this: FormatContext, ...args: Parameters<typeof openInput>) {
  const c = catchContext;
  catchContext = null;
  // The interrupt callback is installed on a context allocated here; one FFmpeg allocates
  // inside avformat_open_input (Demuxer.open's way for a URL) has none.
  if (c) { this.allocContext(); c(this); }
  return openInput.apply(this, args);
};

/** Demuxer.open, interrupted when `signal` aborts or after `deadlineMs` (0: none); `late()` tells whether the deadline struck. */
async function openInterruptible(loc: string, options: Record<string, string>, signal: AbortSignal | undefined, deadlineMs: number): Promise<{ demuxer: Demuxer | null; error: unknown; late: boolean }> {
  let fc: FormatContext | null = null;
  let late = false;
  const stop = () => { try { fc?.interrupt(); } catch { /* already closed */ } };
  const timer = deadlineMs > 0 ? setTimeout(() => { late = true; stop(); }, deadlineMs) : undefined;
  timer?.unref();
  signal?.addEventListener('abort', stop, { once: true });
  catchContext = (c) => { fc = c; };
  try {
    const p = Demuxer.open(loc, { options: options as never, signal });
    catchContext = null;
    return { demuxer: await p, error: null, late };
  } catch (e) {
    return { demuxer: null, error: e, late };
  } finally {
    catchContext = null;
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
    fc = null;
  }
}

export interface Decoded {
  av: AVFrame;
  /** Seconds since the start, continuing across loops. */
  pts: number;
}

/** One shared CUDA context per GPU (null: that GPU could not be opened), and how many sources use it. */
const contexts = new Map<number, { ctx: HardwareContext | null; users: number; kind: 'primary' | 'own' }>();
/**
 * The process's CUDA device context for GPU `device`, or null; probed once per GPU, quietly (a
 * CPU box is not an error). One context for every stream of that GPU, as FFmpeg's
 * -init_hw_device: measured on an H200, 16 streams of 1080p on NVDEC decoded at 788 fps with a
 * context each and 1,962 with one (BENCHMARKS.md). Pair with releaseCuda(device).
 */
export function openCuda(device = 0): HardwareContext | null {
  let c = contexts.get(device);
  if (c?.ctx === null) return null;
  if (!c) {
    Log.setLevel(AV_LOG_QUIET);
    // The device's primary context, which onnxruntime's CUDA sessions in this process use too:
    // two contexts on one GPU are time-sliced, so NVDEC's copies would stall inference calls.
    // SLUICE_NVDEC_CONTEXT=own gives NVDEC a context of its own (the earlier behaviour).
    // FFmpeg refuses a primary context already made active with other flags (onnxruntime's,
    // when its sessions started first): then NVDEC gets one of its own.
    const dev = device ? String(device) : undefined;
    const make = (opts?: Record<string, string>) => { try { return HardwareContext.create(AV_HWDEVICE_TYPE_CUDA, dev, opts); } catch { return null; } };
    const primary = process.env.SLUICE_NVDEC_CONTEXT === 'own' ? null : make({ primary_ctx: '1' });
    const ctx = primary ?? make();
    Log.setLevel(AV_LOG_ERROR);
    c = { ctx, users: 0, kind: primary ? 'primary' : 'own' };
    contexts.set(device, c);
    if (!ctx) return null;
  }
  c.users++;
  return c.ctx;
}

function releaseCuda(device: number): void {
  const c = contexts.get(device);
  if (!c?.ctx || --c.users > 0) return;
  c.ctx.dispose();
  contexts.delete(device);
}

/** The output size for a `size` request (0 follows the aspect ratio; even, for 4:2:0). */
export function decodeSize(inW: number, inH: number, want: { width: number; height: number }): { width: number; height: number } {
  if (want.width <= 0 && want.height <= 0) return { width: inW, height: inH };
  if (want.width <= 0) return { width: even((inW * want.height) / inH), height: even(want.height) };
  if (want.height <= 0) return { width: even(want.width), height: even((inH * want.width) / inW) };
  return { width: even(want.width), height: even(want.height) };
}

const isUrl = (s: string) => /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s);
/** A network input (RTSP, HTTP...): live semantics, reconnects. */
export const isNetworkUrl = (s: string) => isUrl(s) && !/^file:/i.test(s);
/** The URL without its password, for messages and logs. */
export const redact = (s: string) => s.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** What an opened source knows about its stream (VideoSource, and ThreadedSource from its thread). */
export class StreamInfo {
  rate = 0;
  /** The stream's own size. */
  width = 0;
  height = 0;
  /** The size frames come out at (a decode size, or the stream's). */
  outWidth = 0;
  outHeight = 0;
  usingHw = false;
  /** NVDEC's CUDA context: the device's primary one (shared with onnxruntime) or its own. */
  cudaContext: 'primary' | 'own' | '' = '';
  /** Threads of a software decoder (0: FFmpeg's choice); 0 for NVDEC. */
  decodeThreads = 0;
  /** How frames are scaled to the decode size: 'nvdec' (the decoder's resize), 'cpu', or '' (not scaled). */
  scaling: 'nvdec' | 'cpu' | '' = '';
  /** Frames the container declares (0: not known). */
  expectedFrames = 0;
  /** Frames come at infer's picture size from NVDEC's resize (decodeTo), not at width x height. */
  decodesToView = false;
}

export class VideoSource extends StreamInfo {
  private opts: SourceOptions;
  private demuxer: Demuxer | null = null;
  private decoder: Decoder | null = null;
  private hw: HardwareContext | null = null;
  private packets: AsyncGenerator<Packet | null> | null = null;
  private packetsSync: Generator<Packet | null> | null = null;
  private pending: AVFrame[] = [];
  private ready: Decoded[] = [];
  private streamIndex = -1;
  private tb = 0;
  private offset = 0;
  private lastPts = 0;
  private ended = false;
  private scaler: Scaler | null = null;

  constructor(opts: SourceOptions) { super(); this.opts = opts; this.isRtsp = /^rtsps?:/i.test(opts.location); }

  async open(): Promise<void> {
    const loc = this.opts.location;
    if (this.opts.camera) {
      const c = this.opts.camera;
      // FFmpeg would print its own copy of the error; ours says what to do about it.
      Log.setLevel(AV_LOG_QUIET);
      try {
        this.demuxer = await DeviceAPI.openCamera({ videoDevice: /^\d+$/.test(loc) ? Number(loc) : loc, width: c.width, height: c.height, frameRate: c.fps });
      } catch (e) {
        throw new Err.MEDIA_OPEN(`cannot open camera ${loc} (${DeviceAPI.getVideoFormat()}): ${(e as Error).message.split('[')[0]!.trim()}; list cameras with "sluice webcam-client --list-devices"`, { cause: e });
      } finally {
        Log.setLevel(AV_LOG_ERROR);
      }
      return this.afterOpen(loc);
    }
    if (!isUrl(loc) && !existsSync(loc)) {
      throw new Err.FILE_NOT_FOUND(`input file not found: ${loc} (check the path given to location=)`);
    }
    const total = isNetworkUrl(loc) ? (this.opts.openTimeoutMs ?? 0) : 0;
    const t0 = Date.now();
    for (;;) {
      const slice = total > 0 ? Math.max(100, Math.min(OPEN_SLICE_MS, total - (Date.now() - t0))) : 0;
      const options = { ...this.opts.protocolOptions, ...(slice ? { timeout: String(slice * 1000) } : {}) };
      // An expected timeout of one slice is not worth FFmpeg's message; the last one is ours.
      const quiet = this.opts.quiet || total > 0;
      if (quiet) Log.setLevel(AV_LOG_QUIET);
      const t1 = Date.now();
      try {
        this.opts.signal?.throwIfAborted();
        // The hard stop has a grace past `timeout`: probing a real camera's stream on a busy box
        // can take longer than its answers do, and only a server that never finishes is cut.
        const hard = total > 0 ? 2 * total + 1000 : 0;
        const r = await openInterruptible(loc, options, this.opts.signal, hard > 0 ? Math.max(1, hard - (t1 - t0)) : 0);
        if (r.demuxer) { this.demuxer = r.demuxer; break; }
        const msg = (r.error as Error).message;
        // A mute RTSP server makes FFmpeg give up with "Invalid data found" once its socket
        // timeout passes: an attempt that used its whole slice timed out, whatever it says.
        const timedOut = r.late || /timed out|ETIMEDOUT/i.test(msg) || (slice > 0 && Date.now() - t1 >= slice * 0.9 && !this.opts.signal?.aborted);
        if (total > 0 && timedOut && !r.late && Date.now() - t0 < total && !this.opts.signal?.aborted) continue;
        if (timedOut && total > 0) throw new Err.TIMEOUT(`cannot open ${redact(loc)}: no complete answer within ${r.late ? hard : total} ms (timeout); check that the camera is up and serves this path, or raise timeout=`, { cause: r.error });
        throw new Err.MEDIA_OPEN(`cannot open ${redact(loc)}: ${msg}`, { cause: r.error });
      } finally {
        if (quiet) Log.setLevel(AV_LOG_ERROR);
      }
    }
    return this.afterOpen(loc);
  }

  private async afterOpen(loc: string): Promise<void> {
    const vs = this.demuxer!.video();
    if (!vs) throw new Err.NO_VIDEO(`${loc} has no video stream`);
    this.streamIndex = vs.index;
    this.tb = vs.timeBase.num / vs.timeBase.den;
    const fr = vs.avgFrameRate.num > 0 ? vs.avgFrameRate : vs.rFrameRate;
    this.rate = fr.den > 0 ? fr.num / fr.den : 0;
    this.width = vs.codecpar.width;
    this.height = vs.codecpar.height;
    const out = decodeSize(this.width, this.height, this.opts.size ?? { width: 0, height: 0 });
    this.outWidth = out.width;
    this.outHeight = out.height;
    this.decodesToView = false;
    // What the container says it holds, to tell a truncated or corrupt file from a short one.
    const n = Number(vs.nbFrames);
    this.expectedFrames = n > 0 ? n : 0;
    if (this.opts.hw !== 'none') {
      this.hw = openCuda(this.opts.gpuId ?? 0);
      if (!this.hw && this.opts.hw === 'cuda') {
        throw new Err.MEDIA_OPEN(`hw=cuda asked for, but CUDA device ${this.opts.gpuId ?? 0} could not be opened here; use hw=auto or hw=none${this.opts.gpuId ? ', or another gpu-id (sluice doctor lists the GPUs)' : ''}`);
      }
      if (!this.hw) this.opts.log.debug('no CUDA device: decoding on the CPU');
    }
    this.planDecodeTo(vs.codecpar.codecId);
    await this.openDecoder();
  }

  private planDecodeTo(codecId: Parameters<typeof avGetCodecName>[0]): void {
    const wants = this.opts.decodeTo;
    if (!wants?.length || !this.hw || this.opts.size || wants.some((w) => w.crop)) return;
    if (!Codec.findDecoderByName(`${avGetCodecName(codecId)}_cuvid` as never)) return;
    // Each view is the whole picture scaled to its size, so one frame as wide as the widest and
    // as tall as the tallest serves them all (its own aspect does not matter).
    const pls = wants.map((w) => placement(this.width, this.height, w));
    const w = Math.min(this.width, Math.max(...pls.map((p) => p.iw))), h = Math.min(this.height, Math.max(...pls.map((p) => p.ih)));
    if (w >= this.width && h >= this.height) return;
    this.outWidth = w;
    this.outHeight = h;
    this.decodesToView = true;
  }

  private async openDecoder(): Promise<void> {
    const { vs, cuvid, options } = this.decoderPlan();
    this.afterDecoder(cuvid ? await Decoder.create(vs, cuvid as never, options) : await Decoder.create(vs, options));
  }

  /** The same, blocking: for a decoding thread that decodes synchronously (nextSync). */
  private openDecoderSync(): void {
    const { vs, cuvid, options } = this.decoderPlan();
    this.afterDecoder(cuvid ? Decoder.createSync(vs, cuvid as never, options) : Decoder.createSync(vs, options));
  }

  private decoderPlan() {
    const vs = this.demuxer!.video()!;
    const resize = this.outWidth !== this.width || this.outHeight !== this.height;
    // NVDEC scales for free in its post-processing; the cuvid decoders expose that as "resize".
    const name = resize && this.hw ? `${avGetCodecName(vs.codecpar.codecId)}_cuvid` : '';
    const cuvid = name && Codec.findDecoderByName(name as never) ? name : '';
    this.scaling = cuvid ? 'nvdec' : resize ? 'cpu' : '';
    const options = cuvid
      ? { hardware: this.hw, exitOnError: false, options: { resize: `${this.outWidth}x${this.outHeight}` } as never }
      : { hardware: this.hw, exitOnError: false, threadCount: Math.max(0, this.opts.decodeThreads ?? 0) };
    return { vs, cuvid, options };
  }

  private afterDecoder(decoder: Decoder): void {
    this.decoder = decoder;
    const resize = this.scaling === 'cpu';
    if (!this.opts.callerScales && (resize || this.opts.format)) this.scaler ??= this.makeScaler();
    this.usingHw = decoder.isHardware();
    this.decodeThreads = this.usingHw ? 0 : Math.max(0, this.opts.decodeThreads ?? 0);
    if (this.usingHw) this.cudaContext = contexts.get(this.opts.gpuId ?? 0)?.kind ?? '';
    this.packets = null;
    this.packetsSync = null;
  }

  private makeScaler(): Scaler {
    return new Scaler({ width: this.outWidth, height: this.outHeight, format: this.opts.format ?? '', letterbox: false, placement: 'center', padColor: 'black', method: this.opts.method ?? 'bilinear', threads: 1 });
  }

  /** Times the stream changed resolution mid-stream (each one followed: width/height are the new size). */
  resized = 0;

  /**
   * A decoded frame of another size than the stream's (a camera or a concatenated file that
   * changed resolution): the stream's size follows it, and so does a decode size that keeps the
   * aspect ratio. NVDEC's resize hands out frames at the decode size, which says nothing here.
   */
  private follow(f: AVFrame): void {
    if (this.scaling === 'nvdec' || this.decodesToView || f.width <= 0 || (f.width === this.width && f.height === this.height)) return;
    this.opts.log.debug(`${redact(this.opts.location)}: resolution changed from ${this.width}x${this.height} to ${f.width}x${f.height}`);
    this.width = f.width;
    this.height = f.height;
    this.resized++;
    const out = decodeSize(f.width, f.height, this.opts.size ?? { width: 0, height: 0 });
    if (out.width === this.outWidth && out.height === this.outHeight) return;
    this.outWidth = out.width;
    this.outHeight = out.height;
    const resize = !!this.opts.size && (out.width !== f.width || out.height !== f.height);
    this.scaling = resize ? 'cpu' : '';
    if (this.scaler) { this.scaler.close(); this.scaler = null; }
    if (!this.opts.callerScales && (resize || this.opts.format)) this.scaler = this.makeScaler();
  }

  /** Frames decoded in the current pass over the file. */
  decodedThisPass = 0;
  /** At the end of a pass: frames the container declared that could not be decoded. */
  get framesLost(): number {
    return this.expectedFrames > 0 ? Math.max(0, this.expectedFrames - this.decodedThisPass) : 0;
  }

  /** The next frame as the uri element takes it (owned pixels), or null at the end. */
  /** Packets skipped to catch up with a live stream (skipLateMs), in all. */
  skippedLate = 0;
  private packetClock = new CaptureClock();
  private skipping = false;

  /** Whether this packet of a live stream is to be skipped (see SourceOptions.skipLateMs). */
  private skipLate(pkt: Packet): boolean {
    const limit = this.opts.skipLateMs ?? 0;
    if (limit <= 0 || pkt.pts === NOPTS) return false;
    const now = performance.now();
    const ptsS = Number(pkt.pts) * this.tb;
    const age = now - (this.opts.paced ? this.dueAt(ptsS + this.offset) : this.packetClock.stamp(ptsS, now));
    if (pkt.isKeyframe) {
      // A keyframe decodes alone: resume here.
      this.skipping = false;
      return false;
    }
    if (age > limit) this.skipping = true;
    if (!this.skipping) return false;
    this.skippedLate++;
    return true;
  }

  /** RTSP: its RTCP sender reports may give capture times (capturedEpoch). */
  private readonly isRtsp: boolean;
  /** Wall-clock ms (epoch) of the stream's pts 0 from the camera's RTCP sender reports, once one came. */
  private realtimeStart: number | null = null;
  /**
   * When the camera captured the frame at `pts` (epoch ms, its clock), from its RTCP sender
   * reports (RTSP only), or undefined before the first report.
   */
  capturedEpoch(pts: number): number | undefined {
    if (this.realtimeStart === null && this.demuxer && this.isRtsp) {
      // FFmpeg's RTSP demuxer sets it from the first sender report; read until it is there.
      const v = (this.demuxer.getFormatContext() as unknown as { getOption(n: string, t: string): bigint | null }).getOption('start_time_realtime', 'int64');
      if (v !== null && v !== NOPTS && v > 0n) this.realtimeStart = Number(v) / 1000;
    }
    return this.realtimeStart === null ? undefined : this.realtimeStart + pts * 1000;
  }

  private paceT0 = -1;
  private pacePts0 = 0;
  /** Read as a camera would deliver it (SourceOptions.paced). */
  get paced(): boolean { return !!this.opts.paced; }
  /** paced: when the frame at `pts` (seconds, on this source's clock) is due, in performance.now() ms. */
  dueAt(pts: number): number {
    if (this.paceT0 < 0) { this.paceT0 = performance.now(); this.pacePts0 = pts; }
    return this.paceT0 + (pts - this.pacePts0) * 1000;
  }

  async nextFrame(): Promise<SourceFrame | null> {
    const d = await this.next();
    if (!d) return null;
    const cap = this.capturedEpoch(d.pts);
    return { pixels: new AVPixels(d.av), width: d.av.width, height: d.av.height, format: pixFmtName(d.av.format as never), pts: d.pts, at: this.opts.paced ? this.dueAt(d.pts) : performance.now(), ...(cap !== undefined ? { captured: cap - performance.timeOrigin } : {}), streamWidth: this.width, streamHeight: this.height };
  }

  /** Next decoded frame (CPU memory), or null at the end. The caller owns it. */
  async next(): Promise<Decoded | null> {
    for (;;) {
      const done = this.ready.shift();
      if (done) return done;
      const f = this.pending.shift();
      if (f) return this.finish(f);
      if (this.ended) return null;
      this.packets ??= this.demuxer!.packets(this.streamIndex);
      const r = await this.packets.next();
      const pkt = r.done ? null : r.value;
      if (pkt && this.skipLate(pkt)) { pkt.free(); continue; }
      if (pkt) {
        try {
          this.pending.push(...(await this.decoder!.decodeAll(pkt)));
        } finally {
          pkt.free();
        }
        continue;
      }
      // End of input: drain the decoder (these frames keep this pass's times), then loop or end.
      for await (const fr of this.decoder!.flushFrames()) this.ready.push(await this.finish(fr));
      if (!this.opts.loop) { this.ended = true; continue; }
      this.nextPass();
      try { await this.packets?.return(undefined); } catch { /* already finished */ }
      this.decoder!.close();
      await this.demuxer!.close();
      this.demuxer = await Demuxer.open(this.opts.location);
      await this.openDecoder();
    }
  }

  /**
   * next(), blocking: demux, decode and download on the calling thread, no libuv job per step.
   * For a decoding thread reading a local file (a network read could block it for seconds).
   * Frames come at the decoder's size and format (callerScales).
   */
  nextSync(): Decoded | null {
    for (;;) {
      const done = this.ready.shift();
      if (done) return done;
      const f = this.pending.shift();
      if (f) return this.finishSync(f);
      if (this.ended) return null;
      this.packetsSync ??= this.demuxer!.packetsSync(this.streamIndex);
      const r = this.packetsSync.next();
      const pkt = r.done ? null : r.value;
      if (pkt && this.skipLate(pkt)) { pkt.free(); continue; }
      if (pkt) {
        try {
          this.pending.push(...this.decoder!.decodeAllSync(pkt));
        } finally {
          pkt.free();
        }
        continue;
      }
      for (const fr of this.decoder!.flushFramesSync()) this.ready.push(this.finishSync(fr));
      if (!this.opts.loop) { this.ended = true; continue; }
      this.nextPass();
      try { this.packetsSync?.return(undefined); } catch { /* already finished */ }
      this.decoder!.close();
      this.demuxer!.closeSync();
      this.demuxer = Demuxer.openSync(this.opts.location);
      this.openDecoderSync();
    }
  }

  /** At the end of a pass over a looping file: say what was lost, and go on from its last time. */
  private nextPass(): void {
    if (this.framesLost > 0) this.opts.log.warn(`${this.opts.location}: this pass decoded ${this.decodedThisPass} of ${this.expectedFrames} frames (truncated or corrupt)`);
    this.decodedThisPass = 0;
    // Reopen rather than seek: node-av's packet reader stays at EOF after a seek.
    this.offset = this.lastPts + (this.rate > 0 ? 1 / this.rate : 0);
  }

  private finishSync(f: AVFrame): Decoded {
    let frame = f;
    if (frame.isHwFrame()) { const sw = cpuFrame(); frame = downloaded(frame, sw, frame.hwframeTransferDataSync(sw, 0)); }
    this.follow(frame);
    if (this.scaler) throw new Err.DECODE('synchronous decoding leaves scaling to its caller');
    return this.stamp(frame);
  }

  /** The frame's time in seconds on this source's clock (passes of a looping file follow on). */
  private stamp(frame: AVFrame): Decoded {
    const ts = frame.bestEffortTimestamp !== NOPTS ? frame.bestEffortTimestamp : frame.pts;
    let pts: number;
    if (ts === NOPTS) pts = this.lastPts + (this.rate > 0 ? 1 / this.rate : 0);
    else pts = Number(ts) * this.tb + this.offset;
    this.lastPts = Math.max(this.lastPts, pts);
    this.decodedThisPass++;
    return { av: frame, pts };
  }

  private async finish(f: AVFrame): Promise<Decoded> {
    let frame = f;
    if (frame.isHwFrame()) { const sw = cpuFrame(); frame = downloaded(frame, sw, await frame.hwframeTransferData(sw, 0)); }
    this.follow(frame);
    if (this.scaler && (frame.width !== this.outWidth || frame.height !== this.outHeight || (this.opts.format && pixFmtName(frame.format as never) !== this.opts.format))) {
      const small = (await this.scaler.scale(frame)).av;
      small.pts = frame.pts;
      small.bestEffortTimestamp = frame.bestEffortTimestamp;
      frame.free();
      frame = small;
    }
    return this.stamp(frame);
  }

  async close(): Promise<void> {
    for (const f of this.pending) f.free();
    for (const d of this.ready) d.av.free();
    this.pending = [];
    this.ready = [];
    try { await this.packets?.return(undefined); } catch { /* generator already done */ }
    try { this.packetsSync?.return(undefined); } catch { /* generator already done */ }
    this.decoder?.close();
    this.decoder = null;
    await this.demuxer?.close();
    this.demuxer = null;
    this.scaler?.close();
    this.scaler = null;
    if (this.hw) releaseCuda(this.opts.gpuId ?? 0);
    this.hw = null;
  }
}
