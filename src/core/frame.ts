// The unit that flows between elements. The core knows nothing about codecs: pixel storage is
// an opaque `Pixels` owner supplied by src/media (a native FFmpeg frame, an encoded packet...).
import type { View, ViewRequest } from './views.ts';

/** Box in source-frame pixels: [x1, y1, x2, y2]. */
export type Box = [number, number, number, number];

export interface ObjectMeta {
  class: number;
  label?: string;
  score: number;
  box: Box;
  track?: number;
  attributes: Record<string, unknown>;
}

/** Ground truth attached by `testsrc`: what really is in the frame. */
export interface TruthObject {
  id: number;
  class: number;
  box: Box;
  /** Fraction of the object's area not hidden by objects drawn over it (0..1). */
  visible: number;
}

export interface EventMeta {
  type: string;
  [key: string]: unknown;
}

export interface FrameMeta {
  objects: ObjectMeta[];
  truth?: TruthObject[];
  events: EventMeta[];
  classifications?: { class: number; label?: string; score: number }[];
  /** Class map covering the whole frame (segmentation), at the model's resolution. */
  mask?: { width: number; height: number; data: Uint8Array; labels?: readonly string[] };
  /** Frame-level embedding (L2-normalised). */
  embedding?: Float32Array;
  /** false when a detector skipped this frame (infer interval): trackers predict instead. */
  inferred?: boolean;
  /** Free-form data from probes and custom elements. */
  user: Record<string, unknown>;
}

/** Owner of pixel (or packet) memory. Exactly one owner; `release()` frees it deterministically. */
export interface Pixels {
  /** A new owner of the same data (reference-counted where the backend allows). */
  clone(): Pixels;
  /** Free the memory; a second call does nothing. */
  release(): void;
  /** Bytes held, for memory accounting. */
  readonly bytes: number;
  /** `using px = frame.pixels` releases at the end of the scope. */
  [Symbol.dispose](): void;
  /**
   * The view its source made of this frame for a request (ElementContext.requestView; read it
   * with core/views.ts `viewOf`): null when none was made, or once the pixels were edited.
   */
  view?(request: ViewRequest): View | null;
  /** false when the source kept the views alone (nothing downstream reads the full frame). */
  readonly whole?: boolean;
}

// In debug runs (SLUICE_DEBUG set), an owner collected by V8 without release() is reported: its
// native memory was held until then, which is the leak to fix.
const leakWatch = process.env.SLUICE_DEBUG
  ? new FinalizationRegistry<string>((kind) => process.emitWarning(`${kind} was garbage-collected without release(): its native memory leaked until then (an element neither pushed, dropped nor released a frame)`, { code: 'SLUICE_LEAK' }))
  : null;

/**
 * The one base of every Pixels kind: release() is idempotent (a second call does nothing), live
 * owners are counted (tests assert they return to zero), and `using` releases at scope end.
 */
export abstract class OwnedPixels implements Pixels {
  /** Owners created and not yet released, of every kind. */
  static live = 0;
  static peak = 0;
  private done = false;
  constructor() {
    if (++OwnedPixels.live > OwnedPixels.peak) OwnedPixels.peak = OwnedPixels.live;
    leakWatch?.register(this, this.constructor.name, this);
  }
  get released(): boolean { return this.done; }
  release(): void {
    if (this.done) return;
    this.done = true;
    OwnedPixels.live--;
    leakWatch?.unregister(this);
    this.free();
  }
  [Symbol.dispose](): void { this.release(); }
  /** Free the native memory; called once. */
  protected abstract free(): void;
  abstract clone(): Pixels;
  abstract get bytes(): number;
}

export interface Xform { sx: number; sy: number; dx: number; dy: number }
export const IDENTITY: Readonly<Xform> = Object.freeze({ sx: 1, sy: 1, dx: 0, dy: 0 });

export interface Frame {
  /** Source stream index (assigned per source element in pipeline order). */
  stream: number;
  /** Frame number within its stream, from 0. */
  frame: number;
  /** Presentation time in seconds. */
  pts: number;
  /** Nominal frame rate of the stream, when known. */
  rate?: number;
  width: number;
  height: number;
  /** Pixel format name (FFmpeg naming: yuv420p, rgb24, nv12...) or codec name for encoded data. */
  format: string;
  /** Media type, as caps: 'video/x-raw', 'video/x-h264', 'image/jpeg'. */
  caps: string;
  pixels: Pixels | null;
  /** Size of the source frame; meta boxes are always in these pixels. */
  source: { width: number; height: number };
  /** Maps source pixels to this frame's: x' = x*sx + dx, y' = y*sy + dy (scale updates it). */
  xform: Xform;
  meta: FrameMeta;
  /** Set by `mux`: this frame is number `index` of `size` in batch `id` (one inference call). */
  batch?: { id: number; index: number; size: number };
  /** performance.now() when the source made it: end-to-end latency. */
  born: number;
  /**
   * performance.now() at capture, set by live sources only (a camera, `uri live=true`,
   * `testsrc live=true`): latency is measured from here and bounded by the pipeline's
   * max-latency (older frames are dropped). Frames without it are never dropped for lateness.
   */
  captured?: number;
  /**
   * The label its stream was added with (sluice serve's stream id), set as it leaves its source:
   * it travels with the frame, so the frames still on their way after the stream is removed keep it.
   */
  label?: string;
}

export function emptyMeta(): FrameMeta {
  return { objects: [], events: [], user: {} };
}

/** A second, independent frame sharing pixel data by reference (for tee). */
export function cloneFrame(f: Frame): Frame {
  return {
    ...f,
    pixels: f.pixels ? f.pixels.clone() : null,
    source: { ...f.source },
    xform: { ...f.xform },
    batch: f.batch ? { ...f.batch } : undefined,
    meta: structuredClone(f.meta),
  };
}

export function releaseFrame(f: Frame): void {
  if (f.pixels) {
    f.pixels.release();
    f.pixels = null;
  }
}

/** Fields every new raw frame needs, for sources. */
export function newFrame(init: Omit<Frame, 'meta' | 'born' | 'source' | 'xform' | 'caps'> & Partial<Pick<Frame, 'meta' | 'caps'>>): Frame {
  return {
    caps: 'video/x-raw',
    meta: emptyMeta(),
    ...init,
    source: { width: init.width, height: init.height },
    xform: { ...IDENTITY },
    born: performance.now(),
  };
}

/** The view a source made of this frame for `request`, or null (none made, or the pixels were edited since). */
export function viewOf(frame: Frame, request: ViewRequest | null | undefined): View | null {
  return request ? frame.pixels?.view?.(request) ?? null : null;
}

/** Whether the frame holds its full pixels (false: its source kept only views). */
export function hasFullPixels(frame: Frame): boolean {
  return !!frame.pixels && frame.pixels.whole !== false;
}
