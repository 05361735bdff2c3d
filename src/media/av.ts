// Glue between node-av (FFmpeg 8) and the core Frame. Every native frame/packet has exactly one
// owner (an AVPixels/PacketPixels) and is freed deterministically by release(): native memory
// is invisible to V8's GC, so leaving it to finalizers would let RSS grow without bound.
import { Frame as AVFrame, Packet, Log, Rational, avGetPixFmtFromName, avGetPixFmtName } from 'node-av/lib';
import { AV_LOG_ERROR, AV_PIX_FMT_NONE, AV_PIX_FMT_YUVJ420P, type AVPixelFormat } from 'node-av/constants';
import { OwnedPixels, type Pixels } from '../core/frame.ts';
import { Err } from '../core/errors.ts';
import { copyBytes } from '../core/bytes.ts';

// FFmpeg prints codec banners at info level; keep stderr for real problems.
Log.setLevel(AV_LOG_ERROR);

export class AVPixels extends OwnedPixels {
  /** Native frames currently owned (created and not yet released): a leak detector. */
  static live = 0;
  static peak = 0;
  av: AVFrame;
  constructor(av: AVFrame) {
    super();
    this.av = av;
    if (++AVPixels.live > AVPixels.peak) AVPixels.peak = AVPixels.live;
  }
  clone(): AVPixels {
    const c = this.av.clone();
    if (!c) throw new Err.FORMAT('could not reference frame (out of memory)');
    return new AVPixels(c);
  }
  protected free(): void {
    AVPixels.live--;
    this.av.free();
  }
  get bytes(): number {
    let n = 0;
    for (const b of this.av.data ?? []) n += b.length;
    return n;
  }
}

/** An encoded packet plus what a muxer needs to know about the stream it belongs to. */
export interface EncodedStream {
  /** Codec parameters are copied from here when the muxer adds the stream. */
  codecContext: import('node-av/lib').CodecContext | null;
  timeBase: Rational;
  rate: number;
}

export class PacketPixels extends OwnedPixels {
  packet: Packet;
  stream: EncodedStream;
  constructor(packet: Packet, stream: EncodedStream) { super(); this.packet = packet; this.stream = stream; }
  clone(): PacketPixels {
    const c = this.packet.clone();
    if (!c) throw new Err.ENCODE('could not reference packet (out of memory)');
    return new PacketPixels(c, this.stream);
  }
  protected free(): void { this.packet.free(); }
  get bytes(): number { return this.packet.size; }
}

export function pixFmtFromName(name: string): AVPixelFormat {
  const f = avGetPixFmtFromName(name);
  if (f === AV_PIX_FMT_NONE) {
    throw new Err.FORMAT(`unknown pixel format "${name}"; use an FFmpeg name such as yuv420p, nv12, rgb24, bgr24, gray`);
  }
  return f;
}

export function pixFmtName(fmt: AVPixelFormat): string {
  return avGetPixFmtName(fmt) ?? `pixfmt${fmt}`;
}

/**
 * A new native frame with its own FFmpeg-allocated planes. (Frame.fromVideoBuffer wraps the
 * JS buffer without copying, so a reused buffer would change frames already sent on.)
 */
export function allocVideoFrame(width: number, height: number, format: AVPixelFormat, pts: bigint): AVFrame {
  const f = new AVFrame();
  f.alloc();
  f.width = width;
  f.height = height;
  f.format = format;
  f.timeBase = TIME_BASE;
  f.pts = pts;
  const ret = f.getBuffer(0);
  if (ret < 0) { f.free(); throw new Err.FORMAT(`cannot allocate a ${width}x${height} frame (${ret})`); }
  return f;
}

/** Copy tightly packed planes (w*h, then chroma planes) into a frame with padded linesizes. */
export function writePlanes(f: AVFrame, src: Buffer, planeRows: number[], planeWidths: number[]): void {
  const data = f.data!;
  const ls = f.linesize;
  let off = 0;
  for (let i = 0; i < planeRows.length; i++) {
    const dst = data[i]!;
    const w = planeWidths[i]!;
    const rows = planeRows[i]!;
    if (ls[i] === w) copyBytes(dst, 0, src, off, off + w * rows);
    else for (let y = 0; y < rows; y++) copyBytes(dst, y * ls[i]!, src, off + y * w, off + (y + 1) * w);
    off += w * rows;
  }
}

/** Seconds -> (pts, timebase) with a fine time base so frame times survive round trips. */
export const TIME_BASE = new Rational(1, 90000);
/** A native yuvj420p frame from tightly packed Y, U, V planes (JPEG decoder output). */
export function frameFromPacked420(img: { width: number; height: number; data: Uint8Array }, pts: bigint): AVFrame {
  const av = allocVideoFrame(img.width, img.height, AV_PIX_FMT_YUVJ420P, pts);
  const cw = (img.width + 1) >> 1, ch = (img.height + 1) >> 1;
  writePlanes(av, Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), [img.height, ch, ch], [img.width, cw, cw]);
  return av;
}

export function toPts(seconds: number): bigint {
  return BigInt(Math.round(seconds * 90000));
}

/** The native frame of a core frame, or a clear error when an element got the wrong kind. */
export function avOf(pixels: Pixels | null, who: string): AVFrame {
  if (pixels instanceof AVPixels) return pixels.av;
  // Frames from a decoding thread (uri threaded=true) become native on first use.
  if (pixels && 'toAV' in pixels && typeof pixels.toAV === 'function') return (pixels as { toAV(): AVFrame }).toAV();
  throw new Err.FORMAT(`${who} needs raw video frames (got ${pixels ? 'encoded data' : 'no pixels'})`);
}

export { AVFrame, Rational };
