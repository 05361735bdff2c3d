// Drawing primitives on 8-bit planar YUV frames (yuv420p/yuvj420p/yuv444p/gray). Every primitive
// touches only the pixels it draws: fills use Buffer.fill per row, text blends glyph pixels.
import type { Frame as AVFrame } from 'node-av/lib';
import { Err } from '../core/errors.ts';
import { glyphOf, type Font } from './glyphs.ts';

export type Yuv = [number, number, number];

export interface Canvas {
  width: number;
  height: number;
  /** [buffer, stride, x shift, y shift] per plane. */
  planes: [Uint8Array, number, number, number][];
}

/** Plane layouts of the 8-bit formats we draw on: [plane index, x shift, y shift]. */
const LAYOUTS: Record<string, [number, number, number][]> = {
  yuv420p: [[0, 0, 0], [1, 1, 1], [2, 1, 1]],
  yuvj420p: [[0, 0, 0], [1, 1, 1], [2, 1, 1]],
  yuv444p: [[0, 0, 0], [1, 0, 0], [2, 0, 0]],
  gray: [[0, 0, 0]],
};

/**
 * A writable canvas over a frame's own planes. Tee branches share pixel buffers, so the frame is
 * made writable first (FFmpeg copies only if someone else holds a reference).
 */
export function writableCanvas(av: AVFrame, format: string, width: number, height: number, who: string): Canvas {
  const layout = LAYOUTS[format];
  if (!layout) throw new Err.FORMAT(`${who} edits yuv420p, yuv444p or gray frames, not ${format}; put "scale format=yuv420p" before it`);
  if (av.makeWritable() < 0) throw new Err.FORMAT(`${who}: cannot make the frame writable`);
  const data = av.data!, ls = av.linesize;
  return { width, height, planes: layout.map(([pi, sx, sy]) => [data[pi]!, ls[pi]!, sx, sy]) };
}

export function rgbToYuv(r: number, g: number, b: number): Yuv {
  return [
    Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b),
    Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b),
    Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b),
  ];
}

export function fillRect(c: Canvas, x1: number, y1: number, x2: number, y2: number, color: Yuv): void {
  x1 = Math.max(0, Math.floor(x1)); y1 = Math.max(0, Math.floor(y1));
  x2 = Math.min(c.width, Math.ceil(x2)); y2 = Math.min(c.height, Math.ceil(y2));
  if (x2 <= x1 || y2 <= y1) return;
  for (let p = 0; p < c.planes.length; p++) {
    const [buf, stride, sx, sy] = c.planes[p]!;
    const a = x1 >> sx, b = (x2 + (1 << sx) - 1) >> sx, v = color[p]!;
    const ye = (y2 + (1 << sy) - 1) >> sy;
    if (b - a <= 8) {
      // Narrow runs (vertical box edges): plain stores beat a fill() call per row.
      for (let y = y1 >> sy; y < ye; y++) for (let o = y * stride + a, e = y * stride + b; o < e; o++) buf[o] = v;
    } else {
      for (let y = y1 >> sy; y < ye; y++) buf.fill(v, y * stride + a, y * stride + b);
    }
  }
}

export function strokeRect(c: Canvas, x1: number, y1: number, x2: number, y2: number, t: number, color: Yuv): void {
  fillRect(c, x1, y1, x2, y1 + t, color);
  fillRect(c, x1, y2 - t, x2, y2, color);
  fillRect(c, x1, y1, x1 + t, y2, color);
  fillRect(c, x2 - t, y1, x2, y2, color);
}

/** A thick line as a run of small squares (Bresenham-like stepping). */
export function line(c: Canvas, x1: number, y1: number, x2: number, y2: number, t: number, color: Yuv): void {
  const n = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1)) / Math.max(1, t / 2)));
  for (let i = 0; i <= n; i++) {
    const x = x1 + ((x2 - x1) * i) / n, y = y1 + ((y2 - y1) * i) / n;
    fillRect(c, x - t / 2, y - t / 2, x + t / 2, y + t / 2, color);
  }
}

/** Text with its top-left at (x, y): luma blended to white by glyph coverage. */
export function text(c: Canvas, f: Font, s: string, x: number, y: number, luma = 235): void {
  const [ybuf, stride] = c.planes[0]!;
  let pen = Math.round(x);
  const top = Math.round(y);
  for (const ch of s) {
    const g = glyphOf(f, ch);
    for (let gy = 0; gy < g.h; gy++) {
      const py = top + gy;
      if (py < 0 || py >= c.height) continue;
      for (let gx = 0; gx < g.w; gx++) {
        const a = g.alpha[gy * g.w + gx]!;
        const px = pen + gx;
        if (a === 0 || px < 0 || px >= c.width) continue;
        const o = py * stride + px;
        ybuf[o] = (ybuf[o]! * (255 - a) + luma * a) / 255;
      }
    }
    pen += g.advance;
  }
}
