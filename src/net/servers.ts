// NVSS-style servers. WebcamServer receives a remote camera's JPEG frames; StreamServer sends
// processed frames back. The application loop never waits on either: readNowait() returns the
// newest decoded frame at once, write() hands a frame over and returns; receiving, JPEG
// decoding/encoding and sending happen on sockets and in a worker thread.
import { createServer, type Server, type Socket } from 'node:net';
import { tokenMatches } from './token.ts';
import { AuthBackoff, retryAfter } from './auth-backoff.ts';
import { JpegCodec, type RawImage } from './jpeg.ts';
import { WebHub } from './web.ts';
import { newPeerId, type Peer, type PeerHandler } from './peer.ts';
import { DEFAULT_LIMITS, EMPTY, END_OF_STREAM, FORMAT_JPEG, MessageParser, ProtocolError, TYPE_FRAME, TYPE_HELLO, encodeMessage, errorMessage, type Limits } from './protocol.ts';

export interface CameraFrame extends RawImage {
  /** Sender's sequence number and capture time (ms since the epoch, sender's clock). */
  seq: number;
  ts: number;
  /** When the JPEG arrived here (ms since the epoch). */
  received: number;
  /** The sending connection's Peer id: a StreamServer write() naming it goes back to that page only. */
  client: number;
}

/** Why connections were refused or closed by the server, counted (netcam/display report them; --metrics shows them). */
export interface Rejections { token: number; backoff: number; protocol: number; handshakeTimeout: number; idle: number; tooMany: number; perAddress: number; host: number }
export interface ServerStats { clients: number; rejected: number; received: number; decoded: number; dropped: number; errors: number; rejections: Rejections }
/** For an element's describe(): clients now and refusals by reason (metrics: sluice_element_resolved{key="rejected_token"...}). */
export function rejectionStats(st: ServerStats): Record<string, number> {
  const out: Record<string, number> = { clients: st.clients, rejected: st.rejected };
  for (const [k, v] of Object.entries(st.rejections)) out[`rejected_${k}`] = v;
  return out;
}

export const splitHosts = (s: string) => s.split(',').map((h) => h.trim()).filter(Boolean);

export const noRejections = (): Rejections => ({ token: 0, backoff: 0, protocol: 0, handshakeTimeout: 0, idle: 0, tooMany: 0, perAddress: 0, host: 0 });


export { newPeerId, type Peer, type PeerHandler } from './peer.ts';

abstract class Base {
  protected server: Server | null = null;
  protected host: string;
  protected port: number;
  protected token: string;
  protected limits: Limits;
  protected web: boolean;
  private hub: WebHub | null = null;
  protected sockets = new Set<Socket>();
  readonly stats: ServerStats = { clients: 0, rejected: 0, received: 0, decoded: 0, dropped: 0, errors: 0, rejections: noRejections() };
  /** Open connections per remote address (TCP; the web hub keeps its own). */
  private perAddress = new Map<string, number>();
  protected allowHosts: string[];
  /** Wrong tokens per address: after a few, that address is refused for a while without a check. */
  readonly backoff = new AuthBackoff();
  constructor(o: BaseOptions) {
    this.host = o.host ?? '127.0.0.1';
    this.port = o.port ?? 0;
    this.token = o.token ?? '';
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.web = !!o.web;
    this.allowHosts = o.allowHosts ?? [];
    if (!this.web) this.server = createServer((s) => this.acceptSocket(s));
  }

  /** Count a refusal by reason. */
  reject(reason: keyof Rejections): void {
    this.stats.rejected++;
    this.stats.rejections[reason]++;
  }

  abstract readonly role: 'camera' | 'display';

  async listen(): Promise<{ host: string; port: number }> {
    if (this.web) {
      // Browser transport: the page and its WebSocket on one HTTP port, shared by the camera and
      // display servers that name the same host:port (one SSH -L forward serves both).
      this.hub = WebHub.acquire(this.host, this.port, this.token, this.limits, this.allowHosts);
      this.hub.attach(this);
      const a = await this.hub.listen();
      this.port = a.port;
      return a;
    }
    const server = this.server!;
    await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(this.port, this.host, () => res()); });
    const a = server.address();
    return { host: this.host, port: typeof a === 'object' && a ? a.port : this.port };
  }

  private acceptSocket(s: Socket): void {
    const addr = s.remoteAddress ?? '';
    // Caps first: a flood of connections is refused before any buffer is set up for it.
    if (this.sockets.size >= this.limits.maxConnections) { this.reject('tooMany'); s.end(errorMessage(`too many connections (${this.limits.maxConnections})`)); s.destroySoon(); return; }
    // An address guessing tokens is refused as it connects: no parser, no buffers, no compare.
    const wait = this.backoff.blocked(addr);
    if (wait) { this.reject('backoff'); s.end(errorMessage(backoffMessage(addr, wait))); s.destroySoon(); return; }
    if ((this.perAddress.get(addr) ?? 0) >= this.limits.maxPerAddress) { this.reject('perAddress'); s.end(errorMessage(`too many connections from ${addr} (${this.limits.maxPerAddress})`)); s.destroySoon(); return; }
    this.perAddress.set(addr, (this.perAddress.get(addr) ?? 0) + 1);
    s.setNoDelay(true);
    this.sockets.add(s);
    const peer: Peer = {
      id: newPeerId(), address: addr, send: (m) => { s.write(m); }, backlog: () => s.writableLength,
      // The reason goes to the client first, so it can say why; then the socket goes.
      // A client that does not read would never see the FIN: reset the connection shortly after.
      close: (why) => { if (why) s.end(errorMessage(why)); else s.end(); setTimeout(() => { if (!s.destroyed) s.resetAndDestroy(); }, 300).unref(); },
    };
    const h = this.accept(peer);
    if (this.role === 'camera' && this.limits.idleMs > 0) {
      s.setTimeout(this.limits.idleMs, () => { this.reject('idle'); peer.close(`no data for ${this.limits.idleMs} ms`); });
    }
    s.on('data', (chunk: Buffer) => h.data(chunk));
    s.on('error', () => { /* a broken client only ends its own connection */ });
    s.on('close', () => {
      this.sockets.delete(s);
      const n = (this.perAddress.get(addr) ?? 1) - 1;
      if (n > 0) this.perAddress.set(addr, n); else this.perAddress.delete(addr);
      h.close();
    });
  }

  /** Start serving one peer: the first message must be a hello with the token. */
  accept(peer: Peer): PeerHandler {
    const parser = new MessageParser(this.limits, { preAuth: true });
    let authed = false;
    let dropped = false;
    const drop = (why: string, reason: keyof Rejections) => {
      this.reject(reason);
      dropped = true;
      clearTimeout(handshake);
      peer.close(why);
    };
    // A connection that never says hello (or sends half a header) is not kept open.
    const handshake = setTimeout(() => { if (!authed && !dropped) drop(`no hello within ${this.limits.handshakeMs} ms`, 'handshakeTimeout'); }, this.limits.handshakeMs);
    handshake.unref();
    return {
      data: (chunk) => {
        if (dropped) return;
        let msgs;
        try {
          msgs = parser.push(chunk);
        } catch (e) {
          drop(e instanceof ProtocolError ? e.message : String(e), 'protocol');
          return;
        }
        for (const m of msgs) {
          if (!authed) {
            const addr = peer.address ?? '';
            const wait = this.token ? this.backoff.blocked(addr) : 0;
            if (wait) { drop(backoffMessage(addr, wait), 'backoff'); return; }
            if (m.type !== TYPE_HELLO || !tokenMatches(this.token, m.payload)) {
              // A token given and wrong counts towards the backoff (a missing one guesses nothing).
              if (m.type === TYPE_HELLO && m.payload.length) this.backoff.failure(addr);
              drop('missing or wrong token', 'token');
              return;
            }
            if (this.token) this.backoff.success(addr);
            authed = true;
            clearTimeout(handshake);
            parser.authorise();
            this.stats.clients++;
            this.onClient(peer);
            // The rest of the chunk, now with the full-size limits.
            let rest;
            try { rest = parser.push(EMPTY); } catch (e) { drop(e instanceof ProtocolError ? e.message : String(e), 'protocol'); return; }
            for (const r of rest) if (r.type === TYPE_FRAME) this.onFrame(r, peer);
            continue;
          }
          if (m.type === TYPE_FRAME) this.onFrame(m, peer);
        }
      },
      close: () => {
        clearTimeout(handshake);
        if (authed) this.stats.clients--;
        authed = false;
        this.onClose(peer);
      },
    };
  }

  protected onClient(_p: Peer): void {}
  protected onFrame(_m: { seq: number; ts: number; format: number; payload: Buffer }, _p: Peer): void {}
  protected onClose(_p: Peer): void {}

  async close(): Promise<void> {
    if (this.hub) {
      const hub = this.hub;
      this.hub = null;
      await hub.detach(this);
      return;
    }
    const server = this.server;
    if (!server?.listening) return;
    // End of stream is not a failure: clients are told so, and exit cleanly.
    for (const s of this.sockets) { s.end(errorMessage(END_OF_STREAM)); setTimeout(() => s.destroy(), 200).unref(); }
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const backoffMessage = (addr: string, ms: number) => `too many wrong tokens from ${addr}; retry in ${retryAfter(ms)} s`;

/** A frame's camera identity: sequence number, capture time and the sending Peer's id. */
interface FrameMeta { seq: number; ts: number; client?: number }

interface BaseOptions {
  host?: string;
  port?: number;
  token?: string;
  limits?: Partial<Limits>;
  /** Serve browsers (page + WebSocket over HTTP) instead of the TCP protocol. */
  web?: boolean;
  /** Browser transport: Host names accepted besides localhost, 127.0.0.1, ::1 and the bound address. */
  allowHosts?: string[];
}

/**
 * Receives a remote camera. readNowait() never waits: it returns the newest frame and whether it
 * is new since the last call; before the first frame arrives it returns { fresh: false,
 * frame: null }. read() waits for the next new frame. Only the newest JPEG waits for the decoder
 * (older ones are dropped and counted), so latency stays one frame deep.
 */
export class WebcamServer extends Base {
  readonly role = 'camera';
  private codec = new JpegCodec();
  private latest: CameraFrame | null = null;
  private fresh = false;
  private waiting: ((f: CameraFrame) => void)[] = [];
  private pending: { seq: number; ts: number; payload: Buffer; client: number; received: number } | null = null;
  private decoding = 0;
  private maxQueue: number;

  constructor(o: BaseOptions & { maxQueue?: number } = {}) {
    super(o);
    this.maxQueue = Math.max(1, o.maxQueue ?? 1);
  }

  protected override onFrame(m: { seq: number; ts: number; format: number; payload: Buffer }, peer: Peer): void {
    this.stats.received++;
    if (m.format !== FORMAT_JPEG) { this.stats.errors++; return; }
    peer.sendsCamera = true;
    const job = { seq: m.seq, ts: m.ts, payload: m.payload, client: peer.id, received: Date.now() };
    if (this.decoding >= this.maxQueue) {
      if (this.pending) this.stats.dropped++;
      this.pending = job;
      return;
    }
    this.start(job);
  }

  private start(job: NonNullable<WebcamServer['pending']>): void {
    this.decoding++;
    this.codec.decode(job.payload).then((img) => {
      this.stats.decoded++;
      const f: CameraFrame = { ...img, seq: job.seq, ts: job.ts, received: job.received, client: job.client };
      // Out-of-order completions never replace a newer frame.
      if (!this.latest || f.received >= this.latest.received) {
        this.latest = f;
        this.fresh = true;
        for (const w of this.waiting.splice(0)) w(f);
      }
    }, () => { this.stats.errors++; }).finally(() => {
      this.decoding--;
      const next = this.pending;
      this.pending = null;
      if (next) this.start(next);
    });
  }

  readNowait(): { fresh: boolean; frame: CameraFrame | null } {
    const fresh = this.fresh;
    this.fresh = false;
    return { fresh, frame: this.latest };
  }

  read(): Promise<CameraFrame> {
    if (this.fresh && this.latest) { this.fresh = false; return Promise.resolve(this.latest); }
    return new Promise((r) => this.waiting.push((f) => { this.fresh = false; r(f); }));
  }

  override async close(): Promise<void> {
    await super.close();
    await this.codec.close();
  }
}

/**
 * Sends frames to every connected viewer as JPEG. write() returns at once: if the encoder is
 * busy the frame waits in a one-frame slot (a newer write replaces it). With maxMBps the JPEG
 * quality adapts to hold that bandwidth, and frames that would overrun it are skipped;
 * without it, quality stays constant. A slow viewer only loses its own frames.
 */
export class StreamServer extends Base {
  readonly role = 'display';
  private codec = new JpegCodec();
  private viewers = new Set<Peer>();
  private pending: (RawImage & FrameMeta) | null = null;
  private encoding = false;
  private seq = 0;
  private maxBps: number;
  quality: number;
  private budget = 0;
  private lastRefill = performance.now();
  private window: { t: number; bytes: number }[] = [];
  sentBytes = 0;
  sentFrames = 0;
  /** Writes skipped because that camera frame was already written. */
  repeats = 0;
  private last: FrameMeta = { seq: -1, ts: NaN };

  constructor(o: BaseOptions & { maxMBps?: number; quality?: number } = {}) {
    super(o);
    this.maxBps = (o.maxMBps ?? 0) * 1e6;
    this.quality = o.quality ?? 5;
  }

  protected override onClient(p: Peer): void { this.viewers.add(p); }
  protected override onClose(p: Peer): void { this.viewers.delete(p); }

  /** Viewers connected now. */
  get viewerCount(): number { return this.viewers.size; }

  /**
   * Hand a frame to the viewers; returns at once. Pass the camera frame's seq and ts (as read
   * from a WebcamServer) and a loop that spins faster than the camera costs nothing extra: a
   * result for a camera frame already sent or being encoded is skipped, so the encoder works
   * at the camera's rate, not the loop's. Pass its `client` too and, when several browser pages
   * send cameras to one server, each page gets only its own camera's results (viewers that send
   * no camera see every frame).
   */
  write(img: RawImage, meta: { seq?: number; ts?: number; client?: number } = {}): void {
    const l = this.last;
    if (meta.seq !== undefined && meta.ts !== undefined && meta.seq === l.seq && meta.ts === l.ts && meta.client === l.client) { this.repeats++; return; }
    const frame = { ...img, seq: meta.seq ?? this.seq++, ts: meta.ts ?? Date.now(), client: meta.client };
    // Nobody watching: nothing to encode (keeps a CPU core free for the model).
    if (this.viewers.size === 0) { this.stats.dropped++; return; }
    this.last = { seq: frame.seq, ts: frame.ts, client: frame.client };
    if (this.encoding) {
      if (this.pending) this.stats.dropped++;
      this.pending = frame;
      return;
    }
    this.encode(frame);
  }

  private encode(frame: RawImage & FrameMeta): void {
    this.encoding = true;
    // The encoder takes ownership of the planes (transferred), so copy: the caller keeps its frame.
    const img = { ...frame, data: frame.data.slice() };
    this.codec.encode(img, this.quality).then((jpeg) => this.send(jpeg, frame), () => { this.stats.errors++; }).finally(() => {
      this.encoding = false;
      const next = this.pending;
      this.pending = null;
      if (next) this.encode(next);
    });
  }

  /** Relay a frame that is already JPEG (no re-encode), e.g. from another server. */
  writeJpeg(jpeg: Buffer, f: { width: number; height: number } & FrameMeta): void {
    this.send(jpeg, f);
  }

  private send(jpeg: Buffer, f: { width: number; height: number } & FrameMeta): void {
    const msg = encodeMessage({ type: TYPE_FRAME, format: FORMAT_JPEG, seq: f.seq, ts: f.ts, width: f.width, height: f.height, payload: jpeg });
    if (this.maxBps > 0) {
      const now = performance.now();
      // Token bucket (a quarter second deep) caps the rate; the quality loop aims to use it.
      this.budget = Math.min(this.maxBps / 4, this.budget + ((now - this.lastRefill) / 1000) * this.maxBps);
      this.lastRefill = now;
      this.window.push({ t: now, bytes: msg.length });
      while (this.window.length && now - this.window[0]!.t > 1000) this.window.shift();
      const perFrame = this.window.reduce((a, w) => a + w.bytes, 0) / this.window.length;
      const fps = this.window.length;
      // Quality: bigger qscale (worse) when frames at this rate would exceed the cap.
      if (perFrame * fps > this.maxBps * 1.02 && this.quality < 31) this.quality++;
      else if (perFrame * fps < this.maxBps * 0.9 && this.quality > 2) this.quality--;
      if (msg.length > this.budget) { this.stats.dropped++; return; }
      this.budget -= msg.length;
    }
    for (const v of this.viewers) {
      // Another page's camera result: this page sends its own camera and sees only that.
      if (f.client !== undefined && v.sendsCamera && v.id !== f.client) continue;
      // A viewer that has not drained its last frames skips this one (no unbounded buffering).
      if (v.backlog() > 4 * msg.length) { this.stats.dropped++; continue; }
      v.send(msg);
    }
    this.sentBytes += msg.length;
    this.sentFrames++;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.codec.close();
  }
}
