// Scale / convert / letterbox with FFmpeg's filter graph (swscale), run off the event loop by
// node-av's async workers. One graph per input geometry, rebuilt only when the input changes.
import { FilterAPI } from 'node-av/api';
import type { Frame as AVFrame } from 'node-av/lib';
import { SWS_AREA, SWS_BICUBIC, SWS_BILINEAR, SWS_FAST_BILINEAR, SWS_LANCZOS, SWS_POINT } from 'node-av/constants';
import { AVPixels, avOf, pixFmtName } from './av.ts';
import type { Frame } from '../core/frame.ts';
import { Err } from '../core/errors.ts';
import type { ScaleMethod, ViewSpec } from '../core/views.ts';

export interface ScaleSpec {
  /** Output size; 0 keeps the input's (or follows the aspect ratio if the other is set). */
  width: number;
  height: number;
  /** Output pixel format name, '' keeps the input's. */
  format: string;
  /** Fit inside width x height keeping aspect ratio, pad the rest. */
  letterbox: boolean;
  /** Fill width x height keeping aspect ratio, cut the overflow equally on both sides. */
  crop?: boolean;
  /** Where the letterboxed image sits. */
  placement: 'center' | 'top-left';
  /** Pad colour as FFmpeg colour (black, 0x727272...). */
  padColor: string;
  method: ScaleMethod;
  /** Filter-graph threads; 0 (default) lets FFmpeg use every core. Callers that run many scalers side by side pass 1. */
  threads?: number;
}

export { SCALE_METHODS, type ScaleMethod } from '../core/views.ts';

/** The swscale flag of a method (the filter graph takes the names; sws_getContext these). */
export function swsFlag(m: ScaleMethod): number {
  return { bilinear: SWS_BILINEAR, bicubic: SWS_BICUBIC, area: SWS_AREA, fast_bilinear: SWS_FAST_BILINEAR, neighbor: SWS_POINT, lanczos: SWS_LANCZOS }[m];
}

/** Where the source image landed in the output: out = in * scale + offset (per axis). */
export interface Placement {
  sx: number; sy: number; dx: number; dy: number;
  /** Output frame size. */
  width: number; height: number;
  /** Size the source image is scaled to inside the output (differs from width/height when letterboxed or cropped). */
  iw: number; ih: number;
}

/** A view's spec (core/views.ts), as the scalers here take it. */
export type ViewWant = ViewSpec;

export function placement(inW: number, inH: number, s: Pick<ScaleSpec, 'width' | 'height' | 'letterbox' | 'crop' | 'placement'>): Placement {
  let w = s.width;
  let h = s.height;
  if (w <= 0 && h <= 0) { w = inW; h = inH; }
  else if (w <= 0) w = even(Math.round((inW * h) / inH));
  else if (h <= 0) h = even(Math.round((inH * w) / inW));
  if (s.crop) {
    const r = Math.max(w / inW, h / inH);
    const iw = even(Math.round(inW * r));
    const ih = even(Math.round(inH * r));
    return { sx: iw / inW, sy: ih / inH, dx: -2 * Math.floor((iw - w) / 4), dy: -2 * Math.floor((ih - h) / 4), width: w, height: h, iw, ih };
  }
  if (!s.letterbox) return { sx: w / inW, sy: h / inH, dx: 0, dy: 0, width: w, height: h, iw: w, ih: h };
  const r = Math.min(w / inW, h / inH);
  const iw = even(Math.round(inW * r));
  const ih = even(Math.round(inH * r));
  const dx = s.placement === 'center' ? 2 * Math.floor((w - iw) / 4) : 0;
  const dy = s.placement === 'center' ? 2 * Math.floor((h - ih) / 4) : 0;
  return { sx: iw / inW, sy: ih / inH, dx, dy, width: w, height: h, iw, ih };
}

/** Nearest even size >= 2 (4:2:0 chroma needs even dimensions). */
export const even = (x: number) => Math.max(2, 2 * Math.round(x / 2));

/** Input geometries a Scaler keeps graphs for: a shared scaler (infer's pool) sees several streams' sizes in turn. */
const GRAPHS = 8;

export class Scaler {
  private spec: ScaleSpec;
  /** One graph per input geometry, most recently used last. */
  private graphs = new Map<string, FilterAPI>();
  constructor(spec: ScaleSpec) { this.spec = spec; }

  /** Scale `src` (not consumed) into a new frame owned by the caller. */
  async scale(src: AVFrame): Promise<{ av: AVFrame; place: Placement }> {
    const place = placement(src.width, src.height, this.spec);
    const key = `${src.width}x${src.height}:${src.format}`;
    let graph = this.graphs.get(key);
    if (graph) this.graphs.delete(key);
    else {
      graph = FilterAPI.create(this.describe(src, place), this.spec.threads ? { graph: { nbThreads: this.spec.threads } } : {});
      if (this.graphs.size >= GRAPHS) {
        const [oldest, g] = this.graphs.entries().next().value!;
        g.close();
        this.graphs.delete(oldest);
      }
    }
    this.graphs.set(key, graph);
    await graph.process(src);
    const out = await graph.receive();
    if (!out || !('width' in out)) {
      throw new Err.FORMAT(`scaling ${src.width}x${src.height} ${pixFmtName(src.format as never)} produced no frame`);
    }
    return { av: out, place };
  }

  private describe(src: AVFrame, p: Placement): string {
    const s = this.spec;
    const parts: string[] = [];
    const flags = s.method;
    if (s.crop) {
      const { iw, ih } = p;
      parts.push(`scale=${iw}:${ih}:flags=${flags}`);
      parts.push(`crop=${p.width}:${p.height}:${-p.dx}:${-p.dy}`);
    } else if (s.letterbox) {
      const { iw, ih } = p;
      parts.push(`scale=${iw}:${ih}:flags=${flags}`);
      parts.push(`pad=${p.width}:${p.height}:${p.dx}:${p.dy}:color=${s.padColor}`);
    } else if (p.width !== src.width || p.height !== src.height) {
      parts.push(`scale=${p.width}:${p.height}:flags=${flags}`);
    }
    parts.push(`format=${s.format || pixFmtName(src.format as never)}`);
    return parts.join(',');
  }

  close(): void {
    for (const g of this.graphs.values()) g.close();
    this.graphs.clear();
  }
}

/**
 * Scale a core frame in place: its pixels are replaced by the scaled ones and its xform
 * composed (source -> old frame -> new frame), so meta boxes stay in source pixels.
 */
export async function scaleFrame(scaler: Scaler, frame: Frame, who: string): Promise<void> {
  const { av, place } = await scaler.scale(avOf(frame.pixels, who));
  frame.pixels!.release();
  frame.pixels = new AVPixels(av);
  const x = frame.xform;
  frame.xform = { sx: x.sx * place.sx, sy: x.sy * place.sy, dx: x.dx * place.sx + place.dx, dy: x.dy * place.sy + place.dy };
  frame.width = av.width;
  frame.height = av.height;
  frame.format = pixFmtName(av.format as never);
}
