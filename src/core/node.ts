// The graph model: element instances (nodes) with their pads, links and probes. The scheduler
// (pipeline.ts) runs them; this file only says what is connected to what.
import type { Channel } from './channel.ts';
import type { ElementDef, ElementImpl, PadTemplate } from './element.ts';
import { releaseFrame, type Frame } from './frame.ts';
import { ElementStats, LatencyHistogram } from './stats.ts';
import type { SourceViews, ViewRequest } from './views.ts';

export type Item =
  | { pad: string; frame: Frame; eos?: undefined }
  | { pad: string; eos: true; frame?: undefined };

/**
 * What a probe returns (GStreamer's pad probe returns): 'pass' (or nothing; 'ok' is the old
 * spelling) lets the frame on; 'drop' drops and releases it; 'remove' passes it and removes the
 * probe; 'handled' means the probe took the frame (the pipeline neither passes nor releases
 * it); a Frame passes that one instead, and the original is released unless it shares pixels.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a probe that returns nothing passes the frame
export type ProbeResult = 'pass' | 'ok' | 'drop' | 'remove' | 'handled' | Frame | undefined | void;
export type Probe = (frame: Frame, where: { element: string; pad: string }) => ProbeResult;

export class Pad {
  readonly element: ElementNode;
  readonly name: string;
  readonly template: PadTemplate;
  peer: Pad | null = null;
  probes: Probe[] = [];
  /** Set at link time when frames will be converted on the way in ("rgb24 -> yuv420p"). */
  converts: string | null = null;
  /** Frames converted on the way in, so far. */
  converted = 0;
  constructor(element: ElementNode, name: string, template: PadTemplate) {
    this.element = element;
    this.name = name;
    this.template = template;
  }
  get direction() { return this.template.direction; }
  get caps() { return this.template.caps; }
}

export class ElementNode {
  readonly def: ElementDef;
  readonly name: string;
  readonly props: Record<string, unknown>;
  readonly pads: Pad[] = [];
  impl: ElementImpl | null = null;
  stats = new ElementStats();
  endToEnd = new LatencyHistogram();
  /** Age (ms since capture) of the live frames that reached this element. */
  sinceCapture = new LatencyHistogram();
  /** Live frames dropped here to keep within max-latency (too old on arrival, or the oldest in a full queue). */
  droppedLate = 0;
  /** Sources: ms of the current produce() spent waiting for a camera (ElementContext.waited). */
  sourceWaitMs = 0;
  /** Batches (mux ids) whose live frames were dropped at this element's input: their other frames follow. */
  droppedBatches = new Set<number>();
  /** Sources: frames made but dropped (too late, or no room in a full queue) before they were pushed. */
  droppedAtSource = 0;
  /** Sources: frames made so far (its last frame number + 1). */
  framesMade = 0;
  /** The views this element asked its sources for (ElementContext.requestView). */
  viewRequests: ViewRequest[] = [];
  /** Sources: what they were told to make, for the views version it was worked out at. */
  viewPlan: SourceViews | null = null;
  channel: Channel<Item> | null = null;
  streamId = -1;
  pushWaitMs = 0;
  /** Property keys given explicitly (camelCase). */
  explicit: ReadonlySet<string> = new Set();
  /** Frames this element pushed on: downstream's now, whatever this element does next. */
  pushed = new WeakSet<Frame>();
  started = false;
  stopped = false;
  /** Aborted when the pipeline stops or this element's branch is removed (ElementContext.signal). */
  readonly abort = new AbortController();
  /** Its branch is being removed: a source stops producing, as on an EOS request. */
  halted = false;
  /** The branch (Pipeline.addBranch) this element came in with, if any. */
  branch: string | null = null;
  /** The error that ended this element's branch (a dynamic pipeline's branch fails alone). */
  failed: { code: string; message: string } | null = null;
  /** Linked sink pads that have not had EOS yet (the scheduler's; live, so added branches join it). */
  open = new Set<string>();
  constructor(def: ElementDef, name: string, props: Record<string, unknown>) {
    this.def = def;
    this.name = name;
    this.props = props;
    for (const t of def.pads) if (t.presence === 'always') this.pads.push(new Pad(this, t.name, t));
  }
  get sinkPads() { return this.pads.filter((p) => p.direction === 'sink'); }
  get srcPads() { return this.pads.filter((p) => p.direction === 'src'); }
  get isSource() { return !this.def.pads.some((t) => t.direction === 'sink'); }
  pad(name: string) { return this.pads.find((p) => p.name === name); }

  /** A free pad of `dir` compatible with `caps`, creating a request pad when needed. */
  freePad(dir: 'src' | 'sink', wanted?: string): Pad | null {
    if (wanted) {
      const have = this.pad(wanted);
      if (have) return have.peer ? null : have;
      const t = this.def.pads.find((t) => t.direction === dir && t.presence === 'request' && matchTemplate(t.name, wanted));
      if (!t) return null;
      const p = new Pad(this, wanted, t);
      this.pads.push(p);
      return p;
    }
    const free = this.pads.find((p) => p.direction === dir && !p.peer);
    if (free) return free;
    const t = this.def.pads.find((t) => t.direction === dir && t.presence === 'request');
    if (!t) return null;
    let i = 0;
    while (this.pad(t.name.replace('%u', String(i)))) i++;
    const p = new Pad(this, t.name.replace('%u', String(i)), t);
    this.pads.push(p);
    return p;
  }
}

/** Run a pad's probes; the frame to pass on, or null when a probe dropped or took it. */
export function runProbes(pad: Pad, frame: Frame, n: ElementNode): Frame | null {
  // Most pads have no probe: no copy of the (empty) list per frame.
  if (pad.probes.length === 0) return frame;
  // A copy, since a probe may remove itself ('remove') while the list is walked.
  for (const probe of [...pad.probes]) {
    const r = probe(frame, { element: n.name, pad: pad.name });
    if (r === 'drop') { n.stats.dropped++; releaseFrame(frame); return null; }
    if (r === 'handled') return null;
    if (r === 'remove') pad.probes = pad.probes.filter((p) => p !== probe);
    else if (r && typeof r === 'object' && r !== frame) {
      // A replacement: the original's pixels are freed unless the replacement kept them.
      if (frame.pixels && frame.pixels !== r.pixels) releaseFrame(frame);
      frame = r;
    }
  }
  return frame;
}

function matchTemplate(template: string, name: string): boolean {
  const re = new RegExp('^' + template.replace('%u', '\\d+') + '$');
  return re.test(name);
}

export function capsIntersect(a: string[], b: string[]): boolean {
  if (a.includes('ANY') || b.includes('ANY')) return true;
  return a.some((c) => b.includes(c));
}


