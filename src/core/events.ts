// Observability through node:diagnostics_channel: publishing costs nothing while nobody
// subscribes (as undici does). Log, timeline and dashboard subscribe to these.
import diagnostics_channel from 'node:diagnostics_channel';

export interface FrameEvent { element: string; pad: string; stream: number; frame: number; t: number }

/** One produce()/process() call: [start, end] in performance.now() ms; `wait` = time blocked on downstream space. */
export interface WorkEvent { element: string; type: string; stream: number; frame: number; start: number; end: number; wait: number; queued: number }

export const channels = {
  /** An element finished working on a frame (timeline subscribers). */
  work: diagnostics_channel.channel('sluice:work') as diagnostics_channel.Channel & { publish(m: WorkEvent): void },
  /** A frame left an element's src pad. */
  frame: diagnostics_channel.channel('sluice:frame') as diagnostics_channel.Channel & { publish(m: FrameEvent): void },
};
