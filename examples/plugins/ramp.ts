// A source written outside Sluice (docs/writing-elements.md, "Sources"): gray frames whose
// brightness climbs by `step` each frame, optionally paced as a camera. Loaded with
// `sluice --plugin examples/plugins/ramp.ts`; it imports only the public API, from 'sluice'.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineElement, media, newFrame, props, srcPad, z } from 'sluice';

export default defineElement({
  name: 'ramp',
  summary: 'Gray frames getting brighter by a step each frame',
  kind: 'source',
  // Its pad says what it makes, so a link to an element that takes other formats converts.
  pads: [srcPad(['video/x-raw'], ['gray'])],
  props: z.object({
    width: props.int(64, 'frame width', { min: 2, max: 4096 }),
    height: props.int(48, 'frame height', { min: 2, max: 4096 }),
    start: props.int(16, 'luma of the first frame', { min: 0, max: 255 }),
    step: props.int(8, 'added to the luma each frame (wrapping at 256)', { min: 0, max: 255 }),
    fps: props.num(30, 'frames per second (pts; with live=true also the pace)', { min: 1, max: 1000 }),
    numFrames: props.int(30, 'frames to make, -1 for endless', { min: -1 }),
    live: props.bool(false, 'pace frames at fps, as a camera would'),
  }),
  // Known before start: an encoder that wants even sizes refuses an odd one at link time.
  outSize: (o) => ({ width: o.width, height: o.height }),
  // Live or endless: a recording of it may be cut off (ctx.upstreamLive downstream).
  live: (o) => o.live || o.numFrames < 0,
  // It reads no pixels of anyone's.
  pixels: () => 'none',
  create(o, ctx) {
    const gray = media.pixFmtFromName('gray');
    let n = 0, t0 = 0;
    return {
      async produce() {
        if ((o.numFrames >= 0 && n >= o.numFrames) || ctx.eosRequested) return null; // null: end of stream
        if (o.live) {
          t0 ||= performance.now();
          const wait = t0 + (n * 1000) / o.fps - performance.now();
          // Time spent waiting for the frame's due time is not work: the verdict leaves it out.
          if (wait > 0) { await sleep(wait, undefined, { signal: ctx.signal }).catch(() => {}); ctx.waited(wait); }
        }
        const pts = n / o.fps;
        const av = media.allocVideoFrame(o.width, o.height, gray, media.toPts(pts));
        av.data![0]!.fill((o.start + n * o.step) % 256);
        return newFrame({ stream: ctx.streamId, frame: n++, pts, rate: o.fps, width: o.width, height: o.height, format: 'gray', pixels: new media.AVPixels(av), ...(o.live ? { captured: performance.now() } : {}) });
      },
    };
  },
});
