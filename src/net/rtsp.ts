// An RTSP server (RFC 2326) inside Sluice, as DeepStream embeds GstRtspServer: no maintained npm
// server exists. One server per address:port, shared by every `rtsp` sink on it (one mount
// each). OPTIONS, DESCRIBE (SDP with sprop-parameter-sets), SETUP (RTP over the RTSP connection,
// interleaved, or UDP unicast), PLAY, PAUSE, TEARDOWN, GET_PARAMETER (keep-alive), Digest (MD5,
// RFC 2617) and Basic auth, session timeouts. A client joins at the next keyframe (SPS/PPS
// first); one that cannot keep up skips to the next keyframe instead of buffering, so it never
// slows the pipeline or the others, and one whose backlog stays over the cap is dropped. Under attack (as gst-rtsp-server and
// nginx guard themselves): a session answers only the connection that made it; every method but
// OPTIONS needs the credentials; a request must arrive whole within a deadline; connections that
// have not authenticated have slots of their own; an address that keeps failing the password
// backs off (auth-backoff.ts).
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Err } from '../core/errors.ts';
import { AuthBackoff, authCredentials, retryAfter } from './auth-backoff.ts';
import { NAL, fmtp, h264Packetizer, nalType, senderReport, type RtpPacketizer } from './rtp.ts';

const MAX_HEADER = 8 * 1024;
const MAX_CONNECTIONS = 256;
/** Connections from one address: one host cannot take every slot (half of them; viewers behind one NAT share an address). */
const MAX_PER_ADDRESS = 128;
/**
 * Connections that have not yet made an authorised request to a mount (all of them, and from one
 * address): a flood of idle or unauthenticated sockets cannot take the slots viewers need.
 */
const MAX_UNAUTHENTICATED = 64;
const MAX_UNAUTHENTICATED_PER_ADDRESS = 16;
/** A connection must make an authorised request within this long (half-open and idle sockets go). */
const FIRST_REQUEST_MS = 10_000;
/** Seconds a session lives without a request or (over TCP) any data from its client; SLUICE_RTSP_SESSION_TIMEOUT overrides. */
const SESSION_TIMEOUT_S = Number(process.env.SLUICE_RTSP_SESSION_TIMEOUT) || 60;
/** Bytes a TCP client may have queued before it skips to the next keyframe. */
const MAX_BACKLOG = 4 * 1024 * 1024;
/** Digest nonces are good this long for a connection that has not authenticated yet (replays of an old one fail). */
const NONCE_TTL_MS = 5 * 60_000;
/** Limits read when a server starts (the environment lets tests and operators shorten them). */
function limits() {
  const sec = (name: string, d: number) => { const v = Number(process.env[name]); return (v > 0 ? v : d) * 1000; };
  return {
    /** A request must arrive whole within this long of its first byte (a byte every few seconds does not keep a socket). */
    requestMs: sec('SLUICE_RTSP_REQUEST_TIMEOUT', 10),
    /** A TCP client whose backlog stays over MAX_BACKLOG this long is dropped (its memory comes back). */
    slowMs: sec('SLUICE_RTSP_SLOW_DROP', 5),
  };
}

export interface MountOptions { user?: string; password?: string }

interface Client {
  id: string;
  conn: Conn;
  mount: Mount;
  /** Interleaved channels (TCP), or the client's UDP ports. */
  tcp: { rtp: number; rtcp: number } | null;
  udp: { host: string; rtp: number; rtcp: number } | null;
  rtp: RtpPacketizer;
  playing: boolean;
  /** Waiting for a keyframe: just joined, or skipped frames it could not take. */
  waitKey: boolean;
  lastSeen: number;
  lastRtpTs: number;
  skipped: number;
  /** When its backlog was first seen over the cap (0: it is under). */
  overSince: number;
}

interface Conn {
  socket: Socket;
  addr: string;
  buf: Buffer;
  sessions: Set<Client>;
  /** Made a request a mount authorised (until then it holds an unauthenticated slot). */
  authed: boolean;
  /** The deadline of the request now arriving (a partial one in buf). */
  reqTimer: ReturnType<typeof setTimeout> | null;
}

export class Mount {
  readonly path: string;
  readonly opts: MountOptions;
  sps: Uint8Array | null = null;
  pps: Uint8Array | null = null;
  readonly clients = new Set<Client>();
  private server: RtspServer;
  constructor(server: RtspServer, path: string, opts: MountOptions) { this.server = server; this.path = path; this.opts = opts; }

  sdp(host: string): string | null {
    if (!this.sps || !this.pps) return null;
    return ['v=0', `o=- ${Date.now()} 1 IN IP4 ${host}`, 's=Sluice', `c=IN IP4 0.0.0.0`, 't=0 0', 'a=control:*', 'a=range:npt=now-',
      'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', `a=fmtp:96 ${fmtp(this.sps, this.pps)}`, 'a=control:trackID=0', ''].join('\r\n');
  }

  /** Learn the parameter sets (for the SDP, and to put before keyframes) without sending anything. */
  seed(nals: Uint8Array[]): void {
    for (const n of nals) {
      if (nalType(n) === NAL.SPS) this.sps = n.slice();
      if (nalType(n) === NAL.PPS) this.pps = n.slice();
    }
  }

  /** Send one access unit (Annex B NAL units) at `pts` seconds to every playing client. */
  send(nals: Uint8Array[], pts: number, keyframe: boolean): void {
    let hasSps = false;
    for (const n of nals) {
      if (nalType(n) === NAL.SPS) { this.sps = n.slice(); hasSps = true; }
      if (nalType(n) === NAL.PPS) this.pps = n.slice();
    }
    if (!this.clients.size) return;
    const ts = Math.round(pts * 90000) >>> 0;
    // The same NAL units for every client (each packetises with its own sequence numbers). A
    // keyframe carries its parameter sets in-band, so a client can start decoding there.
    const sent = nals.filter((n) => nalType(n) !== NAL.AUD);
    const au = keyframe && !hasSps && this.sps && this.pps ? [this.sps, this.pps, ...sent] : sent;
    const now = Date.now();
    for (const c of this.clients) {
      if (!c.playing) continue;
      if (c.tcp) {
        if (c.conn.socket.writableLength > MAX_BACKLOG) {
          // Over the cap: skip to a keyframe; over it for long (a client that never reads, kept
          // alive by keep-alives), drop it, or every such client would pin MAX_BACKLOG of memory.
          c.overSince ||= now;
          if (now - c.overSince > this.server.slowMs) { this.server.dropSlow(c); continue; }
          c.waitKey = true;
          c.skipped++;
          continue;
        }
        c.overSince = 0;
      }
      if (c.waitKey) {
        if (!keyframe) { c.skipped++; continue; }
        c.waitKey = false;
      }
      // A sender report before the first packet maps RTP time to the wall clock from the start
      // (a reader that gets media first gives that packet no timestamp).
      if (c.rtp.packets === 0) this.server.deliver(c, senderReport(c.rtp, ts), true);
      this.server.deliverAll(c, c.rtp.packetize(au, ts));
      c.lastRtpTs = ts;
    }
  }

  close(): void {
    for (const c of this.clients) this.server.drop(c);
    this.clients.clear();
  }
}

function parseRequest(head: string): { method: string; url: string; headers: Record<string, string> } | null {
  const lines = head.split('\r\n');
  const m = /^([A-Z_]+) (\S+) RTSP\/1\.0$/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { method: m[1]!, url: m[2]!, headers };
}

function pathOf(url: string): string {
  try {
    const p = new URL(url).pathname;
    return p.replace(/\/trackID=\d+$/, '').replace(/\/+$/, '') || '/';
  } catch {
    return '';
  }
}

/** One listening RTSP server; `RtspServer.shared` hands out one per address:port. */
export class RtspServer {
  private static servers = new Map<string, { server: RtspServer; refs: number }>();

  static async acquire(host: string, port: number): Promise<RtspServer> {
    const key = `${host}:${port}`;
    let e = RtspServer.servers.get(key);
    if (!e) {
      e = { server: new RtspServer(host, port), refs: 0 };
      RtspServer.servers.set(key, e);
      try {
        await e.server.listen();
      } catch (err) {
        RtspServer.servers.delete(key);
        throw err;
      }
    }
    e.refs++;
    return e.server;
  }

  static async release(s: RtspServer): Promise<void> {
    const key = `${s.host}:${s.requestedPort}`;
    const e = RtspServer.servers.get(key);
    if (!e || --e.refs > 0) return;
    RtspServer.servers.delete(key);
    await s.close();
  }

  readonly host: string;
  /** See limits(). */
  readonly requestMs: number;
  readonly slowMs: number;
  private requestedPort: number;
  port = 0;
  private server: Server;
  private mounts = new Map<string, Mount>();
  private sessions = new Map<string, Client>();
  private conns = new Set<Conn>();
  private udpRtp: UdpSocket | null = null;
  private udpRtcp: UdpSocket | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** Wrong passwords per address (shared rule with the other servers). */
  readonly backoff = new AuthBackoff();
  /** Signs Digest nonces: any nonce this server made checks out without a table an attacker could flush. */
  private nonceKey = randomBytes(32);

  private constructor(host: string, port: number) {
    this.host = host;
    this.requestedPort = port;
    const l = limits();
    this.requestMs = l.requestMs;
    this.slowMs = l.slowMs;
    this.server = createServer((s) => this.accept(s));
  }

  private async listen(): Promise<void> {
    await new Promise<void>((res, rej) => {
      this.server.once('error', (e: NodeJS.ErrnoException) => rej(new Err.IO(`rtsp: cannot listen on ${this.host}:${this.requestedPort}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)));
      this.server.listen(this.requestedPort, this.host, () => res());
    });
    this.port = (this.server.address() as { port: number }).port;
    const bind = async () => {
      const s = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(0, this.host, () => res()); });
      s.on('message', () => { /* receiver reports: nothing to do with them */ });
      return s;
    };
    this.udpRtp = await bind();
    this.udpRtcp = await bind();
    // Sender reports every 5 s (or sooner with a short session timeout); silent sessions expire.
    this.timer = setInterval(() => this.tick(), Math.min(5000, SESSION_TIMEOUT_S * 500));
    this.timer.unref();
  }

  addMount(path: string, opts: MountOptions): Mount {
    const p = path.startsWith('/') ? path : `/${path}`;
    if (this.mounts.has(p)) throw new Err.PROPERTY(`rtsp: mount ${p} is already served on port ${this.port}; give each rtsp sink its own mount`);
    const m = new Mount(this, p, opts);
    this.mounts.set(p, m);
    return m;
  }

  removeMount(m: Mount): void {
    m.close();
    this.mounts.delete(m.path);
  }

  url(m: Mount): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `rtsp://${h}:${this.port}${m.path}`;
  }

  get clientCount(): number { return this.sessions.size; }

  /** Connections and requests refused, and connections closed on a client, by reason (the rtsp element reports them; --metrics shows them). */
  readonly rejections = { tooMany: 0, perAddress: 0, unauthenticated: 0, badRequest: 0, unauthorised: 0, backoff: 0, sessionNotOwned: 0, timeout: 0, idle: 0, expired: 0, slow: 0 };

  private accept(socket: Socket): void {
    if (this.conns.size >= MAX_CONNECTIONS) { this.rejections.tooMany++; socket.destroy(); return; }
    const addr = socket.remoteAddress ?? '';
    let fromAddr = 0, pending = 0, pendingFromAddr = 0;
    let oldest: Conn | null = null, oldestFromAddr: Conn | null = null;
    for (const c of this.conns) {
      if (c.addr === addr) fromAddr++;
      if (c.authed) continue;
      pending++;
      oldest ??= c;
      if (c.addr === addr) { pendingFromAddr++; oldestFromAddr ??= c; }
    }
    if (fromAddr >= MAX_PER_ADDRESS) { this.rejections.perAddress++; socket.destroy(); return; }
    // Unauthenticated slots full (for this address, or in all): the connection waiting longest
    // makes room, so a viewer, who authenticates within a round trip, still gets in while idle
    // or unauthenticated sockets (from one address or several) keep arriving.
    const evict = pendingFromAddr >= MAX_UNAUTHENTICATED_PER_ADDRESS ? oldestFromAddr : pending >= MAX_UNAUTHENTICATED ? oldest : null;
    if (evict) { this.rejections.unauthenticated++; this.conns.delete(evict); evict.socket.destroy(); }
    const conn: Conn = { socket, addr, buf: Buffer.alloc(0), sessions: new Set(), authed: false, reqTimer: null };
    this.conns.add(conn);
    socket.setNoDelay(true);
    // A connection that never completes a request is closed, as is one idle for a minute.
    socket.setTimeout(SESSION_TIMEOUT_S * 1000, () => { this.rejections.idle++; socket.destroy(); });
    const first = setTimeout(() => { if (!conn.authed) { this.rejections.timeout++; socket.destroy(); } }, FIRST_REQUEST_MS);
    first.unref();
    socket.on('data', (d) => this.onData(conn, d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(first);
      if (conn.reqTimer) clearTimeout(conn.reqTimer);
      this.conns.delete(conn);
      for (const c of conn.sessions) this.drop(c);
    });
  }

  private onData(conn: Conn, d: Buffer): void {
    if (conn.socket.destroyed) return;
    // Anything from the client (RTCP receiver reports included) shows it is alive.
    const now = Date.now();
    for (const c of conn.sessions) c.lastSeen = now;
    conn.buf = conn.buf.length ? Buffer.concat([conn.buf, d]) : d;
    this.parse(conn);
    // A request still arriving has a deadline from its first byte: trickling a byte every few
    // seconds (under the idle timeout) does not hold the socket.
    if (conn.buf.length && !conn.reqTimer && !conn.socket.destroyed) {
      conn.reqTimer = setTimeout(() => { this.rejections.timeout++; conn.socket.destroy(); }, this.requestMs);
      conn.reqTimer.unref();
    } else if (!conn.buf.length && conn.reqTimer) {
      clearTimeout(conn.reqTimer);
      conn.reqTimer = null;
    }
  }

  private parse(conn: Conn): void {
    for (;;) {
      if (conn.buf.length === 0 || conn.socket.destroyed || conn.socket.writableEnded) return;
      if (conn.buf[0] === 0x24) {
        // Interleaved RTCP from the client (receiver reports): skip it.
        if (conn.buf.length < 4) return;
        const len = conn.buf.readUInt16BE(2);
        if (conn.buf.length < 4 + len) return;
        conn.buf = conn.buf.subarray(4 + len);
        continue;
      }
      const end = conn.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (conn.buf.length > MAX_HEADER) this.fail(conn, 431, 'Request Header Fields Too Large');
        return;
      }
      if (end > MAX_HEADER) { this.fail(conn, 431, 'Request Header Fields Too Large'); return; }
      const head = conn.buf.subarray(0, end).toString('latin1');
      const req = parseRequest(head);
      if (!req) { this.fail(conn, 400, 'Bad Request'); return; }
      const bodyLen = Math.max(0, Number(req.headers['content-length'] ?? 0) || 0);
      if (bodyLen > 4096) { this.fail(conn, 413, 'Payload Too Large'); return; }
      if (conn.buf.length < end + 4 + bodyLen) return;
      conn.buf = conn.buf.subarray(end + 4 + bodyLen);
      // A whole request: the next one's deadline starts with its own first byte.
      if (conn.reqTimer) { clearTimeout(conn.reqTimer); conn.reqTimer = null; }
      this.handle(conn, req);
    }
  }

  private fail(conn: Conn, code: number, reason: string): void {
    this.rejections.badRequest++;
    conn.socket.end(`RTSP/1.0 ${code} ${reason}\r\nCSeq: 0\r\n\r\n`);
    conn.buf = Buffer.alloc(0);
  }

  private reply(conn: Conn, cseq: string, code: number, reason: string, headers: Record<string, string | number | string[]> = {}, body = ''): void {
    if (conn.socket.writableEnded) return;
    const h = [`RTSP/1.0 ${code} ${reason}`, `CSeq: ${cseq}`, 'Server: Sluice', ...Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`))];
    if (body) h.push(`Content-Length: ${Buffer.byteLength(body)}`);
    conn.socket.write(`${h.join('\r\n')}\r\n\r\n${body}`);
  }

  /** A Digest nonce: when it was made (hex ms) and this server's signature of that. */
  private nonce(t = Date.now()): string {
    const ts = t.toString(16).padStart(12, '0');
    return ts + createHmac('sha256', this.nonceKey).update(ts).digest('hex').slice(0, 32);
  }

  /** Whether `n` is a nonce this server made, and when (NaN if not). */
  private nonceTime(n: string): number {
    if (!/^[0-9a-f]{44}$/.test(n)) return NaN;
    const t = parseInt(n.slice(0, 12), 16);
    return timingSafeEqual(Buffer.from(this.nonce(t)), Buffer.from(n)) ? t : NaN;
  }

  private challenge(): string[] {
    return [`Digest realm="sluice", nonce="${this.nonce()}", algorithm=MD5`, 'Basic realm="sluice"'];
  }

  /** 'ok', 'none' (no credentials sent) or 'wrong'. */
  private authorised(m: Mount, method: string, header: string | undefined, conn: Conn): 'ok' | 'none' | 'wrong' {
    if (!m.opts.user && !m.opts.password) return 'ok';
    if (!header) return 'none';
    const user = m.opts.user ?? '', pass = m.opts.password ?? '';
    const same = (a: string, b: string) => { const x = Buffer.from(a), y = Buffer.from(b); return x.length === y.length && timingSafeEqual(x, y); };
    const basic = authCredentials(header, 'basic');
    if (basic !== null) return same(Buffer.from(basic, 'base64').toString('utf8'), `${user}:${pass}`) ? 'ok' : 'wrong';
    const digest = authCredentials(header, 'digest');
    if (digest !== null) {
      // RFC 2617 (as RTSP clients speak it): response = MD5(MD5(user:realm:pass):nonce:MD5(method:uri)).
      const f: Record<string, string> = {};
      for (const m2 of digest.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) f[m2[1]!.toLowerCase()] = m2[2] ?? m2[3] ?? '';
      const issued = this.nonceTime(f.nonce ?? '');
      // A connection that authenticated keeps its nonce (keep-alives of a long session); a new
      // one must use a recent nonce, so an old captured request cannot be replayed.
      if (Number.isNaN(issued) || (!conn.authed && Date.now() - issued > NONCE_TTL_MS) || f.username !== user) return 'wrong';
      const md5 = (s: string) => createHash('md5').update(s).digest('hex');
      const want = md5(`${md5(`${user}:sluice:${pass}`)}:${f.nonce}:${md5(`${method}:${f.uri}`)}`);
      return same(f.response ?? '', want) ? 'ok' : 'wrong';
    }
    return 'wrong';
  }

  /** Any mount that asks for credentials (a request naming no mount, e.g. GET_PARAMETER *, is checked against it). */
  private guardedMount(): Mount | undefined {
    for (const m of this.mounts.values()) if (m.opts.user || m.opts.password) return m;
    return undefined;
  }

  private handle(conn: Conn, req: { method: string; url: string; headers: Record<string, string> }): void {
    const cseq = req.headers.cseq ?? '0';
    if (req.method === 'OPTIONS') return this.reply(conn, cseq, 200, 'OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER' });
    const session = (req.headers.session ?? '').split(';')[0]!;
    const found = session ? this.sessions.get(session) : undefined;
    // A session answers only the connection that made it: another viewer (authorised or not)
    // cannot TEARDOWN, PAUSE or keep alive someone else's, and learns nothing of it.
    if (found && found.conn !== conn) this.rejections.sessionNotOwned++;
    const client = found?.conn === conn ? found : undefined;
    if (session && !client) return this.reply(conn, cseq, 454, 'Session Not Found');
    const keepAlive = req.method === 'GET_PARAMETER' || req.method === 'SET_PARAMETER';
    const m = client?.mount ?? this.mounts.get(pathOf(req.url)) ?? (keepAlive ? this.guardedMount() : undefined);
    if (!m && !keepAlive) return this.reply(conn, cseq, 404, 'Not Found');
    if (m && (m.opts.user || m.opts.password)) {
      // While an address backs off, nothing it sends is checked (no hash, no challenge): refused, and closed.
      const wait = this.backoff.blocked(conn.addr);
      if (wait) {
        this.rejections.backoff++;
        this.reply(conn, cseq, 503, 'Service Unavailable', { 'Retry-After': retryAfter(wait) });
        conn.socket.end();
        return;
      }
      const a = this.authorised(m, req.method, req.headers.authorization, conn);
      if (a !== 'ok') {
        this.rejections.unauthorised++;
        if (a === 'wrong') this.backoff.failure(conn.addr);
        return this.reply(conn, cseq, 401, 'Unauthorized', { 'WWW-Authenticate': this.challenge() });
      }
      this.backoff.success(conn.addr);
    }
    if (m) conn.authed = true;
    if (client) client.lastSeen = Date.now();
    if (keepAlive) return this.reply(conn, cseq, 200, 'OK', session ? { Session: session } : {});
    if (!m) return this.reply(conn, cseq, 404, 'Not Found');
    switch (req.method) {
      case 'DESCRIBE': {
        // Before the first keyframe there is no SPS/PPS to describe: wait for it (a pipeline with
        // several cameras and a model to load can take seconds to encode its first frame).
        const base = req.url.endsWith('/') ? req.url : `${req.url}/`;
        const started = Date.now();
        const answer = () => {
          const sdp = m.sdp(this.host);
          if (sdp) return this.reply(conn, cseq, 200, 'OK', { 'Content-Base': base, 'Content-Type': 'application/sdp' }, sdp);
          if (Date.now() - started > 10_000 || conn.socket.destroyed) return this.reply(conn, cseq, 503, 'Service Unavailable', { 'Retry-After': 1 });
          setTimeout(answer, 50).unref();
        };
        return answer();
      }
      case 'SETUP': {
        const t = req.headers.transport ?? '';
        const inter = /interleaved=(\d+)-(\d+)/.exec(t);
        const ports = /client_port=(\d+)-(\d+)/.exec(t);
        let tcp: Client['tcp'] = null, udp: Client['udp'] = null;
        if (/RTP\/AVP\/TCP/.test(t)) tcp = { rtp: inter ? Number(inter[1]) : 0, rtcp: inter ? Number(inter[2]) : 1 };
        else if (ports) udp = { host: conn.socket.remoteAddress ?? this.host, rtp: Number(ports[1]), rtcp: Number(ports[2]) };
        else return this.reply(conn, cseq, 461, 'Unsupported Transport');
        const id = client?.id ?? randomBytes(8).toString('hex');
        const c: Client = client ?? { id, conn, mount: m, tcp, udp, rtp: h264Packetizer(), playing: false, waitKey: true, lastSeen: Date.now(), lastRtpTs: 0, skipped: 0, overSince: 0 };
        c.tcp = tcp; c.udp = udp;
        this.sessions.set(id, c);
        conn.sessions.add(c);
        m.clients.add(c);
        const transport = tcp
          ? `RTP/AVP/TCP;unicast;interleaved=${tcp.rtp}-${tcp.rtcp};ssrc=${c.rtp.ssrc.toString(16).padStart(8, '0')}`
          : `RTP/AVP;unicast;client_port=${udp!.rtp}-${udp!.rtcp};server_port=${(this.udpRtp!.address()).port}-${(this.udpRtcp!.address()).port};ssrc=${c.rtp.ssrc.toString(16).padStart(8, '0')}`;
        return this.reply(conn, cseq, 200, 'OK', { Transport: transport, Session: `${id};timeout=${SESSION_TIMEOUT_S}` });
      }
      case 'PLAY': {
        if (!client) return this.reply(conn, cseq, 454, 'Session Not Found');
        client.playing = true;
        client.waitKey = true;
        return this.reply(conn, cseq, 200, 'OK', { Session: client.id, Range: 'npt=now-', 'RTP-Info': `url=${req.url.replace(/\/$/, '')}/trackID=0;seq=${client.rtp.seq};rtptime=${client.lastRtpTs}` });
      }
      case 'PAUSE': {
        if (!client) return this.reply(conn, cseq, 454, 'Session Not Found');
        client.playing = false;
        return this.reply(conn, cseq, 200, 'OK', { Session: client.id });
      }
      case 'TEARDOWN': {
        if (client) this.drop(client);
        return this.reply(conn, cseq, 200, 'OK');
      }
      default:
        return this.reply(conn, cseq, 405, 'Method Not Allowed', { Allow: 'OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER' });
    }
  }

  /** Hand one RTP (or RTCP) packet to a client over its transport. */
  deliver(c: Client, pkt: Buffer, rtcp: boolean): void {
    if (c.tcp) {
      if (c.conn.socket.destroyed) return;
      const h = Buffer.from([0x24, rtcp ? c.tcp.rtcp : c.tcp.rtp, (pkt.length >> 8) & 0xff, pkt.length & 0xff]);
      c.conn.socket.write(Buffer.concat([h, pkt]));
    } else if (c.udp) {
      (rtcp ? this.udpRtcp : this.udpRtp)?.send(pkt, rtcp ? c.udp.rtcp : c.udp.rtp, c.udp.host);
    }
  }

  /** Several RTP packets for one client, over TCP as one write (one buffer, not one per packet). */
  deliverAll(c: Client, pkts: Buffer[]): void {
    if (!c.tcp) { for (const p of pkts) this.deliver(c, p, false); return; }
    if (c.conn.socket.destroyed || !pkts.length) return;
    let n = 0;
    for (const p of pkts) n += 4 + p.length;
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    for (const p of pkts) {
      out[o] = 0x24; out[o + 1] = c.tcp.rtp; out.writeUInt16BE(p.length, o + 2);
      p.copy(out, o + 4);
      o += 4 + p.length;
    }
    c.conn.socket.write(out);
  }

  /** A TCP client that stayed over the backlog cap: its connection is reset, so what it held is freed now. */
  dropSlow(c: Client): void {
    this.rejections.slow++;
    for (const s of [...c.conn.sessions]) this.drop(s);
    c.conn.socket.resetAndDestroy();
  }

  drop(c: Client): void {
    this.sessions.delete(c.id);
    c.mount.clients.delete(c);
    c.conn.sessions.delete(c);
  }

  private tick(): void {
    const now = Date.now();
    for (const c of this.sessions.values()) {
      // Clients prove they are there with requests (GET_PARAMETER keep-alives) or RTCP; a session
      // silent for the timeout is dropped (RFC 2326 12.37), and its TCP connection closed.
      if (now - c.lastSeen > SESSION_TIMEOUT_S * 1000) {
        this.drop(c);
        this.rejections.expired++;
        if (c.tcp && c.conn.sessions.size === 0) c.conn.socket.destroy();
        continue;
      }
      if (c.playing && c.rtp.packets > 0) this.deliver(c, senderReport(c.rtp, c.lastRtpTs), true);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const m of this.mounts.values()) m.close();
    this.mounts.clear();
    for (const c of this.conns) c.socket.destroy();
    this.udpRtp?.close();
    this.udpRtcp?.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
