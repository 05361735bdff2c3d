// demux: split a batched (muxed) stream back into one output per source stream. Frames of
// stream N go to pad src_N; a stream whose pad is not linked is dropped (and counted).
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { Err } from '../core/errors.ts';

export default defineElement({
  name: 'demux',
  summary: 'Split batched frames back into per-stream outputs (src_0, src_1, ...)',
  kind: 'filter',
  pads: [sinkPad(['ANY']), { name: 'src_%u', direction: 'src', presence: 'request', caps: ['ANY'] }],
  pixels: () => 'none',
  passesPixels: () => true,
  props: z.object({}),
  doc: 'Link outputs by stream number: "... ! demux name=d  d.src_0 ! file location=a.mp4  d.src_1 ! file location=b.mp4".',
  create(_o, ctx) {
    return {
      start() {
        const linked = new Set(ctx.srcPads);
        // An output for a stream that does not exist would silently get nothing.
        const streams = new Set(ctx.upstreamStreams);
        for (const pad of linked) {
          const n = Number(pad.slice(4));
          if (!streams.has(n)) {
            const have = [...streams].map((s) => `src_${s}`).join(', ') || 'none';
            throw new Err.LINK(`${ctx.name}: output ${pad} is for stream ${n}, but the streams reaching ${ctx.name} are ${[...streams].join(', ') || 'none'}; link ${have}`);
          }
        }
      },
      async process(frame) {
        const pad = `src_${frame.stream}`;
        frame.batch = undefined;
        // Outputs linked and unlinked later (branches added to and removed from a dynamic
        // pipeline, e.g. sluice serve's live views) are looked up for every frame.
        if (!ctx.srcPads.includes(pad)) { ctx.drop(frame); return; }
        await ctx.push(frame, pad);
      },
    };
  },
});
