// Laptop-side CLI clients of the remote camera protocol: webcam-client streams a video file (as
// a camera) to a netcam/WebcamServer; view receives a display/StreamServer and writes a file.
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError, Err } from '../core/errors.ts';
import { VideoSource } from '../media/source.ts';
import { Scaler } from '../media/scale.ts';
import { frameFromPacked420, toPts } from '../media/av.ts';
import { FileMuxer, VideoEncoder, containerFor, needsGlobalHeader } from '../media/writer.ts';
import { JpegCodec } from '../net/jpeg.ts';
import { StreamServer } from '../net/servers.ts';
import { END_OF_STREAM, FORMAT_JPEG, MessageParser, TYPE_ERROR, TYPE_FRAME, TYPE_HELLO, encodeMessage, type Message } from '../net/protocol.ts';
import { getLogger } from '../core/log.ts';

function parseServer(s: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(s);
  if (!m) throw new Err.PROPERTY(`--server must be HOST:PORT (got "${s}")`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

interface Link {
  s: Socket;
  /** Whole frames received (a display's; a camera server sends none). */
  onFrame(fn: (m: Message) => void): void;
  /** Resolves when the connection is gone, with the server's reason if it gave one. */
  closed: Promise<string | null>;
}

async function dial(server: string, token: string): Promise<Link> {
  const { host, port } = parseServer(server);
  const s = connect(port, host);
  s.setNoDelay(true);
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', (e) => rej(new Err.IO(`cannot connect to ${host}:${port}: ${e.message}`))); });
  s.on('error', () => { /* reported through closed */ });
  s.write(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(token) }));
  const parser = new MessageParser();
  let reason: string | null = null;
  let frameFn: ((m: Message) => void) | null = null;
  s.on('data', (c: Buffer) => {
    let msgs: Message[];
    try { msgs = parser.push(c); } catch (e) { reason = `bad data from the server: ${(e as Error).message}`; s.destroy(); return; }
    for (const m of msgs) {
      // The server says why before it closes (wrong token, too many connections...).
      if (m.type === TYPE_ERROR) reason = m.payload.toString('utf8');
      else if (m.type === TYPE_FRAME) frameFn?.(m);
    }
  });
  const closed = new Promise<string | null>((r) => s.once('close', () => r(reason)));
  return { s, onFrame: (fn) => { frameFn = fn; }, closed };
}

/** The coded error for a connection the server ended (null: it ended its stream normally). */
function refused(server: string, reason: string | null, after: string): SluiceError | null {
  if (reason === END_OF_STREAM) return null;
  if (reason && /token/.test(reason)) return new Err.AUTH(`${server} refused the connection: ${reason}; check --token (or SLUICE_TOKEN / --token-file)`);
  return new Err.IO(`${server} closed the connection ${after}${reason ? `: ${reason}` : ''}; use --reconnect to keep trying`);
}

/**
 * Stream a camera or a video file to a camera server at its own frame rate. Ends after --frames,
 * --seconds or the file; a server that refuses or drops the connection is an error unless
 * `reconnect` (then it dials again every second).
 */
export async function webcamClient(o: { server: string; file?: string; device?: string; token: string; width: number; height: number; quality: number; loop: boolean; frames: number; seconds?: number; reconnect?: boolean }): Promise<number> {
  const camera = o.device !== undefined;
  // Open the input first: a missing camera or file is reported before anything connects.
  const src = new VideoSource({ location: (camera ? o.device : o.file)!, hw: 'none', loop: o.loop && !camera, log: getLogger('webcam-client'), camera: camera ? { width: o.width, height: o.height } : undefined });
  await src.open();
  const scaler = new Scaler({ width: o.width, height: o.height, format: 'yuvj420p', letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
  const codec = new JpegCodec();
  const fps = src.rate || 30;
  const t0 = performance.now();
  const until = o.seconds && o.seconds > 0 ? t0 + o.seconds * 1000 : Infinity;
  let n = 0;
  let link: Link | null = null;
  let gone: string | null | undefined;
  const connectLink = async () => {
    link = await dial(o.server, o.token);
    gone = undefined;
    void link.closed.then((r) => { gone = r; });
  };
  try {
    await connectLink();
    for (; (o.frames < 0 || n < o.frames) && performance.now() < until; n++) {
      if (gone !== undefined) {
        // Let a refusal's reason arrive with the close.
        const why = gone;
        const err = refused(o.server, why, `after ${n} frames`);
        if (!err) break;
        if (!o.reconnect) throw err;
        process.stderr.write(`webcam-client: ${o.server} closed the connection${why ? ` (${why})` : ''}; reconnecting\n`);
        await sleep(1000);
        try { await connectLink(); } catch { n--; continue; }
      }
      const d = await src.next();
      if (!d) break;
      const { av } = await scaler.scale(d.av);
      d.av.free();
      const jpeg = await codec.encode({ width: av.width, height: av.height, format: 'yuvj420p', data: av.toBuffer() }, o.quality);
      av.free();
      const s = link!.s;
      // Backpressure from the socket: a camera does not queue; wait for the wire (or its end).
      if (!s.destroyed && !s.write(encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: n, ts: Date.now(), width: o.width, height: o.height, payload: jpeg }))) {
        await Promise.race([new Promise((r) => s.once('drain', r)), link!.closed]);
      }
      // A file plays at its own frame rate; a camera paces itself.
      const wait = camera ? 0 : t0 + ((n + 1) * 1000) / fps - performance.now();
      if (wait > 0) await sleep(wait);
    }
    // A refusal can come after the last frame was written: say so rather than exit 0.
    if (link) {
      const l: Link = link;
      l.s.end();
      const why = await Promise.race([l.closed, sleep(300).then(() => undefined)]);
      const err = why ? refused(o.server, why, `after ${n} frames`) : null;
      if (err && !o.reconnect) throw err;
    }
  } finally {
    if (link) (link as Link).s.destroy();
    scaler.close();
    await src.close();
    await codec.close();
  }
  return n;
}

/**
 * Receive a display stream and write it to a file as it arrives (fragmented MP4: a fragment a
 * second, so Ctrl-C, a kill or a crash leaves a file that plays up to the last one). Ends after
 * --frames or --seconds; a server that refuses or closes the connection is an error (the file is
 * still finalised) unless `reconnect`.
 */
export async function view(o: { server: string; out: string; token: string; frames: number; seconds: number; reconnect?: boolean; signal?: AbortSignal }): Promise<number> {
  let link = await dial(o.server, o.token);
  const codec = new JpegCodec();
  const format = containerFor(o.out, '');
  const mux = new FileMuxer(o.out, format, true);
  await mux.open();
  const enc = new VideoEncoder({ codec: 'h264', fps: 30, preset: 'veryfast', crf: 23, bitrate: 0, gop: 30, quality: 4, globalHeader: needsGlobalHeader(format) });
  let n = 0, t0 = -1, pending = 0, lastTs = -1;
  let chain: Promise<void> = Promise.resolve();
  let finished = false;
  const stopTimer = o.seconds > 0 ? setTimeout(() => { finished = true; link.s.destroy(); }, o.seconds * 1000) : null;
  stopTimer?.unref();
  o.signal?.addEventListener('abort', () => { finished = true; link.s.destroy(); }, { once: true });
  const take = (m: Message) => {
    if (finished) return;
    if (o.frames >= 0 && n >= o.frames) { finished = true; link.s.destroy(); return; }
    n++;
    // Decode and encode in order; the socket keeps reading meanwhile, but only a few frames
    // ahead: past that it pauses, TCP pushes back, and the server skips frames for this
    // slow viewer (its per-viewer backlog check) instead of this process buffering them.
    const s = link.s;
    if (++pending >= 8) s.pause();
    chain = chain.then(async () => {
      const img = await codec.decode(m.payload);
      if (t0 < 0) t0 = m.ts;
      // Timestamps only go forward (a reconnect to a restarted server starts its clock again).
      const t = Math.max((m.ts - t0) / 1000, lastTs + 1 / 30);
      lastTs = t;
      const av = frameFromPacked420(img, toPts(t));
      for (const pkt of await enc.encode(av, t, 30)) { await mux.write(pkt, enc.info!); pkt.free(); }
      av.free();
    }).finally(() => { if (--pending < 4 && s.isPaused()) s.resume(); });
  };
  let failure: SluiceError | null = null;
  try {
    for (;;) {
      link.onFrame(take);
      const why = await link.closed;
      if (finished) break;
      const err = refused(o.server, why, `after ${n} frames`);
      if (!err) break;
      if (!o.reconnect) { failure = err; break; }
      process.stderr.write(`view: ${o.server} closed the connection${why ? ` (${why})` : ''}; reconnecting\n`);
      for (;;) {
        await sleep(1000);
        if (finished) break;
        try { link = await dial(o.server, o.token); break; } catch { /* keep trying */ }
      }
      if (finished) break;
    }
  } finally {
    if (stopTimer) clearTimeout(stopTimer);
    await chain.catch(() => {});
    for (const pkt of await enc.flush()) { await mux.write(pkt, enc.info!); pkt.free(); }
    await mux.close();
    enc.close();
    await codec.close();
    // Nothing arrived (a refused token, a server that closed at once): no 0-byte file is left
    // behind to be mistaken for a recording.
    if (mux.packets === 0) rmSync(o.out, { force: true });
  }
  if (failure) throw failure;
  return n;
}

/**
 * Receive a display stream and show it in a local browser page: the JPEGs are relayed as they
 * are (no re-encoding) to a page on this machine. Resolves when the server closes or on stop().
 */
export async function viewInBrowser(o: { server: string; token: string; host: string; port: number; onListening?: (url: string) => void; signal?: AbortSignal }): Promise<number> {
  // Connect first: an unreachable server is reported before anything listens here.
  const link = await dial(o.server, o.token);
  const local = new StreamServer({ host: o.host, port: o.port, web: true });
  const a = await local.listen().catch(async (e) => { link.s.destroy(); await local.close(); throw e; });
  o.onListening?.(`http://${a.host}:${a.port}/`);
  let n = 0;
  let stopped = false;
  o.signal?.addEventListener('abort', () => { stopped = true; link.s.destroy(); }, { once: true });
  link.onFrame((m) => { n++; local.writeJpeg(m.payload, m); });
  const why = await link.closed;
  await local.close();
  const err = stopped ? null : refused(o.server, why, `after ${n} frames`);
  if (err) throw err;
  return n;
}
