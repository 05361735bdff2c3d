// Observability through node:diagnostics_channel: publishing costs nothing while nobody
// subscribes (as undici does). Log, timeline and dashboard subscribe to these.
import diagnostics_channel from 'node:diagnostics_channel';

export interface FrameEvent { element: string; pad: string; stream: number; frame: number; t: number }

export const channels = {
  /** A frame left an element's src pad. */
  frame: diagnostics_channel.channel('sluice:frame') as diagnostics_channel.Channel & { publish(m: FrameEvent): void },
};
