// queue: an explicit buffer with a size and a drop policy (GStreamer's queue + leaky).
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';

const props = z.object({
  maxSize: p.int(8, 'frames held before the policy applies', { min: 1, max: 100000 }),
  // 256 MiB: ~80 decoded 1080p frames. A large max-size alone would let RSS grow by gigabytes.
  maxBytes: p.int(256 * 1024 * 1024, 'bytes of frames held before the policy applies (whichever of max-size and max-bytes comes first); 0: no byte limit', { min: 0 }),
  leaky: p.enum(['no', 'oldest', 'newest'], 'no', 'when full: no = block upstream, oldest = drop the oldest queued frame, newest = drop the incoming frame',
    { upstream: 'newest', downstream: 'oldest', block: 'no' }),
});

export default defineElement({
  name: 'queue',
  summary: 'Buffer frames between stages with a size limit and a drop policy',
  kind: 'filter',
  pads: [joinSinkPads(['ANY']), srcPad(['ANY'])],
  pixels: () => 'none',
  passesPixels: () => true,
  props,
  doc: 'leaky also accepts GStreamer spellings: upstream (= newest), downstream (= oldest).',
  create(o, ctx) {
    return {
      input: { capacity: o.maxSize, maxBytes: o.maxBytes, policy: o.leaky === 'no' ? 'block' : o.leaky === 'oldest' ? 'leaky-oldest' : 'leaky-newest' },
      process: (frame) => ctx.push(frame),
    };
  },
});
