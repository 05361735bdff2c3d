// hls: serve encoded H.264 as low-latency HLS (fMP4 segments and parts, a rolling window in
// memory) at http://ADDRESS:PORT/hls/MOUNT/index.m3u8, on the live-view server that a `webrtc`
// sink on the same port shares (its page at / falls back to this mount when WebRTC cannot connect).
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { PacketPixels } from '../media/av.ts';
import { annexBNals } from '../net/rtp.ts';
import { LiveServer } from '../net/live.ts';
import { HlsMount } from '../net/hls.ts';
import { resolveToken } from '../net/token.ts';
import { splitHosts } from '../net/servers.ts';
import { liveServerProps } from './webrtc.ts';

const props = z.object({
  ...liveServerProps,
  part: p.int(200, 'target length of a part (ms): what a low-latency player fetches at a time', { min: 50, max: 5000 }),
  segment: p.num(1, 'target length of a segment (s); segments end at the first keyframe past it, so keep encode gop <= segment x fps', { min: 0.2, max: 60 }),
  window: p.int(6, 'complete segments kept in the playlist (and in memory)', { min: 2, max: 100 }),
});

export default defineElement({
  name: 'hls',
  summary: 'Serve encoded H.264 as low-latency HLS (fMP4 segments and parts)',
  kind: 'sink',
  pads: [sinkPad(['video/x-h264'])],
  props,
  pixels: () => 'none',
  doc: `Put "encode" before it with a GOP of a segment or less: "... ! encode tune=zerolatency gop=30 ! hls port=8889 mount=cam".
Play http://127.0.0.1:8889/hls/cam/index.m3u8 (add ?token=T) or open the page at http://127.0.0.1:8889/.`,
  create(o, ctx) {
    let server: LiveServer | null = null;
    let mount: HlsMount | null = null;
    let seeded = false;
    let last: Record<string, number> | null = null;
    const token = resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token;
    return {
      describe() {
        const out: Record<string, number> = { ...(mount?.counts ?? {}) };
        for (const [k, v] of Object.entries(server?.rejections ?? last ?? {})) out[`rejected_${k}`] = v;
        return out;
      },
      async start() {
        server = await LiveServer.acquire({ host: o.address, port: o.port, token, allowHosts: splitHosts(o.allowHosts), guest: o.web });
        mount = new HlsMount(o.mount, { partMs: o.part, segmentMs: o.segment * 1000, window: o.window });
        server.addMount(mount);
        const url = server.url();
        ctx.log.info(`HLS at ${url}hls/${o.mount}/index.m3u8${token ? '?token=…' : ''}`);
        ctx.post({ type: 'element', source: ctx.name, name: 'hls-url', data: { url, port: server.port, playlist: `/hls/${encodeURIComponent(o.mount)}/index.m3u8` } });
      },
      process(frame) {
        try {
          if (!(frame.pixels instanceof PacketPixels) || frame.format !== 'h264') {
            throw new Err.FORMAT(`${ctx.name}: hls serves H.264 packets, not ${frame.caps} ${frame.format}; put "encode" before it`);
          }
          const px = frame.pixels;
          if (!seeded) {
            const extra = px.stream.codecContext?.extraData;
            mount!.seed(extra ? annexBNals(extra) : [], frame.width, frame.height, px.stream.rate);
            seeded = true;
          }
          const pkt = px.packet, tb = px.stream.timeBase;
          const sec = (t: bigint | undefined, d: number) => (t === undefined || t < 0n ? d : (Number(t) * tb.num) / tb.den);
          const pts = sec(pkt.pts, frame.pts);
          const data = pkt.data;
          if (data) mount!.send(annexBNals(data), sec(pkt.dts, pts), pts, pkt.isKeyframe);
        } finally {
          releaseFrame(frame);
        }
      },
      async stop() {
        if (mount) { mount.close(); server?.removeMount(mount); }
        if (server) { last = { ...server.rejections }; await LiveServer.release(server); }
        server = null;
      },
    };
  },
});
