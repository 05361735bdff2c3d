// The pipeline bus: typed messages from elements and the pipeline to the application.
import { EventEmitter } from 'node:events';
import type { SluiceError } from './errors.ts';
import type { StatsSnapshot } from './stats.ts';

export type State = 'null' | 'ready' | 'paused' | 'playing';

/**
 * Where a source's stream stands (uri's reconnect state machine): 'connecting' (a network
 * stream opening), 'playing' (opened), 'unreachable' (it did not open at start; retrying),
 * 'lost' (it dropped; reconnecting), 'restored' (back after `downMs`), 'gave-up' (out of
 * reconnection attempts), 'ended' (no more frames).
 */
export type StreamState = 'connecting' | 'playing' | 'lost' | 'restored' | 'unreachable' | 'ended' | 'gave-up';

/** A source's stream changed state: posted next to the human warning, for programs to read instead of its text. */
export interface StreamStateMessage {
  type: 'stream-state';
  /** The element (source) that posted it. */
  source: string;
  /** The stream id its frames carry. */
  stream: number;
  /** The label the stream was added with (Pipeline.addBranch), when it has one. */
  label?: string;
  state: StreamState;
  /** Why it was lost or is unreachable (the demuxer's or the open's error, first line). */
  reason?: string;
  /** 'restored': how long the stream was away, in ms. */
  downMs?: number;
  /** The warning posted with it, word for word (what a log shows). */
  message?: string;
}

export type BusMessage =
  | { type: 'eos' }
  | { type: 'error'; source: string; error: SluiceError }
  | { type: 'warning'; source: string; message: string; code?: string }
  | StreamStateMessage
  | { type: 'state-changed'; source: string; old: State; current: State }
  | { type: 'stats'; stats: StatsSnapshot }
  | { type: 'element'; source: string; name: string; data: Record<string, unknown> };

export class Bus {
  private em = new EventEmitter();
  readonly history: BusMessage[] = [];
  private keep = 256;
  constructor() {
    // EventEmitter throws an 'error' event nobody listens to; on the bus an error is a message
    // like any other (run() rejects with it), so an application without a listener must not crash.
    this.em.on('error', () => {});
  }

  post(msg: BusMessage): void {
    if (msg.type !== 'stats') {
      this.history.push(msg);
      if (this.history.length > this.keep) this.history.shift();
    }
    this.em.emit(msg.type, msg);
    this.em.emit('message', msg);
  }

  on<T extends BusMessage['type'] | 'message'>(
    type: T,
    fn: (msg: T extends 'message' ? BusMessage : Extract<BusMessage, { type: T }>) => void,
  ): () => void {
    this.em.on(type, fn as (m: BusMessage) => void);
    return () => this.em.off(type, fn as (m: BusMessage) => void);
  }
}
