// Elements are declared by data: name, summary, pad templates, a zod schema of properties and a
// factory. That one declaration drives the launch parser, YAML validation, `sluice inspect`
// and the per-element log category.
import { z } from 'zod';
import type { Frame } from './frame.ts';
import type { LeakyPolicy } from './channel.ts';
import type { Logger } from './log.ts';
import type { BusMessage } from './bus.ts';
import type { SourceViews, ViewRequest, ViewSpec } from './views.ts';

export type PadDirection = 'src' | 'sink';
/** always: exists on every instance; request: created on demand by links (names like src_%u). */
export type PadPresence = 'always' | 'request';

export interface PadTemplate {
  name: string;
  direction: PadDirection;
  presence: PadPresence;
  /** Media types this pad handles, e.g. ['video/x-raw']; 'ANY' accepts everything. */
  caps: string[];
  /**
   * Raw pixel formats (FFmpeg names) a sink pad accepts or a src pad produces; absent: any.
   * Where a link's formats do not meet, the pipeline converts (as libavfilter inserts scale).
   */
  formats?: string[];
}

export interface ElementContext {
  /** Instance name, e.g. "scale0". */
  readonly name: string;
  readonly log: Logger;
  /** Aborted when the pipeline stops (error or teardown): long waits should honour it. */
  readonly signal: AbortSignal;
  /** For sources: the stream index this source's frames carry. */
  readonly streamId: number;
  /** Linked src pad names, in link order. */
  readonly srcPads: readonly string[];
  /** Linked sink pad names (several for joins such as mux). */
  readonly sinkPads: readonly string[];
  /** How many linked sink pads have not reached end of stream (branches come and go in a dynamic pipeline). */
  readonly openInputs: number;
  /** The label a stream was added with (Pipeline.addBranch), else its number as text. */
  streamLabel(stream: number): string;
  /** Properties given explicitly (launch, YAML or API), as camelCase keys; the rest are defaults. */
  readonly explicit: ReadonlySet<string>;
  /**
   * What elements of this pipeline leave for each other by key (event hubs, keyframe requests, a
   * file's duration). Pixels are negotiated through requestView instead.
   */
  readonly negotiation: Map<string, unknown>;
  /**
   * Ask the sources upstream for a view of every frame (a smaller picture made as they decode:
   * infer's model input, tile's cell), as GStreamer's allocation query: call it in start() or
   * later (sources pick new requests up with their next frames). Sources whose frames reach this
   * element unchanged (only through elements that pass pixels on: ElementDef.passesPixels) make
   * it; read it with `viewOf(frame, request)` and fall back to the full frame when it is null
   * (a source that makes no views, an element in between that edited the pixels).
   */
  requestView(spec: ViewSpec): ViewRequest;
  /** Withdraw a request (the cell size changed): frames already made keep their views. */
  cancelView(request: ViewRequest): void;
  /** Sources: the views the elements downstream asked for, and whether any reads full frames. */
  readonly views: SourceViews;
  /** How many sources the pipeline has now (branches come and go in a dynamic pipeline). */
  readonly sources: number;
  /** Stream ids of the sources upstream of this element (known from start on). */
  readonly upstreamStreams: readonly number[];
  /** Whether any source upstream is live or endless (ElementDef.live): a recording may be cut off. */
  readonly upstreamLive: boolean;
  /** Send a frame downstream. Waits while the downstream queue is full (backpressure). */
  push(frame: Frame, pad?: string): Promise<void>;
  /** Count a frame as dropped by this element and release it. */
  drop(frame: Frame): void;
  /** Post a message on the pipeline bus (warnings, element messages). */
  post(msg: BusMessage): void;
  /** Post a warning from this element on the bus (`code`: a SLUICE_WARN_* a program can match on). */
  warn(message: string, code?: string): void;
  /** True once EOS was requested (Ctrl-C): live sources should stop producing. */
  readonly eosRequested: boolean;
  /**
   * Sources: `ms` of the current produce() were spent waiting for the camera or for a frame's due
   * time, not working: busy time (and the verdict) leave them out, so a camera delivering at its
   * own rate is never called the bottleneck.
   */
  waited(ms: number): void;
  /** Live sources: this stream's latency budget in ms (max-latency; 0: none). */
  readonly latencyBudget: number;
  /** The latency budget in ms of any stream (a join's inputs: each its source's or the pipeline's; 0: none). */
  latencyBudgetOf(stream: number): number;
  /**
   * Live streams: count `n` frames dropped by reason (a source: skipped before decode; a join such
   * as mux: `stream`'s frame it let go, after releasing it), in the per-stream drop ledger.
   */
  countDropped(reason: string, n?: number, stream?: number): void;
}

export interface ElementImpl {
  /** PAUSED: open files and devices. Errors here stop the pipeline before any frame flows. */
  start?(): Promise<void> | void;
  /** Sources only: the next frame, or null at end of stream. */
  produce?(): Promise<Frame | null> | Frame | null;
  /** Filters and sinks: handle one frame from sink pad `pad`. The frame is now owned here. */
  process?(frame: Frame, pad: string): Promise<void> | void;
  /** End of stream on every input: push what is still buffered. */
  flush?(): Promise<void> | void;
  /** Release everything; called once, after EOS or on error. */
  stop?(): Promise<void> | void;
  /** Requested size/policy of this element's input queue (queue element). */
  input?: { capacity: number; policy: LeakyPolicy; maxBytes?: number };
  /**
   * What to try when this element is the bottleneck, knowing how it actually runs (infer on the
   * CPU: "try ep=cuda"; already on CUDA: more workers). Appended to the verdict after "; ".
   */
  hint?(): string;
  /** What the element resolved at start (infer: provider, sessions, batch, compiled or not and why), for reports and metrics. */
  describe?(): Record<string, string | number | boolean>;
  /**
   * A stream upstream was removed from the running pipeline (its last frame has passed here):
   * forget what is kept per stream (tile's last picture, a tracker's tracks).
   */
  streamRemoved?(stream: number): void;
}

export interface ElementDef<S extends z.ZodObject = z.ZodObject> {
  name: string;
  summary: string;
  /** 'source' | 'filter' | 'sink' (derived from pads, kept for listing). */
  kind: 'source' | 'filter' | 'sink';
  pads: PadTemplate[];
  props: S;
  /** Extra documentation for `sluice inspect NAME`. */
  doc?: string;
  /** The pixel formats this instance's src pads produce when its properties decide them (scale format=X). */
  outFormats?(props: z.output<S>): string[] | undefined;
  /** The frame size this instance makes when its properties decide it (scale width=W height=H). */
  outSize?(props: z.output<S>): { width: number; height: number } | undefined;
  /** Whether this instance takes frames of this size: null, or the rule they break (libx264 wants even sizes). */
  sizeRule?(props: z.output<S>, width: number, height: number): string | null;
  /** Sources: whether this instance is live (a camera, a network stream, a paced or endless source). */
  live?(props: z.output<S>): boolean;
  /**
   * Which pixels of a frame this instance reads: 'none' (its size and metadata only), 'view' (the
   * views it asked for with ElementContext.requestView; the full frame only while it has not
   * asked), 'full' (the default: anything else). A source whose frames reach no 'full' element
   * keeps only the views.
   */
  pixels?(props: z.output<S>): 'none' | 'view' | 'full';
  /**
   * Whether the frames it sends on carry the pixels it received, unchanged (queue, tee, infer,
   * track, mux without a size): views requested further down still hold, so requests pass
   * through it to the sources. Default false: the element may draw on or replace them (osd,
   * scale, tile), and what lies beyond it reads its pixels, not the source's.
   */
  passesPixels?(props: z.output<S>): boolean;
  /** Local files this instance reads and writes, checked against each other before start. */
  files?(props: z.output<S>): { reads?: string[]; writes?: string[] };
  create(props: z.output<S>, ctx: ElementContext): ElementImpl;
}

/** The properties of an element that has none. */
export type NoProps = z.ZodObject<{}>;

/** What `defineElement` takes: an element declaration whose `props` may be left out (no properties). */
export type ElementInput<S extends z.ZodObject> = Omit<ElementDef<S>, 'props'> & { props?: S };

export function defineElement<S extends z.ZodObject = NoProps>(def: ElementInput<S>): ElementDef<S> {
  // An element without properties needs no schema: it gets the empty one (launch rejects any property given).
  return def.props ? def as ElementDef<S> : { ...def, props: z.object({}) as unknown as S };
}

/** Common pad sets. */
export const RAW = 'video/x-raw';
export const srcPad = (caps: string[] = [RAW], formats?: string[]): PadTemplate => ({ name: 'src', direction: 'src', presence: 'always', caps, ...(formats ? { formats } : {}) });
export const sinkPad = (caps: string[] = [RAW], formats?: string[]): PadTemplate => ({ name: 'sink', direction: 'sink', presence: 'always', caps, ...(formats ? { formats } : {}) });
/** The 8-bit planar formats the drawing elements (osd, blur) edit in place. */
export const PLANAR_YUV = ['yuv420p', 'yuvj420p', 'yuv444p', 'gray'];
/** Several upstream branches may join here (N-to-1, like funnel). */
export const joinSinkPads = (caps: string[] = [RAW]): PadTemplate => ({ name: 'sink_%u', direction: 'sink', presence: 'request', caps });
