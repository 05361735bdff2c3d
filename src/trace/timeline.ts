// SLUICE_TRACE=file.json: a timeline of every frame through every element in the Chrome trace
// event format (open it in Perfetto or chrome://tracing). One track per element; one slice per
// produce()/process() call named after the frame, with the time spent waiting on downstream
// space and the queue depth; flow arrows follow each frame from element to element. Events are
// streamed to the file as they happen, so memory stays flat however long the run.
import { createWriteStream, type WriteStream } from 'node:fs';
import diagnostics_channel from 'node:diagnostics_channel';
import type { WorkEvent } from '../core/events.ts';

const us = (ms: number) => Math.round(ms * 1000);

export class TimelineRecorder {
  private out: WriteStream;
  private tids = new Map<string, number>();
  private seen = new Map<number, true>();
  private first = true;
  /** Events are gathered into chunks of ~64 KB before they reach the stream (two per frame and element). */
  private pending = '';
  private onWork = (m: unknown) => this.work(m as WorkEvent);

  constructor(file: string, title: string, elements: string[]) {
    this.out = createWriteStream(file);
    this.out.on('error', () => { /* a trace file that cannot be written must not stop the run */ });
    this.out.write('[\n');
    this.emit({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `sluice: ${title}` } });
    // Tracks in pipeline order.
    for (const e of elements) this.tid(e);
    diagnostics_channel.subscribe('sluice:work', this.onWork);
  }

  private tid(element: string): number {
    let t = this.tids.get(element);
    if (t === undefined) {
      t = this.tids.size + 1;
      this.tids.set(element, t);
      this.emit({ name: 'thread_name', ph: 'M', pid: 1, tid: t, args: { name: element } });
      this.emit({ name: 'thread_sort_index', ph: 'M', pid: 1, tid: t, args: { sort_index: t } });
    }
    return t;
  }

  private emit(e: Record<string, unknown>): void {
    this.pending += (this.first ? '' : ',\n') + JSON.stringify(e);
    this.first = false;
    if (this.pending.length >= 65536) { this.out.write(this.pending); this.pending = ''; }
  }

  private work(m: WorkEvent): void {
    const tid = this.tid(m.element);
    this.emit({ name: `${m.stream}:${m.frame}`, cat: m.type, ph: 'X', pid: 1, tid, ts: us(m.start), dur: Math.max(0, us(m.end - m.start)),
      args: { stream: m.stream, frame: m.frame, push_wait_ms: Math.round(m.wait * 1000) / 1000, queued: m.queued } });
    // A flow per frame: starts at its first element, steps through the others.
    const id = m.stream * 1e9 + m.frame;
    const step = this.seen.has(id);
    if (!step) {
      this.seen.set(id, true);
      // Bounded: frames older than the last 50,000 no longer get arrows.
      if (this.seen.size > 50_000) this.seen.delete(this.seen.keys().next().value!);
    }
    this.emit({ name: 'frame', cat: 'flow', ph: step ? 't' : 's', id, pid: 1, tid, ts: us(m.start), bp: 'e' });
  }

  /** Stop recording and finish the file as a valid JSON array. */
  async close(): Promise<void> {
    diagnostics_channel.unsubscribe('sluice:work', this.onWork);
    await new Promise<void>((r) => this.out.end(`${this.pending}\n]\n`, () => r()));
    this.pending = '';
  }
}
