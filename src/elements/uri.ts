// uri: read a video file or network URL (demux + decode via FFmpeg), like uridecodebin.
import { z } from 'zod';
import { defineElement, srcPad } from '../core/element.ts';
import { newFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { SluiceError, Err } from '../core/errors.ts';
import { isLocalPath } from '../core/files.ts';
import { AVPixels, pixFmtName } from '../media/av.ts';
import { VideoSource } from '../media/source.ts';

const props = z.object({
  location: p.str('', 'file path or URL (rtsp://, http://, file://) to read'),
  hw: p.enum(['auto', 'cuda', 'none'], 'auto', 'hardware decoding: auto uses NVDEC when a CUDA device is present'),
  loop: p.bool(false, 'start again from the beginning at the end (endless)'),
  numFrames: p.int(-1, 'stop after this many frames, -1 for all', { min: -1 }),
});

export default defineElement({
  name: 'uri',
  summary: 'Decode video from a file or URL (FFmpeg demux + decode, NVDEC when available)',
  kind: 'source',
  pads: [srcPad()],
  props,
  files: (o) => ({ reads: isLocalPath(o.location) ? [o.location] : [] }),
  create(o, ctx) {
    const src = new VideoSource({ location: o.location, hw: o.hw, loop: o.loop, log: ctx.log });
    let n = 0;
    return {
      async start() {
        if (!o.location) throw new Err.PROPERTY('uri needs location=PATH_OR_URL');
        await src.open();
        ctx.log.info(`${o.location}: ${src.width}x${src.height} @ ${src.rate.toFixed(2)} fps, ${src.usingHw ? 'NVDEC' : 'CPU'} decode`);
      },
      async produce() {
        if (o.numFrames >= 0 && n >= o.numFrames) return null;
        const d = await src.next();
        if (!d) {
          const lost = src.framesLost;
          if (lost > 0) ctx.post({ type: 'warning', source: ctx.name, message: `${o.location} ended after ${src.decodedThisPass} of the ${src.expectedFrames} frames it declares: the file is truncated or corrupt (${lost} frames lost)` });
          return null;
        }
        return newFrame({
          stream: ctx.streamId, frame: n++, pts: d.pts, rate: src.rate,
          width: d.av.width, height: d.av.height, format: pixFmtName(d.av.format as never), pixels: new AVPixels(d.av),
        });
      },
      hint: () => src.usingHw
        // NVDEC frames are downloaded to CPU memory here; many CPU cores often decode faster.
        ? 'NVDEC decode includes the download to CPU memory; compare hw=none, or split the streams over GPUs'
        : 'try hw=cuda (NVDEC), a smaller input, or fewer streams per process',
      async stop() { await src.close(); },
    };
  },
});
