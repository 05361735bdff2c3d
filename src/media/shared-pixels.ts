// Frames decoded in a worker thread (uri threaded=true) arrive as tightly packed planes in a
// shared-memory slot of their stream's pool: nothing is copied on the main thread to receive
// them, and infer reads a model-sized rgb24/bgr24 frame straight from the slot. An element that
// needs a native frame (osd, encode, scale...) gets one made from the slot on first use, and
// from then on that copy is the frame (drawing on it is not lost).
import { OwnedPixels, type Pixels } from '../core/frame.ts';
import type { View, ViewFormat, ViewRequest } from '../core/views.ts';
import { AVPixels, allocVideoFrame, pixFmtFromName, writePlanes, type AVFrame } from './av.ts';
import { Err } from '../core/errors.ts';

/** Packed plane layout of a CPU pixel format: rows and row bytes per plane. */
export function packedPlanes(format: string, width: number, height: number): { rows: number[]; widths: number[]; bytes: number } | null {
  const cw = (width + 1) >> 1, ch = (height + 1) >> 1;
  let rows: number[], widths: number[];
  switch (format) {
    case 'rgb24': case 'bgr24': rows = [height]; widths = [width * 3]; break;
    case 'gray': rows = [height]; widths = [width]; break;
    case 'yuv420p': case 'yuvj420p': rows = [height, ch, ch]; widths = [width, cw, cw]; break;
    case 'nv12': rows = [height, ch]; widths = [width, cw * 2]; break;
    default: return null;
  }
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) bytes += rows[i]! * widths[i]!;
  return { rows, widths, bytes };
}

/**
 * One slot of a stream's pool, shared by every clone of the frame in it (tee); given back to
 * the decoding thread when the last holder releases it.
 */
export class SlotRef {
  private refs = 1;
  readonly data: Uint8Array;
  private giveBack: () => void;
  constructor(data: Uint8Array, giveBack: () => void) { this.data = data; this.giveBack = giveBack; }
  ref(): this { this.refs++; return this; }
  unref(): void { if (--this.refs === 0) this.giveBack(); }
}

/**
 * A smaller picture of the frame made while decoding (a view: ElementContext.requestView),
 * packed after the frame in its slot (or, when nothing reads the full frame, alone in it); `ids`
 * are the requests it serves (requests for the same pixels share one).
 */
export interface SlotView { ids: number[]; offset: number; bytes: number; width: number; height: number; format: ViewFormat }

export class SharedPixels extends OwnedPixels {
  private slot: SlotRef;
  readonly format: string;
  readonly width: number;
  readonly height: number;
  /** The views the slot also holds (ElementContext.requestView). */
  readonly views: readonly SlotView[];
  /**
   * Whether the slot holds the full frame; false when nothing downstream reads it
   * (ElementContext.views): then it holds the views alone, or nothing on frames infer skips.
   */
  readonly whole: boolean;
  /** The native copy, once an element asked for one; from then on it is the frame's pixels. */
  private native: AVFrame | null = null;
  constructor(slot: SlotRef, format: string, width: number, height: number, views: readonly SlotView[] = [], whole = true) {
    super();
    this.slot = slot;
    this.format = format;
    this.width = width;
    this.height = height;
    this.views = views;
    this.whole = whole;
  }
  /** The packed bytes, or null once a native copy exists (it may have been drawn on) or when the slot lacks the full frame. */
  get packed(): Uint8Array | null { return this.native || !this.whole ? null : this.slot.data; }
  /** The view made for `request`, or null without one or once a native copy exists (the pixels may have been edited). */
  view(request: ViewRequest): View | null {
    if (this.native) return null;
    const v = this.views.find((x) => x.ids.includes(request.id));
    return v ? { width: v.width, height: v.height, format: v.format, data: this.slot.data.subarray(v.offset, v.offset + v.bytes) } : null;
  }
  /** A native frame of the same pixels (made once, owned by this object). */
  toAV(): AVFrame {
    if (this.native) return this.native;
    if (!this.whole) throw new Err.FORMAT(`this ${this.width}x${this.height} frame was decoded ${this.views.length ? `only as views (${this.views.map((v) => `${v.width}x${v.height}`).join(', ')})` : 'without its pixels (infer skips it)'}, since no element after its source was known to read full pixels; an element that reads them must be linked downstream of the source (through elements that pass pixels on) when the pipeline starts`);
    const layout = packedPlanes(this.format, this.width, this.height);
    if (!layout) throw new Err.FORMAT(`cannot make a native frame from packed ${this.format}`);
    const av = allocVideoFrame(this.width, this.height, pixFmtFromName(this.format), 0n);
    const d = this.slot.data;
    writePlanes(av, Buffer.from(d.buffer, d.byteOffset, layout.bytes), layout.rows, layout.widths);
    this.native = av;
    // The slot is not needed any more: the decoder can refill it.
    this.slot.unref();
    return av;
  }
  clone(): Pixels {
    if (this.native) {
      const c = this.native.clone();
      if (!c) throw new Err.FORMAT('could not reference frame (out of memory)');
      return new AVPixels(c);
    }
    return new SharedPixels(this.slot.ref(), this.format, this.width, this.height, this.views, this.whole);
  }
  protected free(): void {
    if (this.native) { this.native.free(); this.native = null; }
    else this.slot.unref();
  }
  get bytes(): number { return this.slot.data.byteLength; }
}

/**
 * One view of a frame copied out of its decoding slot (the slot goes back to the decoder): what a
 * consumer that holds frames a while (tile waiting for the other streams) keeps of them.
 */
export class ViewCopy extends OwnedPixels {
  readonly whole = false;
  private req: ViewRequest;
  private copy: View;
  constructor(req: ViewRequest, v: View) {
    super();
    this.req = req;
    this.copy = { width: v.width, height: v.height, format: v.format, data: Uint8Array.from(v.data) };
  }
  view(request: ViewRequest): View | null { return request.id === this.req.id ? this.copy : null; }
  clone(): Pixels { return new ViewCopy(this.req, this.copy); }
  protected free(): void { /* garbage-collected memory */ }
  get bytes(): number { return this.copy.data.byteLength; }
}
