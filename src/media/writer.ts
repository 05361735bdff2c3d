// Encode (libx264 / MJPEG) and mux (mp4, mkv, mov, avi...) with FFmpeg. The muxer is driven
// through the low-level format API so that packets from a separate `encode` element can be
// written as well as frames encoded here.
import { Encoder } from 'node-av/api';
import { Dictionary, FormatContext, IOContext, Rational, type Frame as AVFrame, type Packet, type Stream } from 'node-av/lib';
import { AVFMT_GLOBALHEADER, AVFMT_NOFILE, AV_PICTURE_TYPE_I, AVIO_FLAG_WRITE, AV_CODEC_FLAG_GLOBAL_HEADER, AV_CODEC_FLAG_QSCALE, FF_ENCODER_LIBX264, FF_ENCODER_MJPEG, FF_QP2LAMBDA, FF_THREAD_FRAME, FF_THREAD_SLICE } from 'node-av/constants';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { SluiceError, Err } from '../core/errors.ts';
import { LatencyHistogram } from '../core/stats.ts';
import { writeFailed } from '../core/files.ts';
import { pixFmtName, type EncodedStream } from './av.ts';
import { Scaler } from './scale.ts';

export type Codec = 'h264' | 'mjpeg';

export interface EncodeSpec {
  codec: Codec;
  /** Frames per second of the output; 0 takes it from the frames. */
  fps: number;
  /** x264 preset. */
  preset: string;
  /** x264 constant rate factor (lower is better). */
  crf: number;
  /** Bits per second, 0 for constant quality. */
  bitrate: number;
  /** Keyframe interval in frames, 0 for the codec default. */
  gop: number;
  /** x264 tune (zerolatency...); 'none' or absent: none. */
  tune?: string;
  /** MJPEG quality 1 (best) .. 31. */
  quality: number;
  /** Whether the container wants codec headers out of band (mp4/mkv do). */
  globalHeader: boolean;
  /** Encoder threads; 0 or absent: auto (see encoderThreads). */
  threads?: number;
}

/** x264 gains little past 16 threads and each slice costs bits (MJPEG's slice threads stop at 8). */
export const MAX_AUTO_THREADS = 16;

/**
 * The threads an encoder is asked for: `threads` when given, else the cores this process may
 * use (`os.availableParallelism()`) capped at MAX_AUTO_THREADS: x264's own auto count takes
 * every core of a large host (1.5 a core with frame threads, up to 128), which costs memory
 * and bits for no speed. With tune=zerolatency x264 cannot use frame threads (each adds a
 * frame of delay), so they are slice threads: every thread encodes a band of the same picture,
 * and one frame takes less wall time (x264 keeps at least 4 macroblock rows a slice).
 */
export function encoderThreads(spec: Pick<EncodeSpec, 'codec' | 'tune' | 'threads'>, cores = availableParallelism()): { count: number; sliced: boolean } {
  const sliced = spec.codec === 'h264' && spec.tune === 'zerolatency';
  if (spec.threads && spec.threads > 0) return { count: spec.threads, sliced };
  // Frame threads (x264 without zerolatency) keep x264's own rule, 1.5 a core: a thread waiting
  // on its reference rows leaves a core idle otherwise.
  const per = sliced || spec.codec !== 'h264' ? cores : Math.ceil(cores * 1.5);
  return { count: Math.max(1, Math.min(per, spec.codec === 'mjpeg' ? 8 : MAX_AUTO_THREADS)), sliced };
}

/**
 * What x264 really ran with, read from the options string in its first packet's SEI: it caps
 * slice threads by the picture's height, and one thread is not sliced.
 */
function x264Threads(data: Buffer | null | undefined): { count: number; sliced: boolean } | null {
  const text = data?.toString('latin1') ?? '';
  const count = /options: .*?\bthreads=(\d+)/.exec(text);
  const sliced = /options: .*?\bsliced_threads=(\d)/.exec(text);
  return count && sliced ? { count: Number(count[1]), sliced: sliced[1] === '1' } : null;
}

/** The size rule of a codec: null when width x height is fine, else the rule and the fix. */
export function sizeRule(codec: string, width: number, height: number): string | null {
  if (codec !== 'h264' || (width % 2 === 0 && height % 2 === 0 && width >= 2 && height >= 2)) return null;
  return `h264 (libx264, 4:2:0) needs an even width and height of at least 2: scale to an even size first (e.g. scale width=${Math.max(2, width & ~1)} height=${Math.max(2, height & ~1)})`;
}

export class VideoEncoder {
  private spec: EncodeSpec;
  private enc: Encoder | null = null;
  private lastPts = -1n;
  info: EncodedStream | null = null;
  /** The size and pixel format the encoder opened with (its first frame's). */
  private size: { width: number; height: number; format: number } | null = null;
  /** Frames of another size are letterboxed to `size` (a stream that changed resolution). */
  private fit: Scaler | null = null;
  private lastIn = '';
  /** Frames that came at another size than the encoder's and were scaled to it. */
  rescaled = 0;
  private onResize: ((message: string) => void) | undefined;
  /** The frame being encoded was asked to be a keyframe (see open()). */
  private forceKey = false;
  /** Wall time of each encode call but the first (ms): what one frame costs the pipeline. */
  readonly cost = new LatencyHistogram();
  /** Frames given to the encoder. */
  frames = 0;
  /** Threads asked for, and the kind (slice threads: zerolatency). */
  readonly threads: { count: number; sliced: boolean };
  /** Threads x264 reports it used (from its SEI), once the first packet is out. */
  threadsUsed: { count: number; sliced: boolean } | null = null;
  /** `onResize`: told once per change of the input size (the element posts it as a warning). */
  constructor(spec: EncodeSpec, onResize?: (message: string) => void) { this.spec = spec; this.onResize = onResize; this.threads = encoderThreads(spec); }

  /** What the encoder costs and how it runs, for an element's describe() (the report's `resolved`). */
  describe(): Record<string, string | number | boolean> {
    const s = this.spec;
    const r: Record<string, string | number | boolean> = { codec: s.codec };
    if (s.codec === 'h264') { r.preset = s.preset; r.tune = s.tune ?? 'none'; }
    const used = this.threadsUsed ?? this.threads;
    r.threads = used.count;
    if (s.codec === 'h264') r.slicedThreads = used.sliced;
    r.framesEncoded = this.frames;
    if (this.cost.count > 0) {
      r.encodeMsP50 = Math.round(this.cost.quantile(0.5) * 100) / 100;
      r.encodeMsP99 = Math.round(this.cost.quantile(0.99) * 100) / 100;
    }
    if (this.rescaled) r.framesRescaled = this.rescaled;
    return r;
  }

  /** Encode one frame (not consumed); `keyframe`: make it one (a viewer asked). Returns the packets that came out; caller owns them. */
  async encode(input: AVFrame, ptsSeconds: number, rate: number | undefined, keyframe = false): Promise<Packet[]> {
    if (!this.enc) {
      // libx264 encodes 4:2:0, whose chroma planes halve the size: odd sizes are refused with
      // "Generic error in an external library". Say the rule instead.
      const broken = sizeRule(this.spec.codec, input.width, input.height);
      if (broken) throw new Err.FORMAT(`${broken}; the frames are ${input.width}x${input.height}`);
      await this.open(rate);
      this.size = { width: input.width, height: input.height, format: input.format as number };
      this.lastIn = `${input.width}x${input.height}`;
    }
    // A stream whose resolution changed: an encoder (and the container or RTSP viewers after it)
    // keeps the size it opened with, so the frame is scaled to it, aspect kept, padded; fed as
    // it is, libx264 would read the top-left corner of it (a silent crop).
    const sz = this.size!;
    const key = `${input.width}x${input.height}`;
    if (key !== this.lastIn) {
      this.onResize?.(`the input changed size from ${this.lastIn} to ${key}; encoding at ${sz.width}x${sz.height}, ${key === `${sz.width}x${sz.height}` ? 'as before' : 'scaled to fit (letterboxed)'}`);
      this.lastIn = key;
    }
    let av = input;
    if (input.width !== sz.width || input.height !== sz.height || (input.format as number) !== sz.format) {
      this.fit ??= new Scaler({ width: sz.width, height: sz.height, format: pixFmtName(sz.format as never), letterbox: true, placement: 'center', padColor: 'black', method: 'bilinear', threads: 1 });
      av = (await this.fit.scale(input)).av;
      this.rescaled++;
    }
    try {
      return await this.encodeFrame(av, ptsSeconds, keyframe);
    } finally {
      if (av !== input) av.free();
    }
  }

  private async encodeFrame(av: AVFrame, ptsSeconds: number, keyframe: boolean): Promise<Packet[]> {
    const fps = this.info!.rate;
    // Frame times in 1/fps units: monotonic, as encoders require (dropped frames leave gaps).
    let pts = BigInt(Math.round(ptsSeconds * fps));
    if (pts <= this.lastPts) pts = this.lastPts + 1n;
    this.lastPts = pts;
    const saved = av.pts;
    const savedTb = av.timeBase;
    const savedDur = av.duration;
    this.forceKey = keyframe;
    av.pts = pts;
    av.duration = 1n;
    av.timeBase = new Rational(1, fps) as never;
    const t0 = performance.now();
    try {
      const packets = await this.enc!.encodeAll(av);
      // The first call also opens the encoder: not what a frame costs.
      if (this.frames++ > 0) this.cost.add(performance.now() - t0);
      // The codec context exists once the encoder opened on its first frame.
      this.info!.codecContext ??= this.enc!.getCodecContext()!;
      if (this.threadsUsed === null && this.spec.codec === 'h264' && packets.length > 0) this.threadsUsed = x264Threads(packets[0]!.data) ?? this.threads;
      return packets;
    } catch (e) {
      throw new Err.ENCODE(`${this.spec.codec} encoding failed: ${(e as Error).message}`, { cause: e });
    } finally {
      av.pts = saved;
      av.timeBase = savedTb;
      av.duration = savedDur;
      this.forceKey = false;
    }
  }

  async flush(): Promise<Packet[]> {
    if (!this.enc) return [];
    const out: Packet[] = [];
    for await (const p of this.enc.flushPackets()) out.push(p);
    return out;
  }

  private async open(rate: number | undefined): Promise<void> {
    const s = this.spec;
    const fps = s.fps > 0 ? s.fps : rate && rate > 0 ? rate : 30;
    // Rational frame rate: keep fractional rates such as 29.97 / 179/6.
    const den = Number.isInteger(fps) ? 1 : 1000;
    const framerate = new Rational(Math.round(fps * den), den);
    const threads = this.threads;
    const configure = (c: import('node-av/lib').CodecContext) => {
      c.framerate = framerate;
      c.threadCount = threads.count;
      // libx264 maps FFmpeg's thread type onto x264's sliced-threads switch.
      if (s.codec === 'h264') c.threadType = threads.sliced ? FF_THREAD_SLICE : FF_THREAD_FRAME;
      if (s.gop > 0) c.gopSize = s.gop;
      if (s.globalHeader) c.setFlags(AV_CODEC_FLAG_GLOBAL_HEADER);
    };
    try {
      if (s.codec === 'h264') {
        const options: Record<string, string> = { preset: s.preset };
        if (s.tune && s.tune !== 'none') options.tune = s.tune;
        if (s.bitrate <= 0) options.crf = String(s.crf);
        this.enc = await Encoder.create(FF_ENCODER_LIBX264, {
          bitrate: s.bitrate > 0 ? s.bitrate : undefined,
          options: options as never,
          configure,
        });
      } else {
        this.enc = await Encoder.create(FF_ENCODER_MJPEG, {
          configure: (c) => {
            configure(c);
            c.globalQuality = s.quality * FF_QP2LAMBDA;
            c.setFlags(AV_CODEC_FLAG_QSCALE);
          },
          // Video-range YUV in JPEG is an FFmpeg extension; allow it rather than converting.
          options: { huffman: 'optimal', strict: 'unofficial' } as never,
        });
      }
    } catch (e) {
      throw new Err.ENCODE(`cannot create the ${s.codec} encoder: ${(e as Error).message}`, { cause: e });
    }
    // node-av's Encoder clears each frame's picture type just before sending it (the input's
    // types are no hint when re-encoding), which is also how FFmpeg is asked for a keyframe
    // (ffmpeg -force_key_frames): set it again after that step for a frame asked to be one. An
    // I picture is an IDR for libx264 with its default closed GOP, where a new viewer can start.
    const prep = (this.enc as unknown as { prepareFrameForEncoding?: (f: AVFrame) => void }).prepareFrameForEncoding;
    if (typeof prep === 'function') {
      (this.enc as unknown as { prepareFrameForEncoding: (f: AVFrame) => void }).prepareFrameForEncoding = (f: AVFrame) => {
        prep.call(this.enc, f);
        if (this.forceKey) f.pictType = AV_PICTURE_TYPE_I;
      };
    }
    this.info = { codecContext: null, timeBase: new Rational(framerate.den, framerate.num), rate: fps };
  }

  close(): void {
    this.enc?.close();
    this.enc = null;
    this.fit?.close();
    this.fit = null;
  }
}

const EXT_FORMAT: Record<string, string> = { jpg: 'image2', jpeg: 'image2', mp4: 'mp4', m4v: 'mp4', mov: 'mov', mkv: 'matroska', avi: 'avi', ts: 'mpegts', h264: 'h264', mjpeg: 'mjpeg', mjpg: 'mjpeg' };

export function containerFor(location: string, format: string): string {
  if (format) return format;
  const ext = location.split('.').pop()?.toLowerCase() ?? '';
  const f = EXT_FORMAT[ext];
  if (!f) throw new Err.MUX(`cannot tell the container from "${location}": use a .mp4, .mkv, .mov, .avi, .ts or .jpg name (x-%05d.jpg for a sequence), or set format=`);
  return f;
}

/** Whether a container wants global headers (decides the encoder flag up front). */
export function needsGlobalHeader(format: string): boolean {
  const fc = new FormatContext();
  const ret = fc.allocOutputContext2(null, format, null);
  const v = ret >= 0 && !!fc.oformat?.hasFlags(AVFMT_GLOBALHEADER);
  fc.freeContext();
  return v;
}

/** Longest fragment of a fragmented recording: what a kill -9 can lose at most. */
export const FRAGMENT_US = 1_000_000;

export class FileMuxer {
  private fc: FormatContext | null = null;
  private io: IOContext | null = null;
  private stream: Stream | null = null;
  private src: EncodedStream | null = null;
  private path: string;
  private format: string;
  private headerWritten = false;
  private fragmented: boolean;
  /** Decided when the header is written (the sources have opened by then and know their length). */
  private decide: (() => boolean) | null;
  packets = 0;

  /**
   * `fragmented` (mp4/mov): a moov up front and a fragment per keyframe, so a killed process
   * leaves a file that plays up to its last fragment; otherwise the index is written at the end.
   */
  constructor(location: string, format: string, fragmented: boolean | (() => boolean) = false) {
    this.path = resolve(location);
    this.format = format;
    this.decide = typeof fragmented === 'function' ? fragmented : null;
    this.fragmented = fragmented === true && (format === 'mp4' || format === 'mov');
  }

  /** Whether the file is written as fragments (known once the first packet is written). */
  get isFragmented(): boolean { return this.fragmented; }

  async open(): Promise<void> {
    const fc = new FormatContext();
    const ret = fc.allocOutputContext2(null, this.format, this.path);
    if (ret < 0) throw new Err.MUX(`FFmpeg has no muxer "${this.format}" for ${this.path}`);
    if (!fc.oformat?.hasFlags(AVFMT_NOFILE)) {
      const io = new IOContext();
      const r = await io.open2(this.path, AVIO_FLAG_WRITE);
      if (r < 0) { fc.freeContext(); throw new Err.MUX(`cannot write ${this.path} (check the directory exists and is writable)`); }
      fc.pb = io;
      this.io = io;
    }
    this.fc = fc;
  }

  /** Write one packet (not consumed) of the stream described by `info`. */
  async write(pkt: Packet, info: EncodedStream): Promise<void> {
    const fc = this.fc!;
    if (!this.headerWritten) {
      const st = fc.newStream(null);
      if (!info.codecContext) throw new Err.MUX('a packet arrived before its encoder was open');
      st.codecpar.fromContext(info.codecContext);
      st.timeBase = info.timeBase;
      st.avgFrameRate = new Rational(info.timeBase.den, info.timeBase.num);
      if (this.decide) this.fragmented = this.decide() && (this.format === 'mp4' || this.format === 'mov');
      // A fragment at each keyframe and at least every second (frag_duration, in µs): with
      // keyframes alone, x264's default GOP of 250 kept a live recording's first 8 s in memory,
      // and a kill -9 at 5 s left 773 bytes and no frame.
      // A .jpg name without a %d pattern is one picture, rewritten with each frame (image2's update).
      const single = this.format === 'image2' && !/%\d*d/.test(this.path);
      const r = await fc.writeHeader(this.fragmented ? Dictionary.fromObject({ movflags: 'frag_keyframe+empty_moov+default_base_moof', frag_duration: String(FRAGMENT_US), flush_packets: '1' }) : single ? Dictionary.fromObject({ update: '1' }) : null);
      if (r === -28 || this.ioError() === -28) throw this.failed(-28);
      if (r < 0) throw new Err.MUX(`writing the ${this.format} header to ${this.path} failed (${r})`);
      this.stream = st;
      this.src = info;
      this.headerWritten = true;
    }
    pkt.streamIndex = this.stream!.index;
    pkt.rescaleTs(this.src!.timeBase, this.stream!.timeBase);
    const r = await fc.interleavedWriteFrame(pkt);
    // FFmpeg's buffered writes fail later and only mark the I/O context: without this check a
    // full disk (or /dev/full) lost every packet and the run ended "successfully".
    const io = this.ioError();
    if (r === -28 || io === -28) throw this.failed(-28);
    if (r < 0) throw new Err.MUX(`writing to ${this.path} failed (${r})`);
    if (io < 0) throw this.failed(io);
    this.packets++;
  }

  private ioError(): number { return this.io?.error ?? 0; }

  /** The coded error for a failed write, saying what is left of the file. */
  private failed(code: number): SluiceError {
    const left = this.fragmented
      ? 'the file plays up to its last complete fragment'
      : this.format === 'mp4' || this.format === 'mov'
        ? 'its index is written at the end, so this file does not play; fragmented=on keeps what was written playable'
        : 'the file holds what was written before';
    return writeFailed('', this.path, code, left);
  }

  /** Finish the file (trailer, index) so it plays. Safe to call twice. */
  async close(): Promise<void> {
    const fc = this.fc;
    if (!fc) return;
    this.fc = null;
    let r = 0;
    try {
      if (this.headerWritten) r = await fc.writeTrailer();
      if (r >= 0) r = this.ioError();
    } finally {
      // Detach pb before freeing: the context would otherwise close it a second time.
      fc.pb = null;
      if (this.io) { const c = await this.io.closep(); if (r >= 0 && c < 0) r = c; this.io = null; }
      fc.freeContext();
    }
    // The index (or the last fragment) did not reach the disk: the file is not what it seems.
    if (r < 0) throw this.failed(r);
  }
}
