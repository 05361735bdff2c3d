// What the metadata sinks (mqtt, nats, redis) share: a bounded buffer between the video path and
// a broker. process() only appends here and never waits on the network; a pump sends while the
// client is connected. A slow or absent broker fills the buffer, and then the oldest messages go
// (counted, with a warning on the bus), so memory stays bounded and frames keep flowing.
import type { ElementContext } from '../core/element.ts';

export interface Message { subject: string; payload: string; id: string }

export interface OutboxClient {
  /** Whether a send would go out now (the library reconnects on its own, with backoff). */
  ready(): boolean;
  send(m: Message): Promise<void>;
}

export class Outbox {
  private queue: Message[] = [];
  private head = 0;
  private inflight = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private lastWarn = 0;
  /** After a failed send, wait a little before the next (no hot loop against a broken broker). */
  private pauseUntil = 0;
  private pump: Promise<void>;
  sent = 0;
  dropped = 0;
  failed = 0;
  private client: OutboxClient;
  private ctx: ElementContext;
  private capacity: number;
  private maxInflight: number;

  constructor(client: OutboxClient, ctx: ElementContext, o: { capacity: number; inflight: number }) {
    this.client = client;
    this.ctx = ctx;
    this.capacity = o.capacity;
    this.maxInflight = o.inflight;
    this.pump = this.run();
  }

  get buffered(): number { return this.queue.length - this.head; }

  /** Append; drops the oldest message when full. Never waits. */
  put(m: Message): void {
    if (this.buffered >= this.capacity) {
      this.head++;
      this.dropped++;
      const now = performance.now();
      if (now - this.lastWarn > 5000) {
        this.lastWarn = now;
        this.ctx.post({ type: 'warning', source: this.ctx.name, message: `broker ${this.client.ready() ? 'too slow' : 'not connected'}: ${this.buffered} messages buffered (buffer=${this.capacity}), dropping the oldest (${this.dropped} so far)` });
      }
    }
    this.queue.push(m);
    // Compact now and then rather than shift() per message.
    if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0; }
    this.poke();
  }

  /** Something changed (a message, a connection): let the pump look again. */
  poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (this.buffered === 0 || this.inflight >= this.maxInflight || !this.client.ready() || performance.now() < this.pauseUntil) {
        // Woken by put()/poke(); a not-yet-connected client is polled (libraries differ in events).
        await new Promise<void>((r) => { this.wake = r; setTimeout(r, 100).unref(); });
        continue;
      }
      const m = this.queue[this.head++]!;
      this.inflight++;
      this.client.send(m).then(() => { this.sent++; }, (e: Error) => {
        // A send that failed while connected (no JetStream stream, a dropped socket) goes back
        // to the front, unless newer messages already filled the buffer.
        this.failed++;
        this.pauseUntil = performance.now() + 250;
        if (this.buffered < this.capacity) { this.queue.splice(this.head, 0, m); } else this.dropped++;
        const now = performance.now();
        if (now - this.lastWarn > 5000) { this.lastWarn = now; this.ctx.post({ type: 'warning', source: this.ctx.name, message: `publishing to ${m.subject} failed: ${e.message}; retrying` }); }
      }).finally(() => { this.inflight--; this.poke(); });
    }
  }

  /** At EOS: try to send what is buffered for up to `ms`, then stop. */
  async drain(ms: number): Promise<void> {
    const t0 = performance.now();
    while ((this.buffered > 0 || this.inflight > 0) && performance.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    this.poke();
    await this.pump;
  }

  stats() {
    return { messagesSent: this.sent, messagesDropped: this.dropped, messagesBuffered: this.buffered, sendFailures: this.failed, connected: this.client.ready() };
  }
}

/** Replace {stream} (the stream's label: a camera id in `sluice serve`) in a topic, subject or key. */
export const subjectFor = (template: string, label: string) => template.replaceAll('{stream}', label);
