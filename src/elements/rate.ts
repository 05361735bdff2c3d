// rate: change the frame rate by dropping or duplicating frames on their timestamps
// (GStreamer's videorate). Output frame k has pts k/fps.
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { cloneFrame, type Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';

const props = z.object({
  fps: p.num(10, 'output frames per second', { min: 0.01, max: 1000 }),
  duplicate: p.bool(false, 'fill gaps by repeating frames (raising the rate); otherwise only drop'),
});

export default defineElement({
  name: 'rate',
  summary: 'Change the frame rate by dropping (or duplicating) frames',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  pixels: () => 'none',
  passesPixels: () => true,
  props,
  create(o, ctx) {
    // Per stream: the next output slot, so several joined streams are paced independently.
    const next = new Map<number, { slot: number; out: number; t0: number }>();
    const period = 1 / o.fps;
    return {
      streamRemoved(s) { next.delete(s); },
      async process(frame: Frame) {
        let st = next.get(frame.stream);
        if (!st) { st = { slot: 0, out: 0, t0: frame.pts }; next.set(frame.stream, st); }
        const t = frame.pts - st.t0;
        // Slots whose time has come: the first takes this frame, later ones (gaps) copies.
        const due = Math.floor(t / period + 1e-6) + 1 - st.slot;
        if (due <= 0) { ctx.drop(frame); return; }
        const copies = o.duplicate ? due : 1;
        for (let i = 0; i < copies; i++) {
          const f = i === copies - 1 ? frame : cloneFrame(frame);
          f.pts = st.t0 + (st.slot + (o.duplicate ? i : due - 1)) * period;
          f.frame = st.out++;
          f.rate = o.fps;
          await ctx.push(f);
        }
        st.slot += due;
      },
    };
  },
});
