// identity: pass frames through unchanged; optionally delay or burn CPU (to test bottlenecks).
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';

const props = z.object({
  delay: p.num(0, 'milliseconds to wait per frame (a slow stage that does not load the CPU)', { min: 0 }),
  busy: p.num(0, 'milliseconds of CPU spinning per frame (a slow stage that loads the CPU)', { min: 0 }),
  errorAfter: p.int(-1, 'fail with an error on this frame number (tests error handling); -1 never', { min: -1 }),
});

export default defineElement({
  name: 'identity',
  summary: 'Pass frames through; optional artificial delay or CPU load',
  kind: 'filter',
  pads: [joinSinkPads(['ANY']), srcPad(['ANY'])],
  pixels: () => 'none',
  passesPixels: () => true,
  props,
  create(o, ctx) {
    let n = 0;
    return {
      async process(frame) {
        if (o.errorAfter >= 0 && n++ === o.errorAfter) {
          throw new Err.ELEMENT(`${ctx.name}: error-after=${o.errorAfter} reached (as asked)`);
        }
        if (o.delay > 0) await sleep(o.delay);
        if (o.busy > 0) { const end = performance.now() + o.busy; while (performance.now() < end) { /* spin */ } }
        await ctx.push(frame);
      },
    };
  },
});
