// Segmentation mask overlay in native code: the class map becomes a small YUVA image (one pass
// over the mask, e.g. 257x257), and FFmpeg scales it to the frame and alpha-blends it with the
// overlay filter, so no JS loop touches every frame pixel.
import { FilterComplexAPI } from 'node-av/api';
import type { Frame as AVFrame } from 'node-av/lib';
import { AV_PIX_FMT_YUVA444P } from 'node-av/constants';
import { allocVideoFrame } from '../media/av.ts';
import { pixFmtName } from '../media/av.ts';
import { SluiceError } from '../core/errors.ts';
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
    const img = allocVideoFrame(mask.width, mask.height, AV_PIX_FMT_YUVA444P, frame.pts);
    img.timeBase = frame.timeBase;
    const [Y, U, V, A] = img.data!;
    const ls = img.linesize;
    for (let yy = 0; yy < mask.height; yy++) {
      for (let xx = 0; xx < mask.width; xx++) {
        const c = mask.data[yy * mask.width + xx]!;
        const col = this.colors[c % this.colors.length]!;
        Y![yy * ls[0]! + xx] = col[0];
        U![yy * ls[1]! + xx] = col[1];
        V![yy * ls[2]! + xx] = col[2];
        A![yy * ls[3]! + xx] = c === 0 ? 0 : this.alpha;
      }
    }
    const fmt = pixFmtName(frame.format as never);
    const key = `${frame.width}x${frame.height}:${fmt}:${mask.width}x${mask.height}:${at.x},${at.y},${at.w},${at.h}`;
    if (key !== this.key) {
      this.graph?.close();
      this.graph = FilterComplexAPI.create(
        `[1:v]scale=${at.w}:${at.h}:flags=neighbor[m];[0:v][m]overlay=x=${at.x}:y=${at.y}:format=auto:eof_action=pass[o];[o]format=${fmt}[out]`,
        { inputs: [{ label: '0:v' }, { label: '1:v' }], outputs: [{ label: 'out' }] },
      );
      this.key = key;
    }
    try {
      await this.graph!.process('0:v', frame);
      await this.graph!.process('1:v', img);
      const out = await this.graph!.receive('out');
      if (!out || !('width' in out)) throw new SluiceError('SLUICE_ERR_FORMAT', 'mask overlay produced no frame');
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
