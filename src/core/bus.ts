// The pipeline bus: typed messages from elements and the pipeline to the application.
import { EventEmitter } from 'node:events';
import type { SluiceError } from './errors.ts';
import type { StatsSnapshot } from './stats.ts';

export type State = 'null' | 'ready' | 'paused' | 'playing';

export type BusMessage =
  | { type: 'eos' }
  | { type: 'error'; source: string; error: SluiceError }
  | { type: 'warning'; source: string; message: string; code?: string }
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
