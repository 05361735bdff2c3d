// Bounded channel between two element tasks. Memory is bounded by `capacity`; when full,
// the policy decides: block the producer (backpressure), drop the oldest queued item, or drop
// the incoming one. Control items (EOS) are never dropped and may exceed capacity by design,
// so a leaky queue still ends cleanly.

import { Err } from './errors.ts';

export type LeakyPolicy = 'block' | 'leaky-oldest' | 'leaky-newest';

export class ChannelClosed extends Error {
  constructor() { super('channel closed'); this.name = 'ChannelClosed'; }
}

export interface ChannelOptions<T> {
  capacity: number;
  policy: LeakyPolicy;
  /** Called with each item the policy drops (so its memory can be released). */
  onDrop?: (item: T) => void;
  /** Items for which this returns true are control items: never dropped, never block. */
  isControl?: (item: T) => boolean;
  /** Also full once the queued items hold this many bytes (0: count only); one item always fits. */
  maxBytes?: number;
  /** Bytes an item holds (asked once per item, only with maxBytes). */
  bytesOf?: (item: T) => number;
}

export class Channel<T> {
  readonly capacity: number;
  readonly policy: LeakyPolicy;
  private items: T[] = [];
  private head = 0;
  private waitingPop: ((v: T) => void) | null = null;
  private waitingPopReject: ((e: Error) => void) | null = null;
  private waitingPush: (() => void)[] = [];
  private closed = false;
  private onDrop: ((item: T) => void) | undefined;
  private isControl: (item: T) => boolean;
  /** Highest number of items ever queued. */
  highWater = 0;
  dropped = 0;
  readonly maxBytes: number;
  private bytesOf: ((item: T) => number) | undefined;
  /** Bytes of each queued item (parallel to items) and their sum, with maxBytes. */
  private sizes: number[] = [];
  bytes = 0;

  constructor(opts: ChannelOptions<T>) {
    if (!(opts.capacity >= 1)) throw new Err.PROPERTY(`a queue needs room for at least 1 frame (capacity ${opts.capacity})`);
    this.capacity = opts.capacity;
    this.policy = opts.policy;
    this.onDrop = opts.onDrop;
    this.maxBytes = opts.maxBytes ?? 0;
    this.bytesOf = this.maxBytes > 0 ? opts.bytesOf : undefined;
    this.isControl = opts.isControl ?? (() => false);
  }

  get length(): number { return this.items.length - this.head; }
  get isClosed(): boolean { return this.closed; }
  /** The queued items, oldest first (a copy: for choosing what evictStale removes). */
  peekAll(): T[] { return this.items.slice(this.head); }
  /** Whether a push would wait now (or be dropped by a leaky policy). */
  get isFull(): boolean { return !this.waitingPop && this.full(); }

  /** Resolves once the item is queued (or dropped by a leaky policy). */
  async push(item: T): Promise<void> {
    for (;;) {
      if (this.closed) throw new ChannelClosed();
      if (this.waitingPop) {
        const resolve = this.waitingPop;
        this.waitingPop = null;
        this.waitingPopReject = null;
        resolve(item);
        return;
      }
      if (!this.full() || this.isControl(item)) {
        this.enqueue(item);
        return;
      }
      if (this.policy === 'leaky-newest') {
        this.dropped++;
        this.onDrop?.(item);
        return;
      }
      if (this.policy === 'leaky-oldest') {
        const idx = this.oldestDroppable();
        if (idx >= 0) {
          const [old] = this.items.splice(idx, 1);
          if (this.bytesOf) this.bytes -= this.sizes.splice(idx, 1)[0]!;
          this.dropped++;
          this.onDrop?.(old as T);
          this.enqueue(item);
          return;
        }
      }
      await new Promise<void>((resolve) => this.waitingPush.push(resolve));
    }
  }

  /**
   * When full: remove and return the oldest queued item for which `stale` holds (the caller
   * releases and counts it), making room without waiting. Null when not full or none is stale.
   */
  evictStale(stale: (item: T) => boolean): T | null {
    if (!this.full()) return null;
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i] as T;
      if (this.isControl(it) || !stale(it)) continue;
      this.removeAt(i);
      return it;
    }
    return null;
  }

  /** Remove and return every queued non-control item for which `pred` holds (full or not). */
  removeWhere(pred: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i] as T;
      if (this.isControl(it) || !pred(it)) continue;
      this.removeAt(i--);
      out.push(it);
    }
    return out;
  }

  /** Take item i out of the queue; a producer waiting for room may go on. */
  private removeAt(i: number): void {
    this.items.splice(i, 1);
    if (this.bytesOf) this.bytes -= this.sizes.splice(i, 1)[0]!;
    this.waitingPush.shift()?.();
  }

  /** Resolves with the next item; rejects with ChannelClosed once closed and empty. */
  pop(): Promise<T> {
    if (this.length > 0) {
      const item = this.items[this.head] as T;
      this.items[this.head] = undefined as T;
      if (this.bytesOf) { this.bytes -= this.sizes[this.head]!; this.sizes[this.head] = 0; }
      this.head++;
      if (this.head > 64 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        if (this.bytesOf) this.sizes = this.sizes.slice(this.head);
        this.head = 0;
      }
      this.waitingPush.shift()?.();
      return Promise.resolve(item);
    }
    if (this.closed) return Promise.reject(new ChannelClosed());
    return new Promise<T>((resolve, reject) => {
      this.waitingPop = resolve;
      this.waitingPopReject = reject;
    });
  }

  /** Wake everybody; pending and later push/pop reject. Returns what was still queued. */
  close(): T[] {
    this.closed = true;
    const rest = this.items.slice(this.head);
    this.items = [];
    this.sizes = [];
    this.bytes = 0;
    this.head = 0;
    this.waitingPopReject?.(new ChannelClosed());
    this.waitingPop = null;
    this.waitingPopReject = null;
    for (const w of this.waitingPush.splice(0)) w();
    return rest;
  }

  /** Remove and return every queued non-control item (flush); control items stay. */
  drain(): T[] {
    const all = this.items.slice(this.head);
    const keep = all.filter((it) => this.isControl(it));
    this.items = keep;
    this.sizes = keep.map(() => 0);
    this.bytes = 0;
    this.head = 0;
    for (let i = keep.length; i < all.length && this.waitingPush.length; i++) this.waitingPush.shift()?.();
    return all.filter((it) => !this.isControl(it));
  }

  private full(): boolean {
    return this.length >= this.capacity || (this.maxBytes > 0 && this.length > 0 && this.bytes >= this.maxBytes);
  }

  private enqueue(item: T): void {
    this.items.push(item);
    if (this.bytesOf) {
      const b = this.isControl(item) ? 0 : this.bytesOf(item);
      this.sizes.push(b);
      this.bytes += b;
    }
    // Control items may exceed capacity by design; the high-water mark counts frames.
    if (!this.isControl(item) && this.length > this.highWater) this.highWater = this.length;
  }

  private oldestDroppable(): number {
    for (let i = this.head; i < this.items.length; i++) {
      if (!this.isControl(this.items[i] as T)) return i;
    }
    return -1;
  }
}
