// The pipeline: element instances, pads, the bounded channels between them, and one async task
// per element so stages overlap (decode of frame N+1 runs while frame N is encoded).
import { Bus, type BusMessage, type State } from './bus.ts';
import { Channel, ChannelClosed, type LeakyPolicy } from './channel.ts';
import type { ElementContext, ElementDef } from './element.ts';
import { SluiceError, isSluiceError, Err } from './errors.ts';
import { releaseFrame, type Frame } from './frame.ts';
import { ElementNode, Pad, capsIntersect, runProbes, type Item, type Probe } from './node.ts';
import { parseProps, propKey } from './props.ts';
import { canonicalPath } from './files.ts';
import { verdict, type StatsSnapshot, type Verdict } from './stats.ts';
import { reportOf, round3, type PipelineReport } from './report.ts';
import { getLogger } from './log.ts';
import { channels } from './events.ts';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { DEFAULT_MAX_LATENCY, DropLedger } from './live.ts';
import { newViewRequest, type SourceViews, type ViewRequest } from './views.ts';

export const DEFAULT_QUEUE = 4;

/**
 * Called with every new Pipeline (GStreamer's tracers): observability installs itself here
 * (DOT dumps, SLUICE_TRACE timelines), so the engine imports none of it.
 */
const observers: ((p: Pipeline) => void)[] = [];
/**
 * Converts a frame's pixels to `format` in place (replacing frame.pixels), with whatever state
 * `key` identifies (one converter per pad). Registered by the media layer; the engine has none.
 */
export interface FormatConverter {
  convert(frame: Frame, format: string, key: object): Promise<void>;
  /** The pipeline is done with `key`: free its state. */
  release(key: object): void;
}
let converter: FormatConverter | null = null;
export function setFormatConverter(c: FormatConverter | null): void { converter = c; }

export function addPipelineObserver(fn: (p: Pipeline) => void): () => void {
  observers.push(fn);
  return () => { const i = observers.indexOf(fn); if (i >= 0) observers.splice(i, 1); };
}

export { ElementNode, Pad, type Probe, type ProbeResult } from './node.ts';
export type { PipelineReport } from './report.ts';

export interface PipelineOptions {
  /** Default capacity of the queue in front of each element. */
  queueSize?: number;
  /** Description (launch string) kept in reports. */
  description?: string;
  /** Interval of 'stats' bus messages in ms (0: none). */
  statsIntervalMs?: number;
  /**
   * Branches may be added and removed while playing (addBranch/removeBranch), and joins (mux,
   * tile, meta...) wait for new inputs instead of ending when their last input ends; the
   * pipeline then ends on an EOS request (Ctrl-C, SIGTERM) or an error.
   */
  dynamic?: boolean;
  /**
   * Live frames (those with a capture time: cameras, `uri live=true`, `testsrc live=true`) older
   * than this many ms are dropped on their way rather than processed late, so latency from
   * capture stays bounded when the pipeline cannot keep up. A source's own `max-latency`
   * overrides it for its stream. 0: never drop.
   */
  maxLatency?: number;
}

/** A part of a dynamic pipeline added while it plays: its elements and the streams its sources make. */
export interface Branch {
  readonly name: string;
  readonly nodes: readonly ElementNode[];
  /** Stream ids of its sources. */
  readonly streams: readonly number[];
  /** Settles when every element of the branch has finished (its sources ended or it was removed). */
  readonly done: Promise<void>;
}

export class Pipeline {
  readonly bus = new Bus();
  readonly nodes: ElementNode[] = [];
  private _state: State = 'null';
  private abort = new AbortController();
  private tasks: Promise<void>[] = [];
  private eosRequested = false;
  /** When the sources last gave the event loop a turn (see runNode). */
  private turn = 0;
  private yielding: Promise<void> | null = null;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  private done: Promise<void> | null = null;
  private failure: SluiceError | null = null;
  private t0 = 0;
  private t1 = 0;
  /** The main thread's event loop use from start (and to the end): what every element's per-frame work shares. */
  private elu0: EventLoopUtilization | null = null;
  private elu: EventLoopUtilization | null = null;
  /** Bumped when a view is requested or withdrawn, or the graph changes: sources re-read ElementContext.views. */
  private viewsVersion = 0;
  /** ElementContext.negotiation: one table per pipeline. */
  private readonly negotiation = new Map<string, unknown>();
  private ticker: ReturnType<typeof setInterval> | null = null;
  private errors: { source: string; code: string; message: string }[] = [];
  private teardownHooks: (() => Promise<void> | void)[] = [];
  readonly options: Required<PipelineOptions>;

  constructor(options: PipelineOptions = {}) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { queueSize: DEFAULT_QUEUE, description: '', statsIntervalMs: 1000, dynamic: false, maxLatency: DEFAULT_MAX_LATENCY, ...given };
    for (const o of observers) o(this);
  }

  /** Run `fn` when the pipeline is torn down, before it reports the null state (files to close). */
  onTeardown(fn: () => Promise<void> | void): void {
    this.teardownHooks.push(fn);
  }

  get state(): State { return this._state; }

  /** Frames of live streams dropped for lateness, per stream and reason. */
  readonly drops = new DropLedger();
  /** Latency budget (ms) of each live stream: its source's max-latency or the pipeline's. */
  private budgets = new Map<number, number>();
  /** Streams whose budget was found below what processing one frame takes (warned once). */
  private budgetWarned = new Set<number>();
  /** When a sink last handed off a live frame (-1: none yet). */
  private delivered = -1;

  /** The budget of `stream` in ms (0: none). */
  latencyBudget(stream: number): number {
    let b = this.budgets.get(stream);
    if (b === undefined) {
      const own = Number(this.sourceOf(stream)?.props.maxLatency ?? -1);
      b = own >= 0 ? own : this.options.maxLatency;
      this.budgets.set(stream, b);
    }
    return b;
  }

  /**
   * Whether a live frame entering `n` is already older than its stream's budget: then it is
   * dropped here (counted as 'late'), before any more work is spent on it.
   */
  private tooLate(n: ElementNode, frame: Frame): boolean {
    if (frame.captured === undefined) return false;
    // Encoded packets are never dropped (a lost packet breaks the pictures after it); their age is
    // still measured. An encoder's own delay (x264's lookahead without tune=zerolatency) shows there.
    if (frame.caps !== 'video/x-raw') { n.sinceCapture.add(performance.now() - frame.captured); return false; }
    const budget = this.latencyBudget(frame.stream);
    if (budget <= 0) return false;
    const age = performance.now() - frame.captured;
    n.sinceCapture.add(age);
    if (age <= budget) return false;
    // A budget no frame can meet (one frame's processing alone takes longer) would drop them
    // all: when no live frame reached a sink for a while, one goes through, with a warning.
    // (Per pipeline, not per stream: a join such as tile hands off its streams' frames as one.)
    if (this.delivered < 0) this.delivered = performance.now();
    const last = this.delivered;
    if (performance.now() - last > Math.max(2 * budget, 1000)) {
      if (!this.budgetWarned.has(frame.stream)) {
        this.budgetWarned.add(frame.stream);
        this.bus.post({ type: 'warning', source: n.name, message: `max-latency ${budget} ms is less than live frames take through this pipeline: none reached a sink in time for ${Math.round(performance.now() - last)} ms, so some go through late; raise max-latency (pipeline or source property) or lighten the pipeline` });
      }
      this.delivered = performance.now();
      return false;
    }
    if (n.isSource) n.droppedAtSource++;
    this.countDrop(n, frame, 'late');
    return true;
  }

  private countDrop(n: ElementNode, frame: Frame, reason: string): void {
    this.drops.add(frame.stream, reason, n.name);
    n.stats.dropped++;
    n.droppedLate++;
    releaseFrame(frame);
  }

  /**
   * A live frame pushed into a full queue: a frame that has waited past a quarter of its budget is
   * dropped to make room (counted as 'overflow') — of the stale frames queued there and the new
   * one, that of the stream dropped least so far (then the oldest), so drops are shared and a
   * camera running a little behind the others is not the one always dropped. With nothing stale,
   * the push waits (a hiccup is not a drop). True when `frame` itself was dropped.
   */
  private makeRoom(peer: ElementNode, frame: Frame): boolean {
    if (frame.captured === undefined || frame.caps !== 'video/x-raw') return false;
    // The rest of a batch (mux) whose frames were dropped here goes too: batches stay whole, so
    // what gets through is every stream's frame of one moment (cells of a tile stay in step).
    if (frame.batch && peer.droppedBatches.has(frame.batch.id)) { this.countDrop(peer, frame, 'overflow'); return true; }
    const ch = peer.channel!;
    if (!ch.isFull) return false;
    const now = performance.now();
    const stale = (f: Frame | undefined) => {
      if (f?.captured === undefined || f.caps !== 'video/x-raw') return false;
      const b = this.latencyBudget(f.stream);
      return b > 0 && now - f.captured > b / 4;
    };
    const dropsOf = (st: number) => this.drops.byStreamTotal.get(st) ?? 0;
    const queued = ch.peekAll();
    // A batch whose first frames the element already took is not dropped: its cells would reach
    // a tile alone, beside other streams' older frames (out of step); the push waits instead.
    const whole = new Set<number>();
    for (const it of [...queued, { frame }]) if (it.frame?.batch?.index === 0) whole.add(it.frame.batch.id);
    const eligible = (f: Frame) => !f.batch || whole.has(f.batch.id);
    let victim: Frame | null = stale(frame) && eligible(frame) ? frame : null;
    for (const it of queued) {
      const f = it.frame;
      if (!f || !stale(f) || !eligible(f)) continue;
      // Batched frames: the oldest batch; single frames: the stream dropped least so far, then the oldest.
      const better = f.batch && victim?.batch ? f.captured! < victim.captured! : !victim || dropsOf(f.stream) < dropsOf(victim.stream) || (dropsOf(f.stream) === dropsOf(victim.stream) && f.captured! < victim.captured!);
      if (better) victim = f;
    }
    if (!victim) return false;
    if (victim.batch) {
      const id = victim.batch.id;
      peer.droppedBatches.add(id);
      if (peer.droppedBatches.size > 64) peer.droppedBatches.delete(peer.droppedBatches.values().next().value!);
      for (const it of ch.removeWhere((x) => x.frame?.batch?.id === id)) if (it.frame) this.countDrop(peer, it.frame, 'overflow');
      if (frame.batch?.id === id) { this.countDrop(peer, frame, 'overflow'); return true; }
      return false;
    }
    if (victim === frame) { this.countDrop(peer, frame, 'overflow'); return true; }
    const chosen = victim;
    const old = ch.evictStale((it) => it.frame === chosen);
    if (old?.frame) this.countDrop(peer, old.frame, 'overflow');
    return false;
  }

  private sourceOf(stream: number): ElementNode | undefined {
    return this.nodes.find((x) => x.isSource && x.streamId === stream);
  }

  /** Stream ids are never reused, so a removed stream's late frames cannot be taken for a new one's. */
  private nextStream = 0;
  private labels = new Map<number, string>();
  /** Elements added to a started dynamic pipeline, not yet activated as a branch. */
  private pending: ElementNode[] = [];
  private branchCount = 0;
  private tasksAdded = 0;
  /** The element tasks of each added branch (by its done promise), dropped when it is removed. */
  private branchTasks = new WeakMap<Promise<void>, Promise<void>[]>();

  /** The label a stream was added with, else its number as text. */
  streamLabel(stream: number): string { return this.labels.get(stream) ?? String(stream); }

  /** Add an element; `props` use launch or YAML spelling and are validated by its schema. */
  add(def: ElementDef, props: Record<string, unknown> = {}, name?: string): ElementNode {
    if (this._state !== 'null' && !this.options.dynamic) throw new Err.STATE('elements can only be added in the null state (or to a pipeline made with dynamic: true, through addBranch)');
    const elementName = name ?? this.uniqueName(def.name);
    if (this.nodes.some((n) => n.name === elementName)) {
      throw new Err.DUP_NAME(`two elements are named "${elementName}"; names must be unique`);
    }
    const parsed = parseProps(def, props);
    const node = new ElementNode(def, elementName, parsed);
    node.explicit = new Set(Object.keys(props).map(propKey));
    this.nodes.push(node);
    if (this._state !== 'null') this.pending.push(node);
    return node;
  }

  /**
   * Start the elements added (and linked) since the pipeline started, as one branch: each source
   * gets a new stream id (labelled `label`, e.g. a camera id), elements start sinks first and
   * their tasks join the running pipeline. On any failure the branch is taken out again and
   * nothing else changes.
   */
  async activate(label?: string): Promise<Branch> {
    const nodes = this.pending.splice(0);
    const name = label ?? `branch${this.branchCount}`;
    this.branchCount++;
    try {
      if (!this.options.dynamic || (this._state !== 'playing' && this._state !== 'paused')) throw new Err.STATE(`branches are added to a playing pipeline made with dynamic: true (this one is ${this._state}${this.options.dynamic ? '' : ', not dynamic'})`);
      if (this.eosRequested || this.abort.signal.aborted) throw new Err.STATE('the pipeline is stopping; no branch can be added');
      if (nodes.length === 0) throw new Err.LINK('the branch has no elements');
      this.checkLinks(nodes);
      this.checkFiles();
      const streams: number[] = [];
      for (const n of nodes) {
        n.branch = name;
        if (n.isSource) { n.streamId = this.nextStream++; streams.push(n.streamId); if (label !== undefined) this.labels.set(n.streamId, label); }
      }
      this.viewsVersion++;
      for (const n of nodes) n.impl = n.def.create(n.props as never, this.contextFor(n));
      for (const n of [...nodes].reverse()) {
        await n.impl!.start?.();
        n.started = true;
      }
      for (const n of nodes) if (!n.isSource) n.channel = this.channelFor(n);
      // Pads of running elements that the branch links into (mux's new sink_N) join their open set.
      for (const n of nodes) for (const p of n.srcPads) if (p.peer && !nodes.includes(p.peer.element)) p.peer.element.open.add(p.peer.name);
      const tasks = nodes.map((n) => this.runNode(n));
      this.tasks.push(...tasks);
      this.tasksAdded += tasks.length;
      const done = Promise.all(tasks).then(() => {});
      this.branchTasks.set(done, tasks);
      return { name, nodes, streams, done };
    } catch (e) {
      // The element whose start failed too: it may hold what it acquired before failing (a server port).
      for (const n of nodes) if (n.impl) await this.stopNode(n);
      this.detach(nodes);
      throw e;
    }
  }

  /** Take back elements added since start that were never activated (a branch that failed to build). */
  discardPending(): void {
    this.detach(this.pending.splice(0));
  }

  /**
   * Remove a branch from the playing pipeline: its sources stop (a blocked read or open is
   * aborted), what it already sent drains through as end of stream on its pads, every element
   * of it stops and frees what it holds, and the request pads it used (mux's sink_N) go away.
   */
  async removeBranch(branch: Branch): Promise<void> {
    for (const n of branch.nodes) {
      n.halted = true;
      if (n.isSource) n.abort.abort();
    }
    // A branch fed by a running element (demux.src_N ! queue ! ...): unlinked first, so no frame
    // follows, then told its input ended (nothing upstream will end for it).
    const fed: ElementNode[] = [];
    for (const n of branch.nodes) {
      for (const p of n.sinkPads) {
        const up = p.peer;
        if (!up || branch.nodes.includes(up.element)) continue;
        up.peer = null;
        p.peer = null;
        this.unrequest(up);
        fed.push(n);
        // (A branch that failed has closed its channels already: it is ending anyway.)
        try { await n.channel?.push({ pad: p.name, eos: true }); } catch (e) { if (!(e instanceof ChannelClosed)) throw e; }
      }
    }
    await branch.done;
    // A frame a blocked upstream push put in after the end of stream: nobody will take it now.
    for (const n of fed) for (const it of n.channel?.drain() ?? []) if (it.frame) releaseFrame(it.frame);
    const after = new Set<ElementNode>();
    const walk = (x: ElementNode) => {
      for (const p of x.srcPads) if (p.peer && !after.has(p.peer.element)) { after.add(p.peer.element); walk(p.peer.element); }
    };
    for (const n of branch.nodes) walk(n);
    for (const n of after) {
      if (branch.nodes.includes(n)) continue;
      for (const s of branch.streams) {
        try { n.impl?.streamRemoved?.(s); } catch (e) { this.bus.post({ type: 'warning', source: n.name, message: `forgetting stream ${s} failed: ${(e as Error).message}` }); }
      }
    }
    this.viewsVersion++;
    for (const s of branch.streams) {
      this.labels.delete(s);
      this.negotiation.delete(`ended:${s}`);
      this.budgets.delete(s);
      this.budgetWarned.delete(s);
      // Its drop counts stay in the report (they are part of what the run did); the per-stream
      // fairness tally goes.
      this.drops.byStreamTotal.delete(s);
    }
    // A long-lived service adds and removes streams for ever: nothing of a removed one stays.
    const ended = new Set(this.branchTasks.get(branch.done) ?? []);
    if (ended.size) this.tasks = this.tasks.filter((t) => !ended.has(t));
    this.branchTasks.delete(branch.done);
    this.detach([...branch.nodes]);
  }

  /** Unlink `nodes` from the rest (freeing the request pads they used) and forget them. */
  private detach(nodes: ElementNode[]): void {
    for (const n of nodes) {
      for (const p of n.pads) {
        const peer = p.peer;
        if (!peer || nodes.includes(peer.element)) continue;
        peer.peer = null;
        p.peer = null;
        peer.element.open.delete(peer.name);
        this.unrequest(peer);
      }
      const i = this.nodes.indexOf(n);
      if (i >= 0) this.nodes.splice(i, 1);
    }
  }

  private uniqueName(type: string): string {
    let i = 0;
    while (this.nodes.some((n) => n.name === `${type}${i}`)) i++;
    return `${type}${i}`;
  }

  get(name: string): ElementNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /** Link src → sink, picking (or requesting) compatible pads; checks caps now, not at run time. */
  link(src: ElementNode, sink: ElementNode, srcPadName?: string, sinkPadName?: string): void {
    const sp = src.freePad('src', srcPadName);
    if (!sp) {
      const why = srcPadName ? `it has no free pad "${srcPadName}"` : src.def.pads.some((t) => t.direction === 'src') ? 'its only output is already linked (use tee to branch)' : 'it has no output (it is a sink)';
      throw new Err.LINK(`cannot link ${src.name} to ${sink.name}: ${why}`);
    }
    const kp = sink.freePad('sink', sinkPadName);
    if (!kp) {
      this.unrequest(sp);
      const why = sinkPadName ? `it has no free pad "${sinkPadName}"` : sink.def.pads.some((t) => t.direction === 'sink') ? 'its input is already linked (it takes one input)' : 'it has no input (it is a source)';
      throw new Err.LINK(`cannot link ${src.name} to ${sink.name}: ${why}`);
    }
    if (!capsIntersect(sp.caps, kp.caps)) {
      this.unrequest(sp);
      this.unrequest(kp);
      throw new Err.CAPS(`cannot link ${src.name} to ${sink.name}: ${src.name} outputs ${sp.caps.join(' | ')} but ${sink.name} accepts ${kp.caps.join(' | ')}`);
    }
    // Pixel formats known now (testsrc, scale format=X ... into osd, display) are intersected
    // here: where they do not meet, frames are converted on the way in, or, with no converter
    // available, the link fails now rather than after the pipeline plays.
    const made = src.def.outFormats?.(src.props as never) ?? sp.template.formats;
    const accepted = kp.template.formats;
    if (made && accepted && !made.some((f) => accepted.includes(f))) {
      if (!converter) {
        this.unrequest(sp);
        this.unrequest(kp);
        throw new Err.CAPS(`cannot link ${src.name}.${sp.name} to ${sink.name}.${kp.name}: ${src.name} makes ${made.join(' | ')} frames but ${sink.name} takes ${accepted.join(' | ')}; put "scale format=${accepted[0]}" between them`);
      }
      kp.converts = `${made.join('|')} -> ${accepted[0]}`;
    }
    // A size known now that the sink cannot take fails now, not at the first frame.
    const size = src.def.outSize?.(src.props as never);
    const broken = size ? sink.def.sizeRule?.(sink.props as never, size.width, size.height) : null;
    if (size && broken) {
      this.unrequest(sp);
      this.unrequest(kp);
      throw new Err.FORMAT(`cannot link ${src.name}.${sp.name} to ${sink.name}.${kp.name}: ${src.name} makes ${size.width}x${size.height} frames, but ${broken}`);
    }
    sp.peer = kp;
    kp.peer = sp;
  }

  private unrequest(p: Pad): void {
    if (p.template.presence === 'request' && !p.peer) {
      const i = p.element.pads.indexOf(p);
      if (i >= 0) p.element.pads.splice(i, 1);
    }
  }

  /** Attach a probe to "element.pad"; returns a function that removes it. */
  addProbe(where: string, probe: Probe): () => void {
    const [el, padName] = where.split('.');
    const node = this.get(el ?? '');
    const pad = node?.pad(padName ?? '');
    if (!node || !pad) throw new Err.NO_REF(`no pad "${where}" to probe (use element.pad, e.g. scale0.src)`);
    pad.probes.push(probe);
    return () => { pad.probes = pad.probes.filter((p) => p !== probe); };
  }

  async setState(target: State): Promise<void> {
    const order: State[] = ['null', 'ready', 'paused', 'playing'];
    if (target === 'null') return this.teardown();
    while (this._state !== target) {
      const cur = order.indexOf(this._state);
      const want = order.indexOf(target);
      const next = order[cur + (want > cur ? 1 : -1)]!;
      await this.transition(this._state, next);
    }
  }

  private changed(old: State, current: State): void {
    this._state = current;
    this.bus.post({ type: 'state-changed', source: 'pipeline', old, current });
  }

  private async transition(from: State, to: State): Promise<void> {
    if (from === 'null' && to === 'ready') {
      this.checkLinks(this.nodes);
      this.checkFiles();
      for (const n of this.nodes) if (n.isSource) n.streamId = this.nextStream++;
      for (const n of this.nodes) n.impl = n.def.create(n.props as never, this.contextFor(n));
      this.changed(from, to);
    } else if (from === 'ready' && to === 'paused') {
      // Sinks first, as GStreamer does, so outputs are ready before sources produce.
      for (const n of [...this.nodes].reverse()) {
        try {
          await n.impl!.start?.();
          n.started = true;
        } catch (e) {
          const err = this.wrap(n, e);
          await this.teardown();
          throw err;
        }
      }
      for (const n of this.nodes) if (!n.isSource) n.channel = this.channelFor(n);
      this.gate = new Promise((r) => { this.openGate = r; });
      this.t0 = performance.now();
      this.elu0 = performance.eventLoopUtilization();
      this.tasks = this.nodes.map((n) => this.runNode(n));
      this.tasksAdded += this.tasks.length;
      this.done = this.allTasks().then(() => {
        this.t1 = performance.now();
        this.elu = performance.eventLoopUtilization(this.elu0!);
        if (!this.failure) this.bus.post({ type: 'eos' });
      });
      this.changed(from, to);
    } else if (from === 'paused' && to === 'playing') {
      if (this.openGate) {
        this.openGate();
        this.openGate = null;
        this.gate = null;
      }
      if (this.options.statsIntervalMs > 0 && !this.ticker) {
        this.ticker = setInterval(() => this.bus.post({ type: 'stats', stats: this.snapshot() }), this.options.statsIntervalMs);
        this.ticker.unref();
      }
      this.changed(from, to);
    } else if (from === 'playing' && to === 'paused') {
      this.gate = new Promise((r) => { this.openGate = r; });
      this.changed(from, to);
    } else if (from === 'paused' && to === 'ready') {
      await this.teardown();
    } else {
      throw new Err.STATE(`cannot go from ${from} to ${to}`);
    }
  }

  private channelFor(n: ElementNode): Channel<Item> {
    const input = n.impl!.input ?? { capacity: this.options.queueSize, policy: 'block' as LeakyPolicy };
    return new Channel<Item>({
      capacity: input.capacity,
      policy: input.policy,
      isControl: (it) => it.eos === true,
      onDrop: (it) => { if (it.frame) releaseFrame(it.frame); },
      maxBytes: input.maxBytes,
      bytesOf: (it) => it.frame?.pixels?.bytes ?? 0,
    });
  }

  /** Every element task, including those of branches added while waiting. */
  private async allTasks(): Promise<void> {
    // Counted by tasks ever added: removed branches take theirs out of the list.
    for (let seen = -1; seen !== this.tasksAdded;) {
      seen = this.tasksAdded;
      await Promise.all(this.tasks);
    }
  }

  /**
   * A join (request sink pads) of a dynamic pipeline that was there from the start waits for new
   * inputs until EOS is requested; the elements of an added branch end with their stream.
   */
  private waitsForInputs(n: ElementNode): boolean {
    return this.options.dynamic && n.branch === null && !this.eosRequested && !this.abort.signal.aborted && n.def.pads.some((t) => t.direction === 'sink' && t.presence === 'request');
  }

  /** Refuse an output that is also an input (uri a.mp4 ! file a.mp4 would truncate it) or another output. */
  private checkFiles(): void {
    const readers = new Map<string, string>(), writers = new Map<string, string>();
    const files = this.nodes.map((n) => ({ n, f: n.def.files?.(n.props as never) ?? {} }));
    for (const { n, f } of files) for (const r of f.reads ?? []) readers.set(canonicalPath(r), n.name);
    for (const { n, f } of files) {
      for (const w of f.writes ?? []) {
        const c = canonicalPath(w);
        const other = readers.get(c) ?? writers.get(c);
        if (other) throw new Err.SAME_FILE(`${n.name} would write ${c}, which ${other} ${readers.has(c) ? 'reads' : 'writes too'}; give ${n.name} another location`);
        writers.set(c, n.name);
      }
    }
  }

  private checkLinks(nodes: ElementNode[]): void {
    if (nodes.length === 0 && !this.options.dynamic) throw new Err.LINK('the pipeline has no elements');
    for (const n of nodes) {
      for (const p of n.pads) {
        if (!p.peer && p.template.presence === 'always') {
          const what = p.direction === 'src' ? `its output "${p.name}" goes nowhere; end the chain with a sink such as fakesink` : `its input "${p.name}" has nothing linked to it`;
          throw new Err.NOT_LINKED(`${n.name} (${n.def.name}) is not linked: ${what}`);
        }
      }
      if (!n.isSource && n.sinkPads.length === 0 && !(this.options.dynamic && n.def.pads.some((t) => t.direction === 'sink' && t.presence === 'request'))) {
        throw new Err.NOT_LINKED(`${n.name} (${n.def.name}) has no input linked to it`);
      }
      // A dynamic pipeline's demux may start with no output: branches link its src_N later.
      if (n.def.pads.some((t) => t.direction === 'src') && n.srcPads.filter((p) => p.peer).length === 0
        && !(this.options.dynamic && n.def.pads.some((t) => t.direction === 'src' && t.presence === 'request'))) {
        throw new Err.NOT_LINKED(`${n.name} (${n.def.name}) has no output linked; end the chain with a sink such as fakesink`);
      }
    }
  }

  private contextFor(n: ElementNode): ElementContext {
    const self = this;
    return {
      name: n.name,
      log: getLogger(n.def.name === n.name ? n.name : `${n.def.name}`),
      signal: n.abort.signal,
      get streamId() { return n.streamId; },
      get srcPads() { return n.srcPads.filter((p) => p.peer).map((p) => p.name); },
      get sinkPads() { return n.sinkPads.filter((p) => p.peer).map((p) => p.name); },
      get openInputs() { return n.open.size; },
      streamLabel: (stream) => self.streamLabel(stream),
      negotiation: self.negotiation,
      get upstreamStreams() { return self.upstreamStreams(n); },
      get sources() { return self.nodes.filter((x) => x.isSource).length; },
      get upstreamLive() { return self.upstreamSources(n).some((s) => s.def.live?.(s.props as never) ?? false); },
      explicit: n.explicit,
      push: (frame, pad) => self.pushFrom(n, frame, pad),
      drop: (frame) => { n.stats.dropped++; releaseFrame(frame); },
      post: (msg: BusMessage) => self.bus.post(msg),
      warn: (message, code) => self.bus.post({ type: 'warning', source: n.name, message, ...(code ? { code } : {}) }),
      get eosRequested() { return self.eosRequested || n.halted; },
      get latencyBudget() { return self.latencyBudget(n.streamId); },
      requestView: (spec) => { const r = newViewRequest(spec, n.name); n.viewRequests.push(r); self.viewsVersion++; return r; },
      cancelView: (r) => { const i = n.viewRequests.indexOf(r); if (i >= 0) { n.viewRequests.splice(i, 1); self.viewsVersion++; } },
      get views() { return self.viewsFor(n); },
      latencyBudgetOf: (stream) => self.latencyBudget(stream),
      waited: (ms) => { n.sourceWaitMs += ms; },
      countDropped: (reason, k = 1, stream = n.streamId) => { self.drops.add(stream, reason, n.name, k); n.stats.dropped += k; n.droppedLate += k; },
    };
  }

  /** A frame in a format the pad does not take: convert it to the pad's first format. */
  private async convertIn(n: ElementNode, pad: Pad, frame: Frame, want: string[]): Promise<void> {
    if (!converter) throw new Err.FORMAT(`${n.name} takes ${want.join(' | ')} frames, not ${frame.format}; put "scale format=${want[0]}" before it`);
    if (pad.converted++ === 0) this.bus.post({ type: 'warning', source: n.name, message: `converting ${frame.format} frames to ${want[0]} for ${n.name}.${pad.name} (it takes ${want.join(' | ')}); put "scale format=${want[0]}" before it to do this explicitly` });
    await converter.convert(frame, want[0]!, pad);
  }

  /**
   * What source `src` is asked to make (ElementContext.views): the requests of the elements its
   * frames reach unchanged (walking down through elements that pass pixels on), and whether any
   * of those reads the full frame. A 'view' reader that has not asked yet counts as full (it
   * will scale the full frame), as does every element of a dynamic pipeline (a branch added
   * later could read full frames). Worked out once per views version.
   */
  private viewsFor(src: ElementNode): SourceViews {
    const version = this.viewsVersion;
    if (src.viewPlan?.version === version) return src.viewPlan;
    const requests: ViewRequest[] = [];
    let full = !!this.options.dynamic;
    const seen = new Set<ElementNode>([src]);
    const walk = (x: ElementNode) => {
      for (const p of x.srcPads) {
        const y = p.peer?.element;
        if (!y || seen.has(y)) continue;
        seen.add(y);
        const reads = y.def.pixels?.(y.props as never) ?? 'full';
        if (reads === 'full' || (reads === 'view' && y.viewRequests.length === 0)) full = true;
        requests.push(...y.viewRequests);
        if (y.def.passesPixels?.(y.props as never) ?? false) walk(y);
      }
    };
    if (src.isSource) walk(src);
    src.viewPlan = { version, requests, full };
    return src.viewPlan;
  }

  /** The source elements that reach `n` through its inputs. */
  private upstreamSources(n: ElementNode): ElementNode[] {
    const seen = new Set<ElementNode>(), found: ElementNode[] = [];
    const walk = (x: ElementNode) => {
      if (seen.has(x)) return;
      seen.add(x);
      if (x.isSource) found.push(x);
      for (const p of x.sinkPads) if (p.peer) walk(p.peer.element);
    };
    for (const p of n.sinkPads) if (p.peer) walk(p.peer.element);
    return found;
  }

  /** Stream ids of the sources that reach `n` through its inputs. */
  private upstreamStreams(n: ElementNode): number[] {
    return [...new Set(this.upstreamSources(n).map((s) => s.streamId))].sort((a, b) => a - b);
  }

  private async pushFrom(n: ElementNode, frame: Frame, padName?: string): Promise<void> {
    let pad: Pad | undefined;
    if (padName !== undefined) pad = n.pad(padName);
    else {
      for (const p of n.pads) {
        if (p.direction === 'src' && p.peer) {
          if (pad) throw new Err.LINK(`${n.name} has several outputs; it must name the pad it pushes to`);
          pad = p;
        }
      }
    }
    if (!pad?.peer) {
      releaseFrame(frame);
      if (padName !== undefined && !pad) throw new Err.LINK(`${n.name} has no pad "${padName}"`);
      return;
    }
    n.pushed.add(frame);
    const passed = runProbes(pad, frame, n);
    if (!passed) return;
    frame = passed;
    const peer = pad.peer;
    const ch = peer.element.channel!;
    if (this.makeRoom(peer.element, frame)) { if (n.isSource) n.droppedAtSource++; return; }
    const t = performance.now();
    try {
      await ch.push({ pad: peer.name, frame });
    } catch (e) {
      releaseFrame(frame);
      throw e;
    }
    n.pushWaitMs += performance.now() - t;
    n.stats.framesOut++;
    if (channels.frame.hasSubscribers) channels.frame.publish({ element: n.name, pad: pad.name, stream: frame.stream, frame: frame.frame, t: performance.now() });
  }

  private async sendEos(n: ElementNode): Promise<void> {
    for (const p of n.srcPads) {
      if (p.peer) await p.peer.element.channel!.push({ pad: p.peer.name, eos: true });
    }
  }

  private async runNode(n: ElementNode): Promise<void> {
    const impl = n.impl!;
    try {
      if (n.isSource) {
        for (;;) {
          // A graph of synchronous elements (testsrc ! fakesink) runs entirely on promise
          // continuations and would never let the event loop run: no Ctrl-C, no timers, no
          // sockets. Every ~10 ms the sources yield, all on one shared promise: they resume
          // together, round-robin, so none runs ahead of the others (e.g. into a tile).
          if (performance.now() - this.turn > 10) {
            this.yielding ??= new Promise<void>((r) => setImmediate(() => { this.yielding = null; this.turn = performance.now(); r(); }));
            await this.yielding;
          }
          if (this.gate) await this.gate;
          if (this.eosRequested || this.abort.signal.aborted || n.halted) break;
          n.pushWaitMs = 0;
          n.sourceWaitMs = 0;
          const t = performance.now();
          const f = await impl.produce!();
          if (!f) break;
          if (this.labels.has(f.stream)) f.label = this.labels.get(f.stream);
          n.stats.lastPts = f.pts;
          const end = performance.now();
          const work = Math.max(0, end - t - n.sourceWaitMs);
          n.stats.busyMs += work;
          n.stats.latency.add(work);
          n.framesMade = f.frame + 1;
          // A live frame that is already too old for what follows goes no further (after decode;
          // uri also skips to a keyframe before decoding when far behind).
          if (this.tooLate(n, f)) continue;
          if (channels.work.hasSubscribers) channels.work.publish({ element: n.name, type: n.def.name, stream: f.stream, frame: f.frame, start: t, end, wait: 0, queued: 0 });
          await this.pushFrom(n, f);
        }
      } else {
        const ch = n.channel!;
        const open = n.open;
        for (const p of n.sinkPads) if (p.peer) open.add(p.name);
        while (open.size > 0 || this.waitsForInputs(n)) {
          const item = await ch.pop();
          // (pad '' is the wake-up sendEosRequest gives a dynamic join that waits for inputs.)
          if (item.eos) { open.delete(item.pad); continue; }
          n.stats.framesIn++;
          const sinkPad = n.pad(item.pad);
          const frame = sinkPad ? runProbes(sinkPad, item.frame, n) : item.frame;
          if (!frame) continue;
          const want = sinkPad?.template.formats;
          if (want && frame.pixels && frame.caps === 'video/x-raw' && !want.includes(frame.format)) await this.convertIn(n, sinkPad!, frame, want);
          if (this.tooLate(n, frame)) continue;
          const sink = n.def.kind === 'sink';
          // Capture (or, for files, the source's output) to the sink's hand-off.
          const from = frame.captured ?? frame.born;
          n.pushWaitMs = 0;
          const t = performance.now();
          const { stream, frame: index } = frame;
          try {
            await impl.process!(frame, item.pad);
          } catch (e) {
            // The frame is the element's once handed to process(); if it failed before pushing
            // it on, nobody else will release it. (release() is idempotent, so an element that
            // also drops it in stop() is fine.)
            if (!n.pushed.has(frame)) releaseFrame(frame);
            throw e;
          }
          const end = performance.now();
          const dt = end - t - n.pushWaitMs;
          n.stats.busyMs += dt;
          n.stats.latency.add(dt);
          if (sink) {
            n.endToEnd.add(end - from);
            if (frame.captured !== undefined) this.delivered = end;
          }
          if (channels.work.hasSubscribers) channels.work.publish({ element: n.name, type: n.def.name, stream, frame: index, start: t, end, wait: n.pushWaitMs, queued: ch.length });
        }
      }
      // How many frames a finished source made: a join (tile) knows when it has them all.
      if (n.isSource) this.negotiation.set(`ended:${n.streamId}`, n.framesMade);
      n.pushWaitMs = 0;
      const t = performance.now();
      await impl.flush?.();
      n.stats.busyMs += performance.now() - t - n.pushWaitMs;
      await this.sendEos(n);
      await this.stopNode(n);
    } catch (e) {
      if (e instanceof ChannelClosed && (this.abort.signal.aborted)) return;
      if (this.options.dynamic && n.branch !== null) return this.failBranch(n, e);
      this.fail(n, e);
    }
  }

  /**
   * An element of an added branch failed: that branch alone ends (a broken camera must not stop
   * the others). Its sources stop, what it holds is released, and end of stream goes on from the
   * failed element so the join's pad closes.
   */
  private async failBranch(n: ElementNode, e: unknown): Promise<void> {
    const peers = this.nodes.filter((x) => x.branch === n.branch);
    const first = !peers.some((x) => x.failed);
    const err = this.wrap(n, e);
    n.failed = { code: err.code, message: err.message };
    for (const x of peers) {
      x.halted = true;
      if (x.isSource) x.abort.abort();
    }
    // An upstream element of the branch pushing into a failed one sees ChannelClosed: not news.
    if (first && !(e instanceof ChannelClosed)) {
      this.errors.push({ source: n.name, code: err.code, message: err.message });
      this.bus.post({ type: 'warning', source: n.name, message: `branch ${n.branch} stopped: ${err.format()}` });
      this.bus.post({ type: 'element', source: n.name, name: 'branch-failed', data: { branch: n.branch, code: err.code, message: err.message } });
    }
    for (const it of n.channel?.close() ?? []) if (it.frame) releaseFrame(it.frame);
    try { await this.sendEos(n); } catch { /* downstream gone too */ }
    await this.stopNode(n);
  }

  private async stopNode(n: ElementNode): Promise<void> {
    if (n.stopped) return;
    n.stopped = true;
    try {
      await n.impl?.stop?.();
    } catch (e) {
      this.bus.post({ type: 'warning', source: n.name, message: `stop failed: ${(e as Error).message}` });
    }
  }

  private wrap(n: ElementNode, e: unknown): SluiceError {
    if (isSluiceError(e)) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new Err.ELEMENT(`${n.name} (${n.def.name}) failed: ${msg}`, { cause: e });
  }

  private fail(n: ElementNode, e: unknown): void {
    if (this.failure) return;
    const err = this.wrap(n, e);
    this.failure = err;
    this.errors.push({ source: n.name, code: err.code, message: err.message });
    this.bus.post({ type: 'error', source: n.name, error: err });
    this.abortAll();
  }

  private abortAll(): void {
    this.abort.abort();
    for (const n of this.nodes) n.abort.abort();
    if (this.openGate) { this.openGate(); this.openGate = null; this.gate = null; }
    for (const n of this.nodes) {
      for (const it of n.channel?.close() ?? []) if (it.frame) releaseFrame(it.frame);
    }
  }

  /** Ctrl-C: sources stop, everything queued drains, sinks finalise their files. */
  sendEosRequest(): void {
    this.eosRequested = true;
    if (this.openGate) { this.openGate(); this.openGate = null; this.gate = null; }
    // Joins of a dynamic pipeline with no open input sit in pop(): wake them to see the request.
    if (this.options.dynamic) for (const n of this.nodes) if (n.channel && n.open.size === 0) void n.channel.push({ pad: '', eos: true }).catch(() => {});
  }

  /** Drop every queued frame now (as a flushing seek does), counting them as dropped. */
  flushQueues(): number {
    let count = 0;
    for (const node of this.nodes) {
      for (const it of node.channel?.drain() ?? []) {
        if (it.frame) { releaseFrame(it.frame); node.stats.dropped++; count++; }
      }
    }
    return count;
  }

  /** Play until EOS (resolves with the report) or the first error (rejects with it). */
  async run(): Promise<PipelineReport> {
    await this.setState('playing');
    await this.done;
    const report = this.report();
    const failure = this.failure;
    await this.teardown();
    if (failure) throw failure;
    return report;
  }

  /** Completion of the running pipeline (EOS or error), without tearing it down. */
  async wait(): Promise<void> {
    await this.done;
  }

  private async teardown(): Promise<void> {
    if (this.ticker) { clearInterval(this.ticker); this.ticker = null; }
    if (this._state === 'null') return;
    if (this.done && !this.t1) {
      this.abortAll();
      await this.done.catch(() => {});
    }
    for (const n of this.nodes) if (n.impl) await this.stopNode(n);
    const old = this._state;
    this._state = 'null';
    for (const n of this.nodes) for (const p of n.pads) if (p.converted) converter?.release(p);
    for (const h of this.teardownHooks.splice(0)) {
      try { await h(); } catch (e) { this.bus.post({ type: 'warning', source: 'pipeline', message: `teardown hook failed: ${(e as Error).message}` }); }
    }
    this.bus.post({ type: 'state-changed', source: 'pipeline', old, current: 'null' });
  }

  snapshot(): StatsSnapshot {
    const wall = ((this.t1 || performance.now()) - this.t0) / 1000;
    const elements: StatsSnapshot['elements'] = {};
    for (const n of this.nodes) elements[n.name] = reportOf(n, wall);
    const elu = this.elu ?? (this.elu0 ? performance.eventLoopUtilization(this.elu0) : null);
    return { wallSeconds: wall, elements, ...(elu ? { loopBusy: round3(elu.utilization) } : {}) };
  }

  /** The verdict says when live frames were dropped to keep within max-latency, and where. */
  private withDrops(v: Verdict | null): Verdict | null {
    if (!v || this.drops.total === 0) return v;
    const where = [...this.drops.byElement].sort((a, b) => b[1] - a[1]).map(([e, k]) => `${k} at ${e}`).join(', ');
    return { ...v, text: `${v.text}; ${this.drops.total} live frames dropped to keep latency within max-latency (${where}): the pipeline is slower than its cameras` };
  }

  report(): PipelineReport {
    const snap = this.snapshot();
    let frames = 0;
    // Frames the sources made, those dropped for lateness right after decode included.
    for (const n of this.nodes) if (n.isSource) frames += n.stats.framesOut + n.droppedAtSource;
    return {
      version: 1,
      pipeline: this.options.description || undefined,
      frames,
      wallSeconds: round3(snap.wallSeconds),
      fps: snap.wallSeconds > 0 ? round3(frames / snap.wallSeconds) : 0,
      elements: snap.elements,
      ...(snap.loopBusy !== undefined ? { mainThread: { busy: snap.loopBusy } } : {}),
      bottleneck: this.withDrops(verdict(snap, this.nodes.map((n) => n.name), (name) => {
        const n = this.nodes.find((x) => x.name === name);
        return n?.impl?.hint?.() ?? '';
      })),
      ...(this.drops.total > 0 || this.nodes.some((n) => n.sinceCapture.count > 0)
        ? { live: { maxLatencyMs: this.options.maxLatency, dropped: this.drops.toJSON(), droppedBy: Object.fromEntries(this.drops.byElement) } }
        : {}),
      errors: this.errors,
    };
  }
}
