// Segmentation mask overlay in native code: the class map becomes a small YUVA image (one pass
// over the mask, e.g. 257x257), and FFmpeg scales it to the frame and alpha-blends it with the
// overlay filter, so no JS loop touches every frame pixel.
import { FilterComplexAPI } from 'node-av/api';
import type { Frame as AVFrame } from 'node-av/lib';
import { AV_PIX_FMT_YUVA420P } from 'node-av/constants';
import { allocVideoFrame } from '../media/av.ts';
import { pixFmtName } from '../media/av.ts';
import { Err } from '../core/errors.ts';
import type { Yuv } from './planes.ts';

export interface MaskPlacement { x: number; y: number; w: number; h: number }

export class MaskOverlay {
  private graph: FilterComplexAPI | null = null;
  private key = '';
  private colors: Yuv[];
  private alpha: number;
  constructor(colors: Yuv[], alpha: number) { this.colors = colors; this.alpha = Math.round(alpha * 255); }

  /** Blend `mask` (class per pixel, 0 = background) over `frame` at `at`; returns a new frame. */
  async blend(frame: AVFrame, mask: { width: number; height: number; data: Uint8Array }, at: MaskPlacement): Promise<AVFrame> {
    // YUVA 4:2:0 like the frames it is blended over, so FFmpeg converts nothing (measured 3x
    // faster than a 4:4:4 mask converted by the filter graph); chroma takes each 2x2 block's
    // top-left class.
    const img = allocVideoFrame(mask.width, mask.height, AV_PIX_FMT_YUVA420P, frame.pts);
    img.timeBase = frame.timeBase;
    const [Y, U, V, A] = img.data!;
    const ls = img.linesize;
    const md = mask.data, mw = mask.width, colors = this.colors, nc = colors.length, alpha = this.alpha;
    for (let yy = 0; yy < mask.height; yy++) {
      const yRow = yy * ls[0]!, aRow = yy * ls[3]!, cRow = (yy >> 1) * ls[1]!, chromaRow = (yy & 1) === 0;
      for (let xx = 0; xx < mw; xx++) {
        const c = md[yy * mw + xx]!;
        const col = colors[c % nc]!;
        Y![yRow + xx] = col[0];
        A![aRow + xx] = c === 0 ? 0 : alpha;
        if (chromaRow && (xx & 1) === 0) { U![cRow + (xx >> 1)] = col[1]; V![cRow + (xx >> 1)] = col[2]; }
      }
    }
    const fmt = pixFmtName(frame.format as never);
    const key = `${frame.width}x${frame.height}:${fmt}:${mask.width}x${mask.height}:${at.x},${at.y},${at.w},${at.h}`;
    if (key !== this.key) {
      this.graph?.close();
      // 4:2:0 frames (decoders, cameras) blend in place; any other format goes through the
      // overlay's automatic conversion and back.
      const yuv420 = fmt === 'yuv420p' || fmt === 'yuvj420p';
      this.graph = FilterComplexAPI.create(
        yuv420
          ? `[1:v]scale=${at.w}:${at.h}:flags=neighbor[m];[0:v][m]overlay=x=${at.x}:y=${at.y}:format=yuv420:eof_action=pass[out]`
          : `[1:v]scale=${at.w}:${at.h}:flags=neighbor[m];[0:v][m]overlay=x=${at.x}:y=${at.y}:format=auto:eof_action=pass[o];[o]format=${fmt}[out]`,
        { inputs: [{ label: '0:v' }, { label: '1:v' }], outputs: [{ label: 'out' }] },
      );
      this.key = key;
    }
    try {
      await this.graph!.process('0:v', frame);
      await this.graph!.process('1:v', img);
      const out = await this.graph!.receive('out');
      if (!out || !('width' in out)) throw new Err.FORMAT('mask overlay produced no frame');
      return out;
    } finally {
      img.free();
    }
  }

  close(): void {
    this.graph?.close();
    this.graph = null;
  }
}
