// The batcher behind infer: owned items (frames) in, the same items out in their order, each
// with its session's result applied. Items are staged into shared-memory slots (one slot is one
// call's input), a slot goes to a session when it holds `batch` items or when a session would
// otherwise idle, several calls are in flight at once, and an ordered emitter sends items on
// only once their call (and every earlier one) has finished, however the calls complete.
// Backpressure: add() waits while every slot is in flight. No I/O of its own: the session,
// the result handling and the downstream push are given, so it is tested with a fake session.
import { Channel } from '../core/channel.ts';
import type { PackedCopy } from './protocol.ts';

/** Shared memory for one call's input. */
export interface Slot { sab: SharedArrayBuffer; u8: Uint8Array }

/** What staging one item into a slot gave: where it sits in the model's picture (when ready), and a copy the worker makes. */
export interface Staged<P> { place: Promise<P>; copy?: PackedCopy | null }

export interface BatcherOptions<T, P, R> {
  /** Items per call. */
  batch: number;
  /** Staging slots (the calls that can be in flight or filling). */
  slots: number;
  /** Bytes of one slot. */
  slotBytes: number;
  /** Entries that may wait for the emitter before a hand-off waits. */
  queue: number;
  /** Sessions: a partial batch goes out when fewer calls than this are in flight. */
  sessions: () => number;
  /** The session: run `n` staged items of `slot`; one result per item. */
  run: (slot: Slot, n: number, copies: PackedCopy[] | undefined) => Promise<R[]>;
  /** Apply one item's result (e.g. its boxes into its meta). */
  finish: (item: T, result: R, place: P) => void;
  /** Send an item on (downstream). */
  push: (item: T) => Promise<void>;
  /** Release an item that will not be sent on (the run failed). */
  drop: (item: T) => void;
}

/** Items waiting to go on in order, and the work that must finish first. */
interface Entry<T> { items: T[]; done: Promise<unknown> | null }

interface Gather<T, P> { items: T[]; places: Promise<P>[]; slot: Slot; copies: PackedCopy[] }

export class Batcher<T, P, R> {
  readonly #o: BatcherOptions<T, P, R>;
  readonly #free: Slot[] = [];
  readonly #slotWaiters: (() => void)[] = [];
  readonly #queue: Channel<Entry<T> | null>;
  readonly #emitter: Promise<void>;
  #failure: unknown = null;
  #gather: Gather<T, P> | null = null;
  /** Calls handed off and not yet answered (counted from hand-off, so staging counts). */
  #calls = 0;
  #idleQueued = false;
  // One writer at a time into the ordered queue: the idle-triggered submit and add() both
  // push, and a woken waiter can lose its turn to a newcomer, which would reorder items.
  #ordered: Promise<void> = Promise.resolve();

  constructor(o: BatcherOptions<T, P, R>) {
    this.#o = o;
    for (let i = 0; i < o.slots; i++) {
      const sab = new SharedArrayBuffer(o.slotBytes);
      this.#free.push({ sab, u8: new Uint8Array(sab) });
    }
    this.#queue = new Channel<Entry<T> | null>({ capacity: o.queue, policy: 'block', isControl: (e) => e === null });
    this.#emitter = this.#emit().catch((e) => {
      this.#failure = e;
      for (const it of this.#queue.close()) this.#release(it);
      for (const w of this.#slotWaiters.splice(0)) w();
    });
  }

  /** Throws the failure that stopped the emitter, if any. */
  check(): void { if (this.#failure) throw this.#failure; }

  /** Calls in flight (handed off, not answered). */
  get inFlight(): number { return this.#calls; }

  /** A free slot; waits (backpressure) while every slot is in flight. */
  async acquire(): Promise<Slot> {
    while (this.#free.length === 0) { this.check(); await new Promise<void>((r) => this.#slotWaiters.push(r)); }
    return this.#free.pop()!;
  }

  release(slot: Slot): void { this.#free.push(slot); this.#slotWaiters.shift()?.(); }

  /** Run `n` staged items of a slot on the session; the slot is free again once it answered. */
  call(slot: Slot, n: number, copies?: PackedCopy[]): Promise<R[]> {
    const p = this.#o.run(slot, n, copies?.length ? copies : undefined).finally(() => this.release(slot));
    p.catch(() => {}); // surfaced through the emitter
    return p;
  }

  /**
   * Stage an item into the batch being gathered (`stage` writes it at `index` of `slot`); the
   * batch goes out when full, or at once when a session has nothing to do.
   */
  async add(item: T, stage: (slot: Slot, index: number) => Staged<P>): Promise<void> {
    this.check();
    this.#gather ??= { items: [], places: [], slot: await this.acquire(), copies: [] };
    const g = this.#gather;
    const s = stage(g.slot, g.items.length);
    if (s.copy) g.copies.push(s.copy);
    g.items.push(item);
    g.places.push(s.place);
    if (g.items.length >= this.#o.batch) await this.#submit();
    else this.#idleSubmit();
  }

  /** An item with no work of its own: it goes on in its place (the batch gathered so far goes first). */
  async pass(item: T): Promise<void> {
    if (this.#gather) await this.#submit();
    await this.#enqueue({ items: [item], done: null });
  }

  /** Items whose work was started by the caller (through call() and track()): they go on when it is done. */
  after(items: T[], done: Promise<unknown> | null): Promise<void> {
    return this.#enqueue({ items, done });
  }

  /**
   * Count work handed off (staging and its call) as a call in flight until it settles: counted
   * from hand-off, not from when the call starts, so a partial batch is not sent while earlier
   * ones still scale.
   */
  track<U>(p: Promise<U>): Promise<U> {
    this.#calls++;
    const q = p.finally(() => { this.#calls--; this.#idleSubmit(); });
    q.catch(() => {}); // surfaced through the emitter
    return q;
  }

  /** Send the partial batch, then wait until every item went on; throws the failure, if any. */
  async flush(): Promise<void> {
    if (this.#gather && this.#gather.items.length) await this.#submit();
    await this.#enqueue(null);
    await this.#emitter;
    this.check();
  }

  /** Release every item still held (waiting or being gathered). */
  stop(): void {
    for (const it of this.#queue.close()) for (const f of it?.items ?? []) this.#o.drop(f);
    for (const f of this.#gather?.items ?? []) this.#o.drop(f);
    this.#gather = null;
  }

  async #emit(): Promise<void> {
    for (;;) {
      const e = await this.#queue.pop();
      if (!e) return;
      if (e.done) {
        try { await e.done; } catch (err) {
          for (const f of e.items) this.#o.drop(f);
          throw err;
        }
      }
      for (const f of e.items) await this.#o.push(f);
    }
  }

  /** Release a queued entry's items once its work has settled (a scaler may still read them). */
  #release(e: Entry<T> | null): void {
    if (!e) return;
    if (!e.done) { for (const f of e.items) this.#o.drop(f); return; }
    // Left running on purpose: the items go once the call settles, whatever its outcome.
    void e.done.then(() => {}, () => {}).then(() => { for (const f of e.items) this.#o.drop(f); });
  }

  /**
   * A partial batch is sent when a session has nothing to do (so the GPU never waits for a full
   * batch), and otherwise keeps filling up to batch-size items, across mux batches.
   */
  #idleSubmit(): void {
    if (this.#idleQueued || !this.#gather || this.#calls >= this.#o.sessions()) return;
    this.#idleQueued = true;
    setImmediate(() => {
      this.#idleQueued = false;
      if (this.#gather && this.#gather.items.length && this.#calls < this.#o.sessions()) this.#submit().catch((e) => { this.#failure ??= e; });
    });
  }

  #submit(): Promise<void> {
    const g = this.#gather!;
    this.#gather = null;
    // Every item's staging settles before the call (or the failure) so no item is released
    // while a scaler still reads it; a failed staging frees the slot.
    const done = this.track(Promise.allSettled(g.places).then((rs) => {
      const bad = rs.find((r) => r.status === 'rejected');
      if (bad) { this.release(g.slot); throw bad.reason; }
      const places = rs.map((r) => (r as PromiseFulfilledResult<P>).value);
      return this.call(g.slot, g.items.length, g.copies).then((out) => out.forEach((r, b) => this.#o.finish(g.items[b]!, r, places[b]!)));
    }));
    return this.#enqueue({ items: g.items, done });
  }

  #enqueue(e: Entry<T> | null): Promise<void> {
    // The queue is closed when the emitter failed: that failure is the error to report, and
    // the entry's items are released here, as nobody else holds them.
    const p = this.#ordered.then(() => this.#queue.push(e)).catch((err) => {
      this.#release(e);
      throw this.#failure ?? err;
    });
    this.#ordered = p.catch(() => {});
    return p;
  }
}
