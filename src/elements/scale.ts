// scale: resize, convert pixel format, letterbox (swscale through FFmpeg filters, off the loop).
// Meta boxes stay in source pixels; the frame's xform records the mapping for drawing.
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';
import { pixFmtFromName } from '../media/av.ts';
import { Scaler, scaleFrame, SCALE_METHODS } from '../media/scale.ts';

const props = z.object({
  width: p.int(0, 'output width; 0 keeps the input width (or the aspect ratio when height is set)', { min: 0, max: 16384 }),
  height: p.int(0, 'output height; 0 keeps the input height (or the aspect ratio when width is set)', { min: 0, max: 16384 }),
  format: p.str('', 'output pixel format (yuv420p, nv12, rgb24, bgr24, gray...); empty keeps the input format'),
  letterbox: p.bool(false, 'keep the aspect ratio and pad to width x height'),
  placement: p.enum(['center', 'top-left'], 'center', 'where the letterboxed image sits'),
  padColor: p.str('black', 'letterbox padding colour (FFmpeg colour syntax: black, 0x727272)'),
  method: p.enum(SCALE_METHODS, 'bilinear', 'interpolation (fast_bilinear: two taps per output pixel, like OpenCV\'s INTER_LINEAR; about twice as fast as bilinear when shrinking a lot)'),
});

export default defineElement({
  name: 'scale',
  summary: 'Resize, convert pixel format and letterbox frames',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  props,
  outFormats: (o) => (o.format ? [o.format] : undefined),
  // Without letterbox a given width and height are the output size (one of them alone keeps the aspect).
  outSize: (o) => (o.width > 0 && o.height > 0 ? { width: o.width, height: o.height } : undefined),
  create(o, ctx) {
    if (o.format) pixFmtFromName(o.format);
    const scaler = new Scaler(o);
    return {
      async process(frame) {
        await scaleFrame(scaler, frame, ctx.name);
        await ctx.push(frame);
      },
      hint: () => `scale fewer frames (a rate element before it)${o.method === 'bilinear' || o.method === 'fast_bilinear' || o.method === 'neighbor' ? '' : ', or method=bilinear'}, or decode smaller`,
      stop() { scaler.close(); },
    };
  },
});
