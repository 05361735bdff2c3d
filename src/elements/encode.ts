// encode: raw frames -> H.264 (libx264) or MJPEG packets, for file or network sinks.
// (H100/H200 have no NVENC, so encoding is on the CPU.)
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { nvidiaDriverPresent } from '../infer/backends.ts';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';
import { PacketPixels, avOf } from '../media/av.ts';
import { MAX_AUTO_THREADS, VideoEncoder, sizeRule } from '../media/writer.ts';
import type { Frame } from '../core/frame.ts';

const PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow'] as const;

export const encodeProps = {
  codec: p.enum(['h264', 'mjpeg'], 'h264', 'video codec (libx264 or MJPEG)'),
  preset: p.enum(PRESETS, 'veryfast', 'x264 speed/quality preset'),
  crf: p.int(23, 'x264 constant rate factor: lower is better quality, bigger files', { min: 0, max: 51 }),
  bitrate: p.int(0, 'target bits per second; 0 uses constant quality (crf)', { min: 0 }),
  gop: p.int(0, 'keyframe interval in frames; 0 for the codec default (a short gop lets RTSP clients start sooner)', { min: 0 }),
  tune: p.enum(['none', 'zerolatency', 'film', 'animation', 'grain', 'stillimage', 'fastdecode'], 'none', 'x264 tune; zerolatency: no frame delay in the encoder (live streaming)'),
  quality: p.int(4, 'MJPEG quality, 2 (best) to 31', { min: 1, max: 31 }),
  fps: p.num(0, 'output frame rate; 0 takes it from the stream', { min: 0 }),
  threads: p.int(0, `encoder threads; 0: auto, the cores this process may use (at most ${MAX_AUTO_THREADS}; x264 without zerolatency: 1.5 a core). With tune=zerolatency x264 uses slice threads (each encodes a band of the same frame, no added delay), otherwise frame threads (a frame of delay each)`, { min: 0, max: 128 }),
};

/** What to try when encoding is the bottleneck (shared with `file`, which encodes raw frames). */
export function encodeHint(o: { codec: string; preset: string; threads?: number }): string {
  if (o.codec === 'mjpeg') return 'encode a smaller size (scale) or fewer frames (rate)';
  const i = PRESETS.indexOf(o.preset as never);
  // A thread count below the cores given leaves some idle while encode is the bottleneck.
  const cores = availableParallelism();
  const more = o.threads && o.threads < Math.min(cores, MAX_AUTO_THREADS) ? `threads=0 (${Math.min(cores, MAX_AUTO_THREADS)} threads), ` : '';
  const faster = `${more}${i > 0 ? `preset=${PRESETS[Math.max(0, i - 2)]}, ` : ''}`;
  // NVENC advice only where there is an NVIDIA GPU (and H100/H200 have none: say so there).
  return `${faster ? `try ${faster}` : ''}encode a smaller size (scale) or fewer frames (rate); codec=mjpeg costs less CPU${nvidiaDriverPresent() ? ' (this encoder runs on the CPU; H100/H200 have no NVENC)' : ''}`;
}

/**
 * Asking the encoder of `stream` for a keyframe (GStreamer's force-key-unit event), through the
 * pipeline's negotiation table: a sink (webrtc, on a viewer's PLI/FIR or join) sets the flag, the
 * next frame `encode` takes of that stream is encoded as an IDR and the flag is cleared.
 */
export const keyframeRequestKey = (stream: number) => `force-key-unit:${stream}`;
export function requestKeyframe(negotiation: Map<string, unknown>, stream: number): void { negotiation.set(keyframeRequestKey(stream), true); }

const CAPS = { h264: 'video/x-h264', mjpeg: 'image/jpeg' } as const;

export default defineElement({
  name: 'encode',
  summary: 'Encode raw frames to H.264 or MJPEG packets',
  kind: 'filter',
  pads: [sinkPad(), srcPad(['video/x-h264', 'image/jpeg'])],
  props: z.object(encodeProps),
  doc: 'Each frame is encoded off the main thread (node-av runs the call on libuv\'s pool) by x264\'s own threads: with tune=zerolatency slice threads, so one 1080p frame takes several cores without adding delay; otherwise frame threads (a frame of delay each). The report\'s `resolved` shows what it costs and how it ran: encodeMsP50/encodeMsP99 (ms an encode call takes), framesEncoded, threads and slicedThreads (as x264 reports them in the stream), preset, tune.',
  sizeRule: (o, w, h) => sizeRule(o.codec, w, h),
  create(o, ctx) {
    // Encoded streams go into containers that want headers out of band (mp4, mkv).
    const enc = new VideoEncoder({ ...o, globalHeader: true }, (message) => ctx.warn(message));
    let meta: Frame[] = [];
    const emit = async (packets: import('node-av/lib').Packet[]) => {
      for (const pkt of packets) {
        // Packets come out in decode order; pair each with the oldest frame's metadata.
        const f = meta.shift();
        if (!f) { pkt.free(); continue; }
        f.pixels = new PacketPixels(pkt, enc.info!);
        // The encoder's own times (strictly increasing in 1/rate units, as it was given them):
        // what rtsp stamps and file writes, and the rate the stream declares.
        const tb = enc.info!.rate;
        if (pkt.pts !== undefined && pkt.pts >= 0n) f.pts = Number(pkt.pts) / tb;
        f.rate = tb;
        f.caps = CAPS[o.codec];
        f.format = o.codec;
        await ctx.push(f);
      }
    };
    return {
      async process(frame) {
        const av = avOf(frame.pixels, ctx.name);
        const key = keyframeRequestKey(frame.stream);
        const force = ctx.negotiation.get(key) === true;
        if (force) ctx.negotiation.delete(key);
        const packets = await enc.encode(av, frame.pts, frame.rate, force);
        frame.pixels!.release();
        frame.pixels = null;
        meta.push(frame);
        await emit(packets);
      },
      async flush() { await emit(await enc.flush()); },
      hint: () => encodeHint(o),
      // Its cost (ms an encode call takes, p50/p99), threads and settings; frames scaled to the
      // encoder's size after the input changed resolution (framesRescaled).
      describe: () => enc.describe(),
      stop() {
        enc.close();
        meta = [];
      },
    };
  },
});
