// queue: an explicit buffer with a size and a drop policy (GStreamer's queue + leaky).
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';

const props = z.object({
  maxSize: p.int(8, 'frames held before the policy applies', { min: 1, max: 100000 }),
  leaky: p.enum(['no', 'oldest', 'newest'], 'no', 'when full: no = block upstream, oldest = drop the oldest queued frame, newest = drop the incoming frame',
    { upstream: 'newest', downstream: 'oldest', block: 'no' }),
});

export default defineElement({
  name: 'queue',
  summary: 'Buffer frames between stages with a size limit and a drop policy',
  kind: 'filter',
  pads: [joinSinkPads(['ANY']), srcPad(['ANY'])],
  props,
  doc: 'leaky also accepts GStreamer spellings: upstream (= newest), downstream (= oldest).',
  create(o, ctx) {
    return {
      input: { capacity: o.maxSize, policy: o.leaky === 'no' ? 'block' : o.leaky === 'oldest' ? 'leaky-oldest' : 'leaky-newest' },
      process: (frame) => ctx.push(frame),
    };
  },
});
