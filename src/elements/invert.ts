// invert: the photographic negative of each frame, in place. NVSS's "dummy model": it costs a
// pass over the pixels and nothing else, so it shows what the streaming around a model costs.
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { avOf } from '../media/av.ts';
import { writableCanvas } from '../draw/planes.ts';
import { invertFull, invertLimited } from '../draw/invert.ts';

export default defineElement({
  name: 'invert',
  summary: 'Photographic negative of each frame (a stand-in model that only touches pixels)',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  props: z.object({}),
  create(_o, ctx) {
    return {
      async process(frame) {
        const c = writableCanvas(avOf(frame.pixels, ctx.name), frame.format, frame.width, frame.height, ctx.name);
        // yuv420p/yuv444p are video (limited) range; yuvj420p (JPEG, cameras) and gray are full.
        const limited = frame.format === 'yuv420p' || frame.format === 'yuv444p';
        c.planes.forEach(([buf, stride, , sy], i) => {
          const rows = Math.ceil(frame.height / (1 << sy));
          const plane = buf.subarray(0, stride * rows);
          if (limited) invertLimited(plane, i === 0);
          else invertFull(plane);
        });
        await ctx.push(frame);
      },
    };
  },
});
