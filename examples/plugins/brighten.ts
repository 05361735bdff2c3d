// An element written outside Sluice, loaded with `sluice --plugin examples/plugins/brighten.ts`
// (or from a folder on SLUICE_PLUGIN_PATH). It imports only the public API, from 'sluice'.
import { SluiceError, defineElement, media, props, sinkPad, srcPad, z } from 'sluice';

export default defineElement({
  name: 'brighten',
  summary: 'Add a constant to every luma sample (planar YUV or gray frames)',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  props: z.object({
    amount: props.int(32, 'added to each luma sample, clipped to 0..255', { min: -255, max: 255 }),
  }),
  create(o, ctx) {
    return {
      start() {
        if (o.amount === 0) ctx.log.warn('amount=0: frames pass unchanged');
      },
      async process(frame) {
        if (!/^(yuv|yuvj)4[24][024]p$|^gray$/.test(frame.format)) {
          throw new SluiceError('SLUICE_ERR_FORMAT', `${ctx.name}: brighten edits planar YUV or gray, not ${frame.format}; put "scale format=yuv420p" before it`);
        }
        // writableCanvas un-shares the native frame first (a decoder may still reference it).
        const canvas = media.writableCanvas(media.avOf(frame.pixels, ctx.name), frame.format, frame.width, frame.height, ctx.name);
        const [y, stride] = canvas.planes[0]!;
        for (let row = 0; row < frame.height; row++) {
          for (let i = row * stride, end = i + frame.width; i < end; i++) y[i] = Math.min(255, Math.max(0, y[i]! + o.amount));
        }
        frame.meta.user.brightened = o.amount;
        await ctx.push(frame);
      },
    };
  },
});
