// Pre-processing in native code: FFmpeg scales/letterboxes/converts each frame straight to the
// model's input size and channel layout (planar gbrp for NCHW, packed rgb24/bgr24 for NHWC);
// only the u8 -> float normalisation happens in the worker, on the small model input.
import type { Frame as AVFrame } from 'node-av/lib';
import { Scaler, type Placement } from '../media/scale.ts';
import type { Prep } from './adapters/types.ts';

export class Preprocessor {
  readonly width: number;
  readonly height: number;
  private scaler: Scaler;
  private planar: boolean;
  constructor(width: number, height: number, prep: Prep) {
    this.width = width;
    this.height = height;
    this.planar = prep.layout === 'nchw';
    const hex = prep.pad.toString(16).padStart(2, '0');
    this.scaler = new Scaler({
      width, height,
      format: this.planar ? 'gbrp' : prep.order === 'rgb' ? 'rgb24' : 'bgr24',
      letterbox: prep.letterbox !== 'none',
      placement: prep.letterbox === 'top-left' ? 'top-left' : 'center',
      padColor: `0x${hex}${hex}${hex}`,
      method: 'bilinear',
    });
  }

  /** Bytes one image takes in the tensor staging buffer. */
  get bytes(): number { return this.width * this.height * 3; }

  /** Scale `src` into dst[offset..] tightly packed; returns where the image landed. */
  async into(src: AVFrame, dst: Uint8Array, offset: number): Promise<Placement> {
    const { av, place } = await this.scaler.scale(src);
    try {
      const data = av.data!;
      const ls = av.linesize;
      const w = this.width, h = this.height;
      const rowBytes = this.planar ? w : w * 3;
      const planes = this.planar ? 3 : 1;
      let o = offset;
      for (let p = 0; p < planes; p++) {
        const plane = data[p]!;
        if (ls[p] === rowBytes) { dst.set(plane.subarray(0, rowBytes * h), o); o += rowBytes * h; }
        else for (let y = 0; y < h; y++, o += rowBytes) dst.set(plane.subarray(y * ls[p]!, y * ls[p]! + rowBytes), o);
      }
    } finally {
      av.free();
    }
    return place;
  }

  close(): void { this.scaler.close(); }
}
