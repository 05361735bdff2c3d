// netcam: a remote camera as a source (NVSS's webcam server). Listens for a camera client
// (`sluice webcam-client`, or the browser page of `sluice remote`) and emits its frames as they
// arrive, newest first: when the pipeline is slower than the camera, stale frames are skipped
// instead of queueing up.
import { resolveToken } from '../net/token.ts';
import { rejectionStats, splitHosts } from '../net/servers.ts';
import { z } from 'zod';
import { RAW, defineElement, srcPad } from '../core/element.ts';
import { newFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { AVPixels, frameFromPacked420, toPts } from '../media/av.ts';
import { WebcamServer } from '../net/servers.ts';
import { CAPTURE } from '../meta/keys.ts';

const props = z.object({
  host: p.str('127.0.0.1', 'address to listen on (use an SSH tunnel rather than 0.0.0.0)'),
  port: p.int(9000, 'TCP port for the camera client', { min: 0, max: 65535 }),
  token: p.str('', 'shared secret the client must present; empty: token-file, then SLUICE_TOKEN, else none'),
  tokenFile: p.str('', 'read the token from this file (kept out of logs and descriptions)'),
  allowHosts: p.str('', 'web=true: Host names accepted besides localhost, 127.0.0.1, ::1 and host (comma-separated; * for any)'),
  web: p.bool(false, 'serve a browser instead of the TCP protocol: the camera page and its WebSocket on this port (a display web=true on the same port shows the results on that page)'),
  numFrames: p.int(-1, 'stop after this many frames, -1 for endless', { min: -1 }),
});

export default defineElement({
  name: 'netcam',
  summary: 'Receive a remote camera (TCP client or a browser page), newest frame first',
  kind: 'source',
  pads: [srcPad([RAW], ['yuvj420p'])],
  live: () => true,
  props,
  create(o, ctx) {
    const server = new WebcamServer({ host: o.host, port: o.port, token: resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token, web: o.web, allowHosts: splitHosts(o.allowHosts) });
    let n = 0;
    let t0 = -1;
    return {
      async start() {
        const a = await server.listen();
        ctx.log.info(o.web ? `camera page at http://${a.host}:${a.port}/` : `waiting for a camera on ${a.host}:${a.port}`);
        ctx.post({ type: 'element', source: ctx.name, name: 'listening', data: a });
      },
      async produce() {
        if (o.numFrames >= 0 && n >= o.numFrames) return null;
        // Wait for the camera, but let Ctrl-C (EOS) or an error end the wait.
        let timer: ReturnType<typeof setInterval> | undefined;
        const stopped = new Promise<null>((r) => { timer = setInterval(() => { if (ctx.eosRequested || ctx.signal.aborted) r(null); }, 50); });
        const w0 = performance.now();
        const f = await Promise.race([server.read(), stopped]).finally(() => clearInterval(timer));
        // Waiting for the camera's next frame is not work (the verdict must not blame the camera).
        ctx.waited(performance.now() - w0);
        if (!f) return null;
        if (t0 < 0) t0 = f.ts;
        const pts = (f.ts - t0) / 1000;
        const av = frameFromPacked420(f, toPts(pts));
        const frame = newFrame({ stream: ctx.streamId, frame: n++, pts, width: f.width, height: f.height, format: 'yuvj420p', pixels: new AVPixels(av) });
        CAPTURE.set(frame, { seq: f.seq, ts: f.ts, client: f.client });
        // The newest frame the camera sent (NVSS: older ones were replaced unread): arrival is capture.
        frame.captured = performance.now();
        return frame;
      },
      describe() { return rejectionStats(server.stats); },
      async stop() { await server.close(); },
    };
  },
});
