// file: write video to a file. Raw frames are encoded here (codec from the name or codec=);
// packets from `encode` are muxed as they are. Ctrl-C/EOS writes the trailer so the file plays.
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { ensureParentDir } from '../core/files.ts';
import { PacketPixels, avOf } from '../media/av.ts';
import { FileMuxer, VideoEncoder, containerFor, needsGlobalHeader, sizeRule } from '../media/writer.ts';
import { encodeHint, encodeProps } from './encode.ts';

const props = z.object({
  location: p.str('', 'output file (.mp4, .mkv, .mov, .avi, .ts; .jpg writes one JPEG, rewritten each frame, and NAME-%05d.jpg a numbered sequence)'),
  format: p.str('', 'container (mp4, matroska, avi, mpegts...); empty picks it from the file name'),
  createDirs: p.bool(false, 'create the folder of location when it does not exist'),
  fragmented: p.enum(['auto', 'on', 'off'], 'auto', 'mp4/mov as fragments (at each keyframe and at least every second) that play even if the process is killed; auto: on for live or endless sources, and for sources longer than a minute'),
  ...encodeProps,
});

/** fragmented=auto: a source longer than this (seconds) is written as fragments. */
const LONG_SOURCE_S = 60;

export default defineElement({
  name: 'file',
  summary: 'Write frames (encoding raw ones) or encoded packets into a video file',
  kind: 'sink',
  pads: [sinkPad(['video/x-raw', 'video/x-h264', 'image/jpeg'])],
  props,
  files: (o) => ({ writes: o.location ? [o.location] : [] }),
  sizeRule: (o, w, h) => sizeRule(o.codec, w, h),
  create(o, ctx) {
    if (!o.location) throw new Err.PROPERTY('file needs location=PATH (e.g. location=out.mp4)');
    ensureParentDir(o.location, o.createDirs, ctx.name);
    const format = containerFor(o.location, o.format);
    // A long finite source is fragmented too: a kill -9 (or a full disk) an hour into a standard
    // mp4 leaves no index, so nothing plays. Sources declare their length (`duration:<stream>`
    // in the negotiation table, seconds) once they have opened, before the first packet.
    const long = () => [...ctx.negotiation].some(([k, v]) => k.startsWith('duration:') && typeof v === 'number' && v > LONG_SOURCE_S);
    const mux = new FileMuxer(o.location, format, o.fragmented === 'on' ? true : o.fragmented === 'off' ? false : () => ctx.upstreamLive || long());
    let enc: VideoEncoder | null = null;
    const codec = format === 'image2' && !ctx.explicit.has('codec') ? 'mjpeg' as const : o.codec;
    const writeAll = async (packets: import('node-av/lib').Packet[]) => {
      for (const pkt of packets) {
        try { await mux.write(pkt, enc!.info!); } finally { pkt.free(); }
      }
    };
    return {
      async start() { await mux.open(); },
      async process(frame) {
        try {
          if (frame.pixels instanceof PacketPixels) {
            await mux.write(frame.pixels.packet, frame.pixels.stream);
          } else {
            const av = avOf(frame.pixels, ctx.name);
            // A .jpg (image2) is MJPEG unless a codec was asked for.
            enc ??= new VideoEncoder({ ...o, codec, globalHeader: needsGlobalHeader(format) }, (message) => ctx.warn(message));
            await writeAll(await enc.encode(av, frame.pts, frame.rate));
          }
        } finally {
          releaseFrame(frame);
        }
      },
      // Muxing packets costs little; the time goes to encoding raw frames.
      hint: () => (enc ? encodeHint({ ...o, codec }) : ''),
      // Frames it encoded itself: what that costs, as encode reports it.
      describe: () => enc?.describe() ?? {},
      async flush() {
        if (enc) await writeAll(await enc.flush());
        await mux.close();
        ctx.log.info(`wrote ${o.location} (${mux.packets} packets)`);
      },
      async stop() {
        // After an error the file is still closed properly, with what was written so far (the
        // error already reported is the one that counts: a second one closing is not news).
        await mux.close().catch(() => {});
        enc?.close();
      },
    };
  },
});
