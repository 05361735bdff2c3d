// uri threaded=true: the same VideoSource, run in a decoding thread (decode-worker.ts) shared
// by a few streams. The main thread keeps one message and one promise per frame; demuxing,
// decoding, NVDEC downloads and scaling, and their promise chains, run on the other thread.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { SluiceError, Err, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { SharedPixels, SlotRef, type SlotView } from './shared-pixels.ts';
import { StreamInfo, type SourceFrame, type SourceOptions } from './source.ts';
import { siblingModule } from '../core/files.ts';
import type { ViewWant } from './scale.ts';
import type { ViewSpec } from '../core/views.ts';
import { listGpus } from './gpus.ts';

/** What a decoding thread is told. Options are the VideoSource's, less what cannot cross threads. */
export type ToDecoder =
  | { type: 'open'; id: number; opts: Omit<SourceOptions, 'log' | 'signal'>; ctl: SharedArrayBuffer; views: ViewAsk | null }
  | { type: 'close'; id: number }
  /** Also make these views of each frame (ElementContext.views) into its slot. */
  | { type: 'views'; id: number; views: ViewAsk };

/**
 * The pictures a decoding thread makes of each frame besides the frame (ThreadedSource.setViews):
 * each request's view, placed per frame size as its asker places it. `only`: nothing downstream
 * reads the full frame's pixels, so it is not kept (the slot holds the views alone).
 */
export interface ViewAsk { requests: { id: number; spec: ViewSpec }[]; only: boolean }

type Info = Pick<StreamInfo, keyof StreamInfo>;
type FromDecoder =
  | { type: 'opened'; id: number; info: Info }
  | { type: 'frame'; id: number; slot: number; sab?: SharedArrayBuffer; bytes: number; pts: number; at: number; captured?: number; skipped: number; width: number; height: number; format: string; views: SlotView[]; whole: boolean; streamWidth: number; streamHeight: number }
  | { type: 'end'; id: number; decodedThisPass: number; framesLost: number }
  | { type: 'error'; id: number; code: string; message: string }
  | { type: 'log'; id: number; level: 'error' | 'warn' | 'info' | 'debug' | 'trace'; msg: string }
  | { type: 'closed'; id: number };

/**
 * Frames a stream may have out at once (decoded ahead or held downstream), at most. infer holds
 * a few batches in flight, each with a few frames of every stream (a batch of 64 over 16 streams:
 * 4 each, 2 sessions x 2 calls); on an H200 16 x 1080p YOLOX-nano ran 3,254 fps with 16 slots
 * and 3,534 with 32 (batch 32), 3,924 at batch 64 (BENCHMARKS.md). Slots are made as needed, and
 * a stream's slots stay within SLOT_BYTES: 32 of a model-sized picture, 16 full 1080p frames.
 * SLUICE_DECODE_SLOTS (4-64) sets the count.
 */
const POOL = Math.max(4, Math.min(64, Number(process.env.SLUICE_DECODE_SLOTS) || 32));

interface Thread { worker: Worker; streams: number }
const threads: Thread[] = [];
const owners = new Map<number, ThreadedSource>();
/** ThreadedSources made and not closed that decode on the cores (NVDEC ones need no decoder threads). */
let live = 0;
let nextId = 1;

/**
 * How many decoding threads streams are spread over (never more than streams): one per core, 64
 * at most (a thread decodes a local file with blocking calls, so it uses one core); half the
 * cores, 8 at most, with SLUICE_SYNC_DECODE=0 (every step a libuv job). SLUICE_DECODE_THREADS overrides.
 */
function maxThreads(): number {
  const cores = availableParallelism();
  return Number(process.env.SLUICE_DECODE_THREADS) || (process.env.SLUICE_SYNC_DECODE !== '0' ? Math.min(64, cores) : Math.max(1, Math.min(8, Math.floor(cores / 2))));
}

function thread(): Thread {
  let t = threads.find((x) => x.streams === 0) ?? null;
  if (!t && threads.length < maxThreads()) {
    const worker = new Worker(siblingModule(import.meta.url, 'decode-worker'));
    t = { worker, streams: 0 };
    const me = t;
    worker.on('message', (m: FromDecoder) => owners.get(m.id)?.onMessage(m));
    worker.on('error', (e) => { for (const s of owners.values()) if (s.thread === me) s.onMessage({ type: 'error', id: 0, code: 'SLUICE_ERR_DECODE', message: `decoding thread crashed: ${e.message}` }); });
    worker.on('exit', () => { threads.splice(threads.indexOf(me), 1); });
    threads.push(t);
  }
  t ??= threads.reduce((a, b) => (b.streams < a.streams ? b : a));
  // A thread with no stream does not keep the process alive.
  if (t.streams++ === 0) t.worker.ref();
  return t;
}

function leave(t: Thread): void {
  if (--t.streams === 0) t.worker.unref();
}

export class ThreadedSource extends StreamInfo {
  private opts: SourceOptions;
  private id = nextId++;
  thread: Thread | null = null;
  // [0] a counter bumped when a slot comes back, [1..POOL] slot in use, [POOL + 1] the thread waits for a slot.
  private ctl = new SharedArrayBuffer(4 * (POOL + 2));
  private flags = new Int32Array(this.ctl);
  private slots: Uint8Array[] = [];
  private queue: SourceFrame[] = [];
  private waiter: ((v: unknown) => void) | null = null;
  private failure: SluiceError | null = null;
  private ended = false;
  private opened: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private closed: (() => void) | null = null;
  decodedThisPass = 0;
  framesLost = 0;
  /** Packets the decoding thread skipped to catch up with a live stream (SourceOptions.skipLateMs). */
  skippedLate = 0;

  private counted: boolean;
  /** Set before open: NVDEC decodes straight to a size that serves these views (SourceOptions.decodeTo). */
  decodeTo: ViewWant[] | null = null;
  /** Set before open (or by setViews later): the views to make of every frame from the first. */
  views: ViewAsk | null = null;

  constructor(opts: SourceOptions) {
    super();
    this.opts = opts;
    // A stream NVDEC will decode takes no share of the cores: with half the streams there, the
    // others get two decoder threads each on 16 cores instead of one.
    this.counted = opts.hw === 'none' || listGpus().length === 0;
    if (this.counted) live++;
  }

  async open(): Promise<void> {
    this.thread = thread();
    owners.set(this.id, this);
    const { log: _log, signal, ...rest } = this.opts;
    // decodeThreads -1: the cores shared among the threaded streams of this process that decode
    // on them (all of a pipeline's sources exist before any opens): 1 each at 16 streams on 16
    // cores, all of them for one.
    const opts = { ...rest, decodeThreads: (rest.decodeThreads ?? -1) < 0 ? Math.max(1, Math.floor(availableParallelism() / Math.max(1, live))) : rest.decodeThreads, ...(this.decodeTo ? { decodeTo: this.decodeTo } : {}) };
    const done = new Promise<void>((resolve, reject) => { this.opened = { resolve, reject }; });
    const onAbort = () => this.opened?.reject(new Err.MEDIA_OPEN(`opening ${opts.location} was stopped`));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.thread.worker.postMessage({ type: 'open', id: this.id, opts, ctl: this.ctl, views: this.views } satisfies ToDecoder);
    try {
      await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  onMessage(m: FromDecoder): void {
    switch (m.type) {
      case 'opened':
        Object.assign(this, m.info);
        this.opened?.resolve();
        this.opened = null;
        return;
      case 'frame': {
        if (m.sab) this.slots[m.slot] = new Uint8Array(m.sab);
        const flags = this.flags, i = 1 + m.slot;
        // Wake the thread only when it waits for a slot: a notify per frame costs the main thread.
        const giveBack = () => {
          Atomics.store(flags, i, 0);
          Atomics.add(flags, 0, 1);
          if (Atomics.load(flags, POOL + 1) === 1) { Atomics.store(flags, POOL + 1, 0); Atomics.notify(flags, 0); }
        };
        // Decoded before the thread saw the close: nobody will take it.
        if (!this.thread) { giveBack(); return; }
        const slot = new SlotRef(this.slots[m.slot]!.subarray(0, m.bytes), giveBack);
        this.decodedThisPass++;
        this.skippedLate = m.skipped;
        if (!m.whole) this.viewOnly++;
        this.queue.push({ pixels: new SharedPixels(slot, m.format, m.width, m.height, m.views, m.whole), width: m.width, height: m.height, format: m.format, pts: m.pts, at: m.at - performance.timeOrigin, ...(m.captured !== undefined ? { captured: m.captured - performance.timeOrigin } : {}), streamWidth: m.streamWidth, streamHeight: m.streamHeight });
        break;
      }
      case 'end':
        this.ended = true;
        this.decodedThisPass = m.decodedThisPass;
        this.framesLost = m.framesLost;
        break;
      case 'error': {
        const e = new SluiceError((m.code || 'SLUICE_ERR_DECODE') as ErrorCode, m.message);
        if (this.opened) { this.opened.reject(e); this.opened = null; return; }
        this.failure = e;
        break;
      }
      case 'log':
        this.opts.log[m.level](m.msg);
        return;
      case 'closed':
        this.closed?.();
        return;
    }
    const w = this.waiter;
    this.waiter = null;
    w?.(undefined);
  }

  async next(): Promise<never> { throw new Err.DECODE('a threaded source hands out frames through nextFrame()'); }

  /** The next frame (its pixels in a shared slot), or null at the end. */
  async nextFrame(): Promise<SourceFrame | null> {
    for (;;) {
      const f = this.queue.shift();
      if (f) return f;
      if (this.failure) throw this.failure;
      if (this.ended) return null;
      await new Promise((r) => { this.waiter = r; });
    }
  }

  /** Frames that came without their full pixels (the views alone, or nothing on frames infer skips). */
  viewOnly = 0;

  /** Ask the decoding thread for these views of every frame too (packed after it in the slot). */
  setViews(views: ViewAsk): void {
    this.views = views;
    this.thread?.worker.postMessage({ type: 'views', id: this.id, views } satisfies ToDecoder);
  }

  async close(): Promise<void> {
    if (this.counted) { this.counted = false; live--; }
    const t = this.thread;
    if (!t) return;
    this.thread = null;
    for (const f of this.queue.splice(0)) f.pixels.release();
    const closed = new Promise<void>((r) => { this.closed = r; });
    t.worker.postMessage({ type: 'close', id: this.id } satisfies ToDecoder);
    // The thread answers once the decoder is freed; a crashed thread never does.
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
    owners.delete(this.id);
    leave(t);
    this.opened?.reject(new Err.MEDIA_OPEN(`${this.opts.location}: closed while opening`));
    const w = this.waiter;
    this.waiter = null;
    this.ended = true;
    w?.(undefined);
  }
}
