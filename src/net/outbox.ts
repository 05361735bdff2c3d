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

/** A broker that has taken nothing for this long while messages wait is reported (down, mute or stuck). */
const STALL_WARN_MS = 2000;

export class Outbox {
  private queue: Message[] = [];
  /** Bytes of the buffered messages' payloads and subjects (UTF-16 length: what the heap holds, about). */
  private bytes = 0;
  private head = 0;
  private inflight = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private lastWarn = -Infinity;
  /** After a failed send, wait a little before the next (no hot loop against a broken broker). */
  private pauseUntil = 0;
  private pump: Promise<void>;
  sent = 0;
  dropped = 0;
  failed = 0;
  private client: OutboxClient;
  private ctx: ElementContext;
  private capacity: number;
  private maxBytes: number;
  private maxInflight: number;
  /** When the broker last took a message (or the outbox started); and whether this stall was said. */
  private progressAt = performance.now();
  private stallWarned = false;
  private where: string;

  constructor(client: OutboxClient, ctx: ElementContext, o: { capacity: number; inflight: number; maxBytes?: number; where?: string }) {
    this.client = client;
    this.ctx = ctx;
    this.capacity = o.capacity;
    this.maxBytes = o.maxBytes ?? Infinity;
    this.maxInflight = o.inflight;
    this.where = o.where ?? 'the broker';
    this.pump = this.run();
  }

  get buffered(): number { return this.queue.length - this.head; }

  private static size(m: Message): number { return m.payload.length + m.subject.length + m.id.length; }

  /** Append; drops the oldest messages while over the count or the byte cap. Never waits. */
  put(m: Message): void {
    const size = Outbox.size(m);
    // By count and by bytes: 10,000 lines of 13.7 KB to a mute broker held 460 MB with a count alone.
    while (this.buffered > 0 && (this.buffered >= this.capacity || this.bytes + size > this.maxBytes)) {
      this.bytes -= Outbox.size(this.queue[this.head]!);
      this.head++;
      this.dropped++;
      const now = performance.now();
      if (now - this.lastWarn > 5000) {
        this.lastWarn = now;
        const cap = this.buffered + 1 >= this.capacity ? `buffer=${this.capacity}` : `buffer-bytes=${this.maxBytes}`;
        this.ctx.warn(`broker ${this.client.ready() ? 'too slow' : 'not connected'}: ${this.buffered} messages buffered (${cap}), dropping the oldest (${this.dropped} so far)`);
      }
    }
    this.bytes += size;
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

  /**
   * A broker that is down, or up but mute (it accepted the connection and answers nothing), takes
   * no message: say so once per stall, as a dropped MQTT connection does (NATS waiting for its
   * first connection and a mute Redis were silent, and every message was lost unseen).
   */
  private checkStall(): void {
    if (this.buffered === 0 && this.inflight === 0) { this.progressAt = performance.now(); return; }
    const ms = performance.now() - this.progressAt;
    if (this.stallWarned || ms < STALL_WARN_MS) return;
    this.stallWarned = true;
    const why = this.client.ready() ? `connected but not answering (${this.inflight} sends unanswered)` : 'not connected';
    this.ctx.warn(`${this.where} took no message for ${Math.round(ms / 1000)} s: ${why}; ${this.buffered} messages buffered, the oldest are dropped when the buffer is full`);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      this.checkStall();
      if (this.buffered === 0 || this.inflight >= this.maxInflight || !this.client.ready() || performance.now() < this.pauseUntil) {
        // Woken by put()/poke(); a not-yet-connected client is polled (libraries differ in events).
        await new Promise<void>((r) => { this.wake = r; setTimeout(r, 100).unref(); });
        continue;
      }
      const m = this.queue[this.head++]!;
      this.bytes -= Outbox.size(m);
      this.inflight++;
      this.client.send(m).then(() => {
        this.sent++;
        this.progressAt = performance.now();
        if (this.stallWarned) { this.stallWarned = false; this.ctx.warn(`${this.where} takes messages again`); }
      }, (e: Error) => {
        // A send that failed while connected (no JetStream stream, a dropped socket) goes back
        // to the front, unless newer messages already filled the buffer.
        this.failed++;
        this.pauseUntil = performance.now() + 250;
        if (this.buffered < this.capacity && this.bytes + Outbox.size(m) <= this.maxBytes) { this.queue.splice(this.head, 0, m); this.bytes += Outbox.size(m); } else this.dropped++;
        const now = performance.now();
        if (now - this.lastWarn > 5000) { this.lastWarn = now; this.ctx.warn(`publishing to ${m.subject} failed: ${e.message}; retrying`); }
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
    // What never went out is lost: counted and said (it used to show only in --report).
    const left = this.buffered + this.inflight;
    if (left > 0 && !this.drained) {
      this.drained = true;
      this.dropped += this.buffered;
      this.unsent = left;
      this.queue = [];
      this.head = 0;
      this.bytes = 0;
      this.ctx.warn(`${left} messages were not delivered to ${this.where} (${this.client.ready() ? 'it did not answer' : 'not connected'}) and are lost; ${this.sent} were sent`);
    }
  }
  private drained = false;
  /** Messages still buffered or unanswered when the outbox closed. */
  private unsent = 0;

  stats() {
    return { messagesSent: this.sent, messagesDropped: this.dropped, messagesBuffered: this.buffered, messagesUndelivered: this.unsent, bytesBuffered: this.bytes, sendFailures: this.failed, connected: this.client.ready() };
  }
}

/** Replace {stream} (the stream's label: a camera id in `sluice serve`) in a topic, subject or key. */
export const subjectFor = (template: string, label: string) => template.replaceAll('{stream}', label);
