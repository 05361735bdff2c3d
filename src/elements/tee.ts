// tee: send every frame to each linked branch. Branches share pixels by reference (FFmpeg
// buffers are reference-counted); each gets its own metadata.
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { cloneFrame } from '../core/frame.ts';

export default defineElement({
  name: 'tee',
  summary: 'Split one stream into several branches',
  kind: 'filter',
  pads: [sinkPad(['ANY']), { name: 'src_%u', direction: 'src', presence: 'request', caps: ['ANY'] }],
  pixels: () => 'none',
  passesPixels: () => true,
  props: z.object({}),
  create(_o, ctx) {
    return {
      async process(frame) {
        const pads = ctx.srcPads;
        for (let i = 0; i < pads.length; i++) {
          await ctx.push(i === pads.length - 1 ? frame : cloneFrame(frame), pads[i]);
        }
      },
    };
  },
});
