// webrtc: serve encoded H.264 to browsers over WebRTC, signalled by WHEP (RFC 9725): POST an SDP
// offer to http://ADDRESS:PORT/whep/MOUNT, get the answer; the viewer page at / plays it. An `hls`
// sink on the same port shares the server (and the page falls back to it).
import { z } from 'zod';
import { defineElement, sinkPad } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { PacketPixels } from '../media/av.ts';
import { annexBNals } from '../net/rtp.ts';
import { LiveServer } from '../net/live.ts';
import { WhepMount, loadWebRtc } from '../net/whep.ts';
import { resolveToken } from '../net/token.ts';
import { splitHosts } from '../net/servers.ts';
import { requestKeyframe } from './encode.ts';

/** A limit in seconds from the environment (tests and operators shorten them), in ms. */
const seconds = (name: string, d: number) => { const v = Number(process.env[name]); return (v > 0 ? v : d) * 1000; };

export const liveServerProps = {
  port: p.int(8889, 'TCP port of the live-view HTTP server (page, WHEP, HLS; 0: any free port)', { min: 0, max: 65535 }),
  mount: p.str('live', 'name of this stream: /whep/MOUNT (webrtc) or /hls/MOUNT/index.m3u8 (hls)'),
  address: p.str('127.0.0.1', 'address to listen on (0.0.0.0 for every interface)'),
  token: p.str('', 'token viewers must give (?token= or Authorization: Bearer); empty: token-file, then SLUICE_TOKEN, else none'),
  tokenFile: p.str('', 'read the token from this file (kept out of logs and descriptions)'),
  allowHosts: p.str('', 'Host names accepted besides localhost, 127.0.0.1, ::1 and address (comma-separated; * for any)'),
  web: p.bool(false, 'answer on the port of a netcam/display web=true (same address, port and token) instead of a server of its own: the viewer page at /live, one port for sluice remote'),
};

const props = z.object({
  ...liveServerProps,
  maxViewers: p.int(32, 'viewers of this mount at once', { min: 1 }),
  maxPerAddress: p.int(8, 'viewers of this mount from one address', { min: 1 }),
  backlog: p.int(1024 * 1024, 'bytes a viewer may have waiting to be sent before it skips to the next keyframe', { min: 16 * 1024 }),
  stun: p.str('', 'STUN servers (comma-separated stun:HOST:PORT); none by default'),
  turn: p.str('', 'a TURN server (turn:HOST:PORT) with turn-user and turn-password'),
  turnUser: p.str('', 'TURN user name'),
  turnPassword: p.str('', 'TURN password'),
  icePorts: p.str('', 'UDP port range for media, FIRST-LAST (e.g. 40000-40100); any by default'),
});

export default defineElement({
  name: 'webrtc',
  summary: 'Serve encoded H.264 to browsers over WebRTC (WHEP), with a viewer page',
  kind: 'sink',
  pads: [sinkPad(['video/x-h264'])],
  props,
  pixels: () => 'none',
  doc: `Put "encode tune=zerolatency" before it (no B-frames: browsers play WebRTC in decode order):
"testsrc live=true ! encode tune=zerolatency gop=60 ! webrtc port=8889 mount=cam token=T", then open
http://127.0.0.1:8889/?token=T. Viewers join at a keyframe; their PLI/FIR ask the encoder for one.`,
  create(o, ctx) {
    let server: LiveServer | null = null;
    let mount: WhepMount | null = null;
    let seeded = false;
    let stream = -1;
    let warnedB = false;
    let lastDts = -Infinity;
    let last: Record<string, number> | null = null;
    const token = resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token;
    const ports = o.icePorts ? /^(\d+)-(\d+)$/.exec(o.icePorts) : null;
    const iceServers = [
      ...splitHosts(o.stun).map((urls) => ({ urls })),
      ...(o.turn ? [{ urls: o.turn, username: o.turnUser, credential: o.turnPassword }] : []),
    ];
    const stats = (): Record<string, number> => {
      const out: Record<string, number> = { viewers: mount?.viewers ?? 0, ...(mount?.counts ?? {}) };
      for (const [k, v] of Object.entries(server?.rejections ?? last ?? {})) out[`rejected_${k}`] = v;
      return out;
    };
    return {
      describe: stats,
      async start() {
        if (o.icePorts && (!ports || Number(ports[1]) >= Number(ports[2]) || Number(ports[2]) > 65535)) {
          throw new Err.PROPERTY(`${ctx.name}: ice-ports must be FIRST-LAST with FIRST < LAST <= 65535, e.g. 40000-40100; got "${o.icePorts}"`);
        }
        if (o.turn && (!o.turnUser || !o.turnPassword)) throw new Err.PROPERTY(`${ctx.name}: turn= needs turn-user= and turn-password=`);
        await loadWebRtc();
        server = await LiveServer.acquire({ host: o.address, port: o.port, token, allowHosts: splitHosts(o.allowHosts), guest: o.web });
        mount = new WhepMount(o.mount, {
          maxSessions: o.maxViewers, maxPerAddress: o.maxPerAddress,
          connectMs: seconds('SLUICE_WHEP_CONNECT_TIMEOUT', 10), idleMs: seconds('SLUICE_WHEP_IDLE_TIMEOUT', 15), backlogBytes: o.backlog, iceServers, iceAddress: o.address,
          icePortRange: ports ? [Number(ports[1]), Number(ports[2])] : undefined,
          requestKeyframe: () => { if (stream >= 0) requestKeyframe(ctx.negotiation, stream); },
        });
        server.addMount(mount);
        const url = server.url();
        ctx.log.info(`WebRTC viewer page at ${url}${token ? '?token=…' : ''} (WHEP at /whep/${o.mount})`);
        ctx.post({ type: 'element', source: ctx.name, name: 'webrtc-url', data: { url, port: server.port, whep: `/whep/${encodeURIComponent(o.mount)}` } });
      },
      process(frame) {
        try {
          if (!(frame.pixels instanceof PacketPixels) || frame.format !== 'h264') {
            throw new Err.FORMAT(`${ctx.name}: webrtc sends H.264 packets, not ${frame.caps} ${frame.format}; put "encode tune=zerolatency" before it`);
          }
          stream = frame.stream;
          const pkt = frame.pixels.packet;
          if (!seeded) {
            const extra = frame.pixels.stream.codecContext?.extraData;
            mount!.seed(extra ? annexBNals(extra) : [], frame.width, frame.height);
            seeded = true;
          }
          // B-frames arrive out of presentation order; WebRTC renders in arrival order and stutters.
          const pts = frame.pts;
          if (!warnedB && pts < lastDts) {
            warnedB = true;
            ctx.warn(`${ctx.name}: the stream has B-frames, which WebRTC viewers play out of order; use "encode tune=zerolatency"`);
          }
          lastDts = Math.max(lastDts, pts);
          const data = pkt.data;
          if (data) mount!.send(annexBNals(data), pts, pkt.isKeyframe);
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
