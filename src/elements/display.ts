// display: send frames to remote viewers as JPEG (NVSS's stream server). Never blocks the
// pipeline: a busy encoder keeps only the newest frame; with max-mbps the quality adapts to
// the bandwidth. Frames carry the camera's capture time when they came from netcam, so viewers
// can show end-to-end latency.
import { resolveToken } from '../net/token.ts';
import { rejectionStats, splitHosts } from '../net/servers.ts';
import { z } from 'zod';
import { RAW, defineElement, sinkPad } from '../core/element.ts';
import { Err } from '../core/errors.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { avOf } from '../media/av.ts';
import { StreamServer } from '../net/servers.ts';
import { CAPTURE } from '../meta/keys.ts';

const props = z.object({
  host: p.str('127.0.0.1', 'address to listen on'),
  port: p.int(9001, 'TCP port viewers connect to', { min: 0, max: 65535 }),
  token: p.str('', 'shared secret viewers must present; empty: token-file, then SLUICE_TOKEN, else none'),
  tokenFile: p.str('', 'read the token from this file (kept out of logs and descriptions)'),
  allowHosts: p.str('', 'web=true: Host names accepted besides localhost, 127.0.0.1, ::1 and host (comma-separated; * for any)'),
  web: p.bool(false, 'serve browsers instead of the TCP protocol: a page, a WebSocket and /stream.mjpeg on this port (share it with a netcam web=true)'),
  maxMbps: p.num(0, 'bandwidth cap in MB/s (JPEG quality adapts); 0: constant quality', { min: 0 }),
  quality: p.int(5, 'JPEG quality, 2 (best) to 31', { min: 2, max: 31 }),
});

export default defineElement({
  name: 'display',
  summary: 'Serve frames to remote viewers as JPEG (TCP or browsers), never blocking',
  kind: 'sink',
  pads: [sinkPad([RAW], ['yuv420p', 'yuvj420p'])],
  props,
  create(o, ctx) {
    const server = new StreamServer({ host: o.host, port: o.port, token: resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token, maxMBps: o.maxMbps, quality: o.quality, web: o.web, allowHosts: splitHosts(o.allowHosts) });
    return {
      async start() {
        const a = await server.listen();
        ctx.post({ type: 'element', source: ctx.name, name: 'listening', data: a });
      },
      process(frame) {
        try {
          if (frame.format !== 'yuvj420p' && frame.format !== 'yuv420p') {
            throw new Err.FORMAT(`${ctx.name}: display sends 4:2:0 frames, not ${frame.format}; put "scale format=yuv420p" before it`);
          }
          // Nobody watching: skip the copy out of the native frame (the server would drop it).
          if (server.viewerCount === 0) return;
          const data = avOf(frame.pixels, ctx.name).toBuffer();
          const cap = CAPTURE.get(frame);
          // The camera's identity travels with the frame, so each page sees its own camera.
          server.write({ width: frame.width, height: frame.height, format: frame.format, data }, { seq: cap?.seq ?? frame.frame, ts: cap?.ts ?? Date.now(), client: cap?.client });
        } finally {
          releaseFrame(frame);
        }
      },
      describe() { return rejectionStats(server.stats); },
      async stop() { await server.close(); },
    };
  },
});
