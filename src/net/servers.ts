// NVSS-style servers. WebcamServer receives a remote camera's JPEG frames; StreamServer sends
// processed frames back. The application loop never waits on either: readNowait() returns the
// newest decoded frame at once, write() hands a frame over and returns; receiving, JPEG
// decoding/encoding and sending happen on sockets and in a worker thread.
import { createServer, type Server, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { JpegCodec, type RawImage } from './jpeg.ts';
import { WebHub } from './web.ts';
import { newPeerId, type Peer, type PeerHandler } from './peer.ts';
import { DEFAULT_LIMITS, FORMAT_JPEG, MessageParser, ProtocolError, TYPE_FRAME, TYPE_HELLO, encodeMessage, type Limits } from './protocol.ts';

export interface CameraFrame extends RawImage {
  /** Sender's sequence number and capture time (ms since the epoch, sender's clock). */
  seq: number;
  ts: number;
  /** When the JPEG arrived here (ms since the epoch). */
  received: number;
  /** The sending connection's Peer id: a StreamServer write() naming it goes back to that page only. */
  client: number;
}

export interface ServerStats { clients: number; rejected: number; received: number; decoded: number; dropped: number; errors: number }

function tokenOk(expected: string, given: Buffer): boolean {
  if (!expected) return true;
  const e = Buffer.from(expected);
  return e.length === given.length && timingSafeEqual(e, given);
}

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
  readonly stats: ServerStats = { clients: 0, rejected: 0, received: 0, decoded: 0, dropped: 0, errors: 0 };
  constructor(o: BaseOptions) {
    this.host = o.host ?? '127.0.0.1';
    this.port = o.port ?? 0;
    this.token = o.token ?? '';
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.web = !!o.web;
    if (!this.web) this.server = createServer((s) => this.acceptSocket(s));
  }

  abstract readonly role: 'camera' | 'display';

  async listen(): Promise<{ host: string; port: number }> {
    if (this.web) {
      // Browser transport: the page and its WebSocket on one HTTP port, shared by the camera and
      // display servers that name the same host:port (one SSH -L forward serves both).
      this.hub = WebHub.acquire(this.host, this.port, this.token, this.limits);
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
    s.setNoDelay(true);
    this.sockets.add(s);
    const peer: Peer = { id: newPeerId(), send: (m) => { s.write(m); }, backlog: () => s.writableLength, close: (why) => { s.destroy(why ? new Error(why) : undefined); } };
    const h = this.accept(peer);
    s.on('data', (chunk: Buffer) => h.data(chunk));
    s.on('error', () => { /* a broken client only ends its own connection */ });
    s.on('close', () => { this.sockets.delete(s); h.close(); });
  }

  /** Start serving one peer: the first message must be a hello with the token. */
  accept(peer: Peer): PeerHandler {
    const parser = new MessageParser(this.limits);
    let authed = false;
    let dropped = false;
    const drop = (why: string) => {
      this.stats.rejected++;
      dropped = true;
      peer.close(why);
    };
    return {
      data: (chunk) => {
        if (dropped) return;
        let msgs;
        try {
          msgs = parser.push(chunk);
        } catch (e) {
          drop(e instanceof ProtocolError ? e.message : String(e));
          return;
        }
        for (const m of msgs) {
          if (!authed) {
            if (m.type !== TYPE_HELLO || !tokenOk(this.token, m.payload)) { drop('missing or wrong token'); return; }
            authed = true;
            this.stats.clients++;
            this.onClient(peer);
            continue;
          }
          if (m.type === TYPE_FRAME) this.onFrame(m, peer);
        }
      },
      close: () => {
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
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A frame's camera identity: sequence number, capture time and the sending Peer's id. */
interface FrameMeta { seq: number; ts: number; client?: number }

interface BaseOptions {
  host?: string;
  port?: number;
  token?: string;
  limits?: Partial<Limits>;
  /** Serve browsers (page + WebSocket over HTTP) instead of the TCP protocol. */
  web?: boolean;
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
