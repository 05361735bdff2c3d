// rtsp: serve encoded H.264 over RTSP (DeepStream's GstRtspServer sink, slipstream's
// rtsp://HOST:8554/ds). Several rtsp sinks may share a port with different mounts. With a user
// or password, clients must authenticate: the server offers Digest (MD5, signed nonces) and
// Basic, and takes either (src/net/rtsp.ts).
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { PacketPixels } from '../media/av.ts';
import { RtspServer, type Mount } from '../net/rtsp.ts';
import { annexBNals } from '../net/rtp.ts';

const props = z.object({
  port: p.int(8554, 'TCP port of the RTSP server (0: any free port)', { min: 0, max: 65535 }),
  mount: p.str('/ds', 'path of this stream: rtsp://ADDRESS:PORT/MOUNT'),
  address: p.str('127.0.0.1', 'address to listen on (0.0.0.0 for every interface)'),
  user: p.str('', 'user name clients must give (Digest or Basic auth); empty: no auth'),
  password: p.str('', 'password clients must give; SLUICE_RTSP_PASSWORD is read when this is empty'),
});

export default defineElement({
  name: 'rtsp',
  summary: 'Serve encoded H.264 as an RTSP stream (RTP over TCP or UDP)',
  kind: 'sink',
  pads: [sinkPad(['video/x-h264'])],
  props,
  doc: `Put "encode" (H.264) before it: "... ! osd ! encode gop=30 ! rtsp port=8554 mount=/ds".
Clients join at the next keyframe, so a short gop makes them start sooner.`,
  create(o, ctx) {
    let server: RtspServer | null = null;
    let mount: Mount | null = null;
    let seeded = false;
    let lastRejections: Record<string, number> | null = null;
    const password = o.password || process.env.SLUICE_RTSP_PASSWORD || '';
    return {
      describe() {
        const out: Record<string, number> = { clients: server?.clientCount ?? 0 };
        // After stop the server is gone: the report shows its counts as they ended.
        for (const [k, v] of Object.entries(server?.rejections ?? lastRejections ?? {})) out[`rejected_${k}`] = v;
        return out;
      },
      async start() {
        if (password && !o.user) throw new Err.PROPERTY(`${ctx.name}: a password needs user=NAME too`);
        server = await RtspServer.acquire(o.address, o.port);
        mount = server.addMount(o.mount, { user: o.user || undefined, password: password || undefined });
        const url = server.url(mount);
        ctx.log.info(`serving ${url}`);
        ctx.post({ type: 'element', source: ctx.name, name: 'rtsp-url', data: { url, port: server.port } });
      },
      process(frame) {
        try {
          if (!(frame.pixels instanceof PacketPixels) || frame.format !== 'h264') {
            throw new Err.FORMAT(`${ctx.name}: rtsp serves H.264 packets, not ${frame.caps} ${frame.format}; put "encode" before it`);
          }
          const pkt = frame.pixels.packet;
          if (!seeded) {
            // Out-of-band parameter sets (global header) go into the SDP and before keyframes.
            const extra = frame.pixels.stream.codecContext?.extraData;
            // Not sent as an access unit of its own: one without a picture makes readers see a packet with no timestamp.
            if (extra) mount!.seed(annexBNals(extra));
            seeded = true;
          }
          const data = pkt.data;
          if (data) mount!.send(annexBNals(data), frame.pts, pkt.isKeyframe);
        } finally {
          releaseFrame(frame);
        }
      },
      async stop() {
        if (server && mount) server.removeMount(mount);
        if (server) { lastRejections = { ...server.rejections }; await RtspServer.release(server); }
        server = null;
      },
    };
  },
});
