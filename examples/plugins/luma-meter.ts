// An element that uses most hooks of an element definition (docs/writing-elements.md walks
// through them): it measures each frame's mean brightness on a small view its sources make while
// decoding, falls back to the full frame where none was made, keeps a per-stream average, and
// reports what it did. Loaded with `sluice --plugin examples/plugins/luma-meter.ts`; it imports
// only the public API, from 'sluice'.
import { defineElement, media, props, sinkPad, srcPad, viewOf, z, type Frame, type ViewRequest } from 'sluice';

/** The mean of a plane's first `width` bytes of each of `height` rows, `stride` bytes apart. */
function mean(plane: Uint8Array, width: number, height: number, stride: number): number {
  let sum = 0;
  for (let row = 0; row < height; row++) for (let i = row * stride, end = i + width; i < end; i++) sum += plane[i]!;
  return sum / (width * height);
}

export default defineElement({
  name: 'luma-meter',
  summary: 'Measure each frame\'s mean luma into meta.user.luma (on a small view where the source makes one)',
  doc: 'Frames pass unchanged. At end of stream it posts an element message "luma" with each stream\'s average.',
  kind: 'filter',
  pads: [sinkPad(['video/x-raw'], ['yuv420p', 'yuvj420p', 'nv12', 'gray']), srcPad()],
  props: z.object({
    width: props.int(64, 'width of the picture measured (a view made while decoding)', { min: 2, max: 4096 }),
    height: props.int(36, 'height of the picture measured', { min: 2, max: 4096 }),
  }),
  // It reads the view it asks for, and sends on the pixels it got untouched.
  pixels: () => 'view',
  passesPixels: () => true,
  create(o, ctx) {
    let req: ViewRequest | null = null;
    let onView = 0, onFull = 0;
    const perStream = new Map<number, { frames: number; sum: number }>();
    return {
      start() {
        req = ctx.requestView({ width: o.width, height: o.height, format: 'yuv420p', letterbox: false, placement: 'center', method: 'bilinear' });
        if (!ctx.explicit.has('width')) ctx.log.info(`measuring at the default ${o.width}x${o.height}`);
        ctx.log.info(`streams upstream: ${ctx.upstreamStreams.join(', ') || 'none yet'}`);
      },
      async process(frame: Frame) {
        const v = viewOf(frame, req);
        let luma: number;
        if (v) {
          onView++;
          luma = mean(v.data, v.width, v.height, v.width); // packed planes: Y first, stride = width
        } else {
          onFull++;
          const av = media.avOf(frame.pixels, ctx.name);
          luma = mean(av.data![0]!, frame.width, frame.height, av.linesize[0]!);
        }
        frame.meta.user.luma = Math.round(luma * 10) / 10;
        const s = perStream.get(frame.stream) ?? { frames: 0, sum: 0 };
        s.frames++;
        s.sum += luma;
        perStream.set(frame.stream, s);
        await ctx.push(frame);
      },
      flush() {
        const averages = Object.fromEntries([...perStream].map(([stream, s]) => [ctx.streamLabel(stream), Math.round((s.sum / s.frames) * 10) / 10]));
        ctx.post({ type: 'element', source: ctx.name, name: 'luma', data: averages });
      },
      stop() { perStream.clear(); },
      // A stream removed from a running pipeline: forget its average.
      streamRemoved(stream) { perStream.delete(stream); },
      describe: () => ({ onView, onFull }),
      hint: () => (onFull > onView ? 'most frames were measured at full size: decode in threads (uri threaded=true) so the source makes the small view' : ''),
    };
  },
});
