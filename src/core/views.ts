// Views: a smaller picture of a frame, made by its source as it decodes, for an element that
// reads pixels at a size of its own (infer the model's input, tile its cell). As GStreamer's
// caps and allocation queries: an element asks at link time (ElementContext.requestView), the
// pipeline routes the request to the sources whose frames reach it unchanged, and each source
// makes every view once per frame, next to (or instead of) the full frame. The frame carries
// its views with its pixels (same owner, released together); `viewOf` (frame.ts) reads one.

export const SCALE_METHODS = ['bilinear', 'bicubic', 'area', 'fast_bilinear', 'neighbor', 'lanczos'] as const;
export type ScaleMethod = typeof SCALE_METHODS[number];

/** Packed formats a view may have: interleaved RGB/BGR (models) or planar 4:2:0 (compositing). */
export const VIEW_FORMATS = ['rgb24', 'bgr24', 'yuv420p'] as const;
export type ViewFormat = typeof VIEW_FORMATS[number];

export interface ViewSpec {
  /** The box the picture is fitted to. */
  width: number;
  height: number;
  format: ViewFormat;
  /**
   * Keep the aspect ratio and fit inside width x height: the view is the image alone (its size
   * is what `placement` says, at most width x height), the caller pads around it.
   */
  letterbox: boolean;
  /** Fill width x height keeping the aspect ratio, cutting the overflow (sources do not make these: the asker scales). */
  crop?: boolean;
  /** Where a letterboxed image sits in the box (decides the placement's offsets, not the view's size). */
  placement: 'center' | 'top-left';
  method: ScaleMethod;
  /** Made on every this-many frames of a stream (infer's interval); absent or 1: every frame. */
  every?: number;
}

/** An element's request, as the pipeline keeps it: the token to read the view with. */
export interface ViewRequest {
  /** Unique in the process: how a frame's pixels find this request's view. */
  readonly id: number;
  readonly spec: Readonly<ViewSpec>;
  /** The element that asked (for reports). */
  readonly by: string;
}

/** Packed planes of one view (read-only: shared by every holder of the frame). */
export interface View {
  readonly width: number;
  readonly height: number;
  readonly format: ViewFormat;
  readonly data: Uint8Array;
}

/** What a source is asked to make (ElementContext.views): refreshed when `version` changes. */
export interface SourceViews {
  /** Bumped whenever a request is made, cancelled or the graph changes: re-read then. */
  readonly version: number;
  readonly requests: readonly ViewRequest[];
  /**
   * Whether any element the frames reach reads the full frame (or reads views without having
   * asked for one yet): false lets the source keep the views alone.
   */
  readonly full: boolean;
}

let nextRequest = 1;
export function newViewRequest(spec: ViewSpec, by: string): ViewRequest {
  return Object.freeze({ id: nextRequest++, spec: Object.freeze({ ...spec }), by });
}

/** One key per distinct picture: requests that want the same pixels share a view (`every` aside). */
export function viewKey(s: Readonly<ViewSpec>): string {
  return `${s.width}x${s.height}:${s.format}:${s.letterbox ? 'lb' : s.crop ? 'crop' : 'fill'}:${s.method}`;
}
