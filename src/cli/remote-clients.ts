// Laptop-side CLI clients of the remote camera protocol: webcam-client streams a video file (as
// a camera) to a netcam/WebcamServer; view receives a display/StreamServer and writes a file.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, Err } from '../core/errors.ts';
import { VideoSource } from '../media/source.ts';
import { Scaler } from '../media/scale.ts';
import { frameFromPacked420, toPts } from '../media/av.ts';
import { FileMuxer, VideoEncoder, containerFor, needsGlobalHeader } from '../media/writer.ts';
import { JpegCodec } from '../net/jpeg.ts';
import { StreamServer } from '../net/servers.ts';
import { FORMAT_JPEG, MessageParser, TYPE_FRAME, TYPE_HELLO, encodeMessage } from '../net/protocol.ts';
import { getLogger } from '../core/log.ts';

function parseServer(s: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(s);
  if (!m) throw new Err.PROPERTY(`--server must be HOST:PORT (got "${s}")`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

async function dial(server: string, token: string): Promise<Socket> {
  const { host, port } = parseServer(server);
  const s = connect(port, host);
  s.setNoDelay(true);
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', (e) => rej(new Err.IO(`cannot connect to ${host}:${port}: ${e.message}`))); });
  s.write(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(token) }));
  return s;
}

/** Stream a video file to a camera server at its own frame rate (a camera stand-in). */
export async function webcamClient(o: { server: string; file?: string; device?: string; token: string; width: number; height: number; quality: number; loop: boolean; frames: number }): Promise<number> {
  const camera = o.device !== undefined;
  // Open the input first: a missing camera or file is reported before anything connects.
  const src = new VideoSource({ location: (camera ? o.device : o.file)!, hw: 'none', loop: o.loop && !camera, log: getLogger('webcam-client'), camera: camera ? { width: o.width, height: o.height } : undefined });
  await src.open();
  const s = await dial(o.server, o.token).catch(async (e) => { await src.close(); throw e; });
  let closed = false;
  s.on('close', () => { closed = true; });
  const scaler = new Scaler({ width: o.width, height: o.height, format: 'yuvj420p', letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
  const codec = new JpegCodec();
  const fps = src.rate || 30;
  const t0 = performance.now();
  let n = 0;
  try {
    for (; !closed && (o.frames < 0 || n < o.frames); n++) {
      const d = await src.next();
      if (!d) break;
      const { av } = await scaler.scale(d.av);
      d.av.free();
      const jpeg = await codec.encode({ width: av.width, height: av.height, format: 'yuvj420p', data: av.toBuffer() }, o.quality);
      av.free();
      // Backpressure from the socket: a camera does not queue; wait for the wire.
      if (!s.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: n, ts: Date.now(), width: o.width, height: o.height, payload: jpeg }))) await new Promise((r) => s.once('drain', r));
      // A file plays at its own frame rate; a camera paces itself.
      const wait = camera ? 0 : t0 + ((n + 1) * 1000) / fps - performance.now();
      if (wait > 0) await sleep(wait);
    }
  } finally {
    s.end();
    scaler.close();
    await src.close();
    await codec.close();
  }
  return n;
}

/** Receive a display stream and write it to a file (H.264, or whatever the name says). */
export async function view(o: { server: string; out: string; token: string; frames: number; seconds: number }): Promise<number> {
  const s = await dial(o.server, o.token);
  const codec = new JpegCodec();
  const format = containerFor(o.out, '');
  const mux = new FileMuxer(o.out, format);
  await mux.open();
  const enc = new VideoEncoder({ codec: 'h264', fps: 30, preset: 'veryfast', crf: 23, bitrate: 0, gop: 0, quality: 4, globalHeader: needsGlobalHeader(format) });
  const parser = new MessageParser();
  let n = 0, t0 = -1, pending = 0;
  let chain: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve) => {
    const finish = () => resolve();
    s.on('close', finish);
    if (o.seconds > 0) setTimeout(() => s.destroy(), o.seconds * 1000).unref();
    s.on('data', (c: Buffer) => {
      for (const m of parser.push(c)) {
        if (o.frames >= 0 && n >= o.frames) { s.destroy(); return; }
        n++;
        // Decode and encode in order; the socket keeps reading meanwhile, but only a few frames
        // ahead: past that it pauses, TCP pushes back, and the server skips frames for this
        // slow viewer (its per-viewer backlog check) instead of this process buffering them.
        if (++pending >= 8) s.pause();
        chain = chain.then(async () => {
          const img = await codec.decode(m.payload);
          if (t0 < 0) t0 = m.ts;
          const av = frameFromPacked420(img, toPts((m.ts - t0) / 1000));
          for (const pkt of await enc.encode(av, (m.ts - t0) / 1000, 30)) { await mux.write(pkt, enc.info!); pkt.free(); }
          av.free();
        }).finally(() => { if (--pending < 4 && s.isPaused()) s.resume(); });
      }
    });
  });
  await done;
  await chain;
  for (const pkt of await enc.flush()) { await mux.write(pkt, enc.info!); pkt.free(); }
  await mux.close();
  enc.close();
  await codec.close();
  return n;
}

/**
 * Receive a display stream and show it in a local browser page: the JPEGs are relayed as they
 * are (no re-encoding) to a page on this machine. Resolves when the server closes or on stop().
 */
export async function viewInBrowser(o: { server: string; token: string; host: string; port: number; onListening?: (url: string) => void; signal?: AbortSignal }): Promise<number> {
  // Connect first: an unreachable server is reported before anything listens here.
  const s = await dial(o.server, o.token);
  const local = new StreamServer({ host: o.host, port: o.port, web: true });
  const a = await local.listen().catch(async (e) => { s.destroy(); await local.close(); throw e; });
  o.onListening?.(`http://${a.host}:${a.port}/`);
  const parser = new MessageParser();
  let n = 0;
  await new Promise<void>((resolve) => {
    s.on('close', () => resolve());
    s.on('error', () => resolve());
    o.signal?.addEventListener('abort', () => s.destroy());
    s.on('data', (c: Buffer) => {
      for (const m of parser.push(c)) {
        n++;
        local.writeJpeg(m.payload, m);
      }
    });
  });
  await local.close();
  return n;
}
