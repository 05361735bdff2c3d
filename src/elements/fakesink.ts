// fakesink: consume and release frames (the end of a pipeline that only measures).
import { z } from 'zod';
import { defineElement, joinSinkPads } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';

export default defineElement({
  name: 'fakesink',
  summary: 'Discard frames (counts them in the report)',
  kind: 'sink',
  pads: [joinSinkPads(['ANY'])],
  pixels: () => 'none',
  props: z.object({}),
  create() {
    return { process: (frame) => releaseFrame(frame) };
  },
});
