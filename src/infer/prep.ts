// Pre-processing in native code: FFmpeg scales/letterboxes/converts each frame straight to the
// model's input size as packed rgb24/bgr24 in the model's channel order, whatever its layout:
// a compiled model takes those bytes as its uint8 input, an uncompiled one gets them as floats
// (transposed for NCHW) in the worker. One conversion for both, so both see the same pixels.
import { SoftwareScaleContext, type Frame as AVFrame } from 'node-av/lib';
import { SWS_BILINEAR } from 'node-av/constants';
import { Scaler, placement, type Placement, type ScaleMethod, type ScaleSpec, type ViewWant } from '../media/scale.ts';
import { pixFmtFromName, pixFmtName } from '../media/av.ts';
import { SluiceError, Err } from '../core/errors.ts';
import type { Prep } from './adapters/types.ts';
import type { PackedCopy } from './protocol.ts';
import { copyBytes, fillBytes } from '../core/bytes.ts';

export class Preprocessor {
  readonly width: number;
  readonly height: number;
  private scaler: Scaler;
  private spec: ScaleSpec;
  private pad: number;
  constructor(width: number, height: number, prep: Prep, method: ScaleMethod = 'bilinear') {
    this.width = width;
    this.height = height;
    this.pad = prep.pad;
    const hex = prep.pad.toString(16).padStart(2, '0');
    this.scaler = new Scaler(this.spec = {
      width, height,
      format: prep.order === 'rgb' ? 'rgb24' : 'bgr24',
      letterbox: prep.letterbox === 'center' || prep.letterbox === 'top-left',
      crop: prep.letterbox === 'crop',
      placement: prep.letterbox === 'top-left' ? 'top-left' : 'center',
      padColor: `0x${hex}${hex}${hex}`,
      method,
      // Frames are scaled side by side by several Preprocessors; one thread each avoids
      // oversubscribing the cores the decoders need.
      threads: 1,
    });
  }

  /** Bytes one image takes in the tensor staging buffer. */
  get bytes(): number { return this.width * this.height * 3; }

  /** The view a source may make for this pre-processor while decoding (infer asks for it: ElementContext.requestView). */
  get want(): ViewWant { return { width: this.width, height: this.height, letterbox: this.spec.letterbox, crop: this.spec.crop, placement: this.spec.placement, method: this.spec.method, format: this.spec.format as 'rgb24' | 'bgr24' }; }

  /**
   * An image that already is what the scaler would make of the frame — packed, in the model's
   * channel order, at the size it would scale to: the frame itself (uri format=bgr24 width=416
   * decodes that way), or a view of a full frame (`of`: the frame's size) a decoding thread made
   * beside it. Its rows go into the batch at dst[offset..] and the rest is padded: left to the
   * inference worker (`copy`, read from the decoding thread's slot) when the rows are full
   * width in shared memory, else copied here. Null when the image does not fit that way.
   */
  takePacked(src: Uint8Array, width: number, height: number, format: string, dst: Uint8Array, offset: number, of?: { width: number; height: number }): { place: Placement; copy: PackedCopy | null } | null {
    if (format !== this.spec.format || this.spec.crop) return null;
    const place = placement(of?.width ?? width, of?.height ?? height, this.spec);
    if (place.iw !== width || place.ih !== height || place.width !== this.width || place.height !== this.height) return null;
    // Boxes map back to the pixels the frame has: the full frame's for a view, else the image's own.
    const where = of ? place : { ...place, sx: 1, sy: 1 };
    const W = this.width, rowBytes = width * 3, out = W * 3;
    const top = offset + place.dy * out;
    if (place.dx === 0 && width === W) {
      if (src.buffer instanceof SharedArrayBuffer) {
        return { place: where, copy: { src: src.buffer, srcOffset: src.byteOffset, bytes: rowBytes * height, dst: top, start: offset, end: offset + out * this.height, pad: this.pad } };
      }
      // Full-width rows: one copy, pad above and below.
      if (place.dy > 0) fillBytes(dst, this.pad, offset, top);
      copyBytes(dst, top, src, 0, rowBytes * height);
      fillBytes(dst, this.pad, top + rowBytes * height, offset + out * this.height);
    } else {
      fillBytes(dst, this.pad, offset, offset + out * this.height);
      for (let y = 0; y < height; y++) copyBytes(dst, top + y * out + place.dx * 3, src, y * rowBytes, (y + 1) * rowBytes);
    }
    return { place: where, copy: null };
  }

  /** Scale `src` into dst[offset..] tightly packed; returns where the image landed. */
  async into(src: AVFrame, dst: Uint8Array, offset: number): Promise<Placement> {
    const { av, place } = await this.scaler.scale(src);
    try {
      const plane = av.data![0]!;
      const ls = av.linesize[0]!;
      const rowBytes = this.width * 3, h = this.height;
      if (ls === rowBytes) copyBytes(dst, offset, plane, 0, rowBytes * h);
      else for (let y = 0, o = offset; y < h; y++, o += rowBytes) copyBytes(dst, o, plane, y * ls, y * ls + rowBytes);
    } finally {
      av.free();
    }
    return place;
  }

  close(): void { this.scaler.close(); }
}

/**
 * Crop a rectangle of a CPU frame and scale it to the model input, straight into the staging
 * buffer, with swscale on plane pointers offset to the crop origin (no full-frame copy, no
 * filter graph per object size). Used by secondary inference on detected objects.
 */
export class Cropper {
  readonly width: number;
  readonly height: number;
  private dstFmt: number;
  private ctx: SoftwareScaleContext | null = null;
  private key = '';
  /** Writes packed pixels in `order`, as Preprocessor does. */
  constructor(width: number, height: number, order: 'rgb' | 'bgr') {
    this.width = width;
    this.height = height;
    this.dstFmt = pixFmtFromName(order === 'rgb' ? 'rgb24' : 'bgr24');
  }
  get bytes(): number { return this.width * this.height * 3; }

  /** Crop [x, y, w, h] (frame pixels; snapped to even) of `src` into dst[offset..]. */
  async into(src: AVFrame, rect: [number, number, number, number], dst: SharedArrayBuffer, offset: number): Promise<void> {
    const fmt = src.format as number;
    const desc = CHROMA[pixFmtName(fmt as never)];
    if (!desc) throw new Err.FORMAT(`secondary inference cannot crop ${pixFmtName(fmt as never)} frames; add scale format=yuv420p before it`);
    let [x, y, w, h] = rect.map((v) => Math.round(v)) as [number, number, number, number];
    x = Math.max(0, x & ~1); y = Math.max(0, y & ~1);
    w = Math.min(src.width - x, Math.max(2, w)) & ~1; h = Math.min(src.height - y, Math.max(2, h)) & ~1;
    const key = `${w}x${h}:${fmt}`;
    if (key !== this.key) {
      this.ctx?.freeContext();
      const c = new SoftwareScaleContext();
      c.getContext(w, h, fmt as never, this.width, this.height, this.dstFmt as never, SWS_BILINEAR);
      const r = c.initContext();
      if (r < 0) throw new Err.FORMAT(`cannot set up scaling ${w}x${h} -> ${this.width}x${this.height} (${r})`);
      this.ctx = c;
      this.key = key;
    }
    const data = src.data!;
    const ls = src.linesize;
    const srcSlice: Buffer[] = [];
    const srcStride: number[] = [];
    desc.forEach(([, sy], p) => {
      const off = (y >> sy) * ls[p]! + colOffset(desc, p, x);
      srcSlice.push(data[p]!.subarray(off));
      srcStride.push(ls[p]!);
    });
    const dstBufs = [Buffer.from(dst, offset, 3 * this.width * this.height)];
    const dstStride = [this.width * 3];
    const r = await this.ctx!.scale(srcSlice, srcStride, 0, h, dstBufs, dstStride);
    if (r < 0) throw new Err.FORMAT(`cropping failed (${r})`);
  }

  close(): void {
    this.ctx?.freeContext();
    this.ctx = null;
  }
}

/** Per plane: [bytes per pixel, vertical chroma shift] for the CPU formats we crop. */
const CHROMA: Record<string, [number, number][]> = {
  yuv420p: [[1, 0], [1, 1], [1, 1]],
  yuvj420p: [[1, 0], [1, 1], [1, 1]],
  nv12: [[1, 0], [2, 1]],
  yuv444p: [[1, 0], [1, 0], [1, 0]],
  rgb24: [[3, 0]],
  bgr24: [[3, 0]],
  gray: [[1, 0]],
};

function colOffset(desc: [number, number][], plane: number, x: number): number {
  const [bpp, sy] = desc[plane]!;
  // Subsampled planes (4:2:0) halve x too; nv12's interleaved UV keeps 2 bytes per chroma pixel.
  const xs = plane > 0 && sy === 1 ? x >> 1 : x;
  return xs * bpp;
}
