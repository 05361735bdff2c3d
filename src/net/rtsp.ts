// An RTSP server (RFC 2326) inside Sluice, as DeepStream embeds GstRtspServer: no maintained npm
// server exists. One server per address:port, shared by every `rtsp` sink on it (one mount
// each). OPTIONS, DESCRIBE (SDP with sprop-parameter-sets), SETUP (RTP over the RTSP connection,
// interleaved, or UDP unicast), PLAY, PAUSE, TEARDOWN, GET_PARAMETER (keep-alive), Basic auth,
// session timeouts. A client joins at the next keyframe (SPS/PPS first); one that cannot keep up
// skips to the next keyframe instead of buffering, so it never slows the pipeline or the others.
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Err } from '../core/errors.ts';
import { NAL, fmtp, h264Packetizer, nalType, senderReport, type RtpPacketizer } from './rtp.ts';

const MAX_HEADER = 8 * 1024;
const MAX_CONNECTIONS = 256;
/** Connections from one address: one host cannot take every slot (half of them; viewers behind one NAT share an address). */
const MAX_PER_ADDRESS = 128;
/** A connection must complete its first request within this long (half-open sockets go). */
const FIRST_REQUEST_MS = 10_000;
/** Seconds a session lives without a request or (over TCP) any data from its client; SLUICE_RTSP_SESSION_TIMEOUT overrides. */
const SESSION_TIMEOUT_S = Number(process.env.SLUICE_RTSP_SESSION_TIMEOUT) || 60;
/** Bytes a TCP client may have queued before it skips to the next keyframe. */
const MAX_BACKLOG = 4 * 1024 * 1024;

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
}

interface Conn { socket: Socket; buf: Buffer; sessions: Set<Client>; answered: boolean }

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
    for (const c of this.clients) {
      if (!c.playing) continue;
      if (c.waitKey) {
        if (!keyframe) { c.skipped++; continue; }
        c.waitKey = false;
      }
      if (c.tcp && c.conn.socket.writableLength > MAX_BACKLOG) { c.waitKey = true; c.skipped++; continue; }
      // A sender report before the first packet maps RTP time to the wall clock from the start
      // (a reader that gets media first gives that packet no timestamp).
      if (c.rtp.packets === 0) this.server.deliver(c, senderReport(c.rtp, ts), true);
      for (const pkt of c.rtp.packetize(au, ts)) this.server.deliver(c, pkt, false);
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
  private requestedPort: number;
  port = 0;
  private server: Server;
  private mounts = new Map<string, Mount>();
  private sessions = new Map<string, Client>();
  private conns = new Set<Conn>();
  private udpRtp: UdpSocket | null = null;
  private udpRtcp: UdpSocket | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  private constructor(host: string, port: number) {
    this.host = host;
    this.requestedPort = port;
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
  readonly rejections = { tooMany: 0, perAddress: 0, badRequest: 0, unauthorised: 0, timeout: 0, idle: 0, expired: 0 };

  private accept(socket: Socket): void {
    if (this.conns.size >= MAX_CONNECTIONS) { this.rejections.tooMany++; socket.destroy(); return; }
    const addr = socket.remoteAddress ?? '';
    let fromAddr = 0;
    for (const c of this.conns) if (c.socket.remoteAddress === addr) fromAddr++;
    if (fromAddr >= MAX_PER_ADDRESS) { this.rejections.perAddress++; socket.destroy(); return; }
    const conn: Conn = { socket, buf: Buffer.alloc(0), sessions: new Set(), answered: false };
    this.conns.add(conn);
    socket.setNoDelay(true);
    // A connection that never completes a request is closed, as is one idle for a minute.
    socket.setTimeout(SESSION_TIMEOUT_S * 1000, () => { this.rejections.idle++; socket.destroy(); });
    const first = setTimeout(() => { if (!conn.answered) { this.rejections.timeout++; socket.destroy(); } }, FIRST_REQUEST_MS);
    first.unref();
    socket.once('close', () => clearTimeout(first));
    socket.on('data', (d) => this.onData(conn, d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.conns.delete(conn);
      for (const c of conn.sessions) this.drop(c);
    });
  }

  private onData(conn: Conn, d: Buffer): void {
    // Anything from the client (RTCP receiver reports included) shows it is alive.
    const now = Date.now();
    for (const c of conn.sessions) c.lastSeen = now;
    conn.buf = conn.buf.length ? Buffer.concat([conn.buf, d]) : d;
    for (;;) {
      if (conn.buf.length === 0) return;
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
      this.handle(conn, req);
    }
  }

  private fail(conn: Conn, code: number, reason: string): void {
    this.rejections.badRequest++;
    conn.socket.end(`RTSP/1.0 ${code} ${reason}\r\nCSeq: 0\r\n\r\n`);
    conn.buf = Buffer.alloc(0);
  }

  private reply(conn: Conn, cseq: string, code: number, reason: string, headers: Record<string, string | number | string[]> = {}, body = ''): void {
    conn.answered = true;
    const h = [`RTSP/1.0 ${code} ${reason}`, `CSeq: ${cseq}`, 'Server: Sluice', ...Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`))];
    if (body) h.push(`Content-Length: ${Buffer.byteLength(body)}`);
    conn.socket.write(`${h.join('\r\n')}\r\n\r\n${body}`);
  }

  /** Nonces handed out for Digest, with when (they expire with the session timeout). */
  private nonces = new Map<string, number>();

  private challenge(): string[] {
    const nonce = randomBytes(16).toString('hex');
    this.nonces.set(nonce, Date.now());
    if (this.nonces.size > 1024) this.nonces.delete(this.nonces.keys().next().value!);
    return [`Digest realm="sluice", nonce="${nonce}", algorithm=MD5`, 'Basic realm="sluice"'];
  }

  private authorised(m: Mount, method: string, header: string | undefined): boolean {
    if (!m.opts.user && !m.opts.password) return true;
    const user = m.opts.user ?? '', pass = m.opts.password ?? '';
    const same = (a: string, b: string) => { const x = Buffer.from(a), y = Buffer.from(b); return x.length === y.length && timingSafeEqual(x, y); };
    if (header?.startsWith('Basic ')) return same(Buffer.from(header.slice(6), 'base64').toString('utf8'), `${user}:${pass}`);
    if (header?.startsWith('Digest ')) {
      // RFC 2617 (as RTSP clients speak it): response = MD5(MD5(user:realm:pass):nonce:MD5(method:uri)).
      const f: Record<string, string> = {};
      for (const m2 of header.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) f[m2[1]!.toLowerCase()] = m2[2] ?? m2[3] ?? '';
      const issued = this.nonces.get(f.nonce ?? '');
      if (!issued || Date.now() - issued > SESSION_TIMEOUT_S * 1000 || f.username !== user) return false;
      const md5 = (s: string) => createHash('md5').update(s).digest('hex');
      const want = md5(`${md5(`${user}:sluice:${pass}`)}:${f.nonce}:${md5(`${method}:${f.uri}`)}`);
      return same(f.response ?? '', want);
    }
    return false;
  }

  private handle(conn: Conn, req: { method: string; url: string; headers: Record<string, string> }): void {
    const cseq = req.headers.cseq ?? '0';
    const session = (req.headers.session ?? '').split(';')[0]!;
    const client = session ? this.sessions.get(session) : undefined;
    if (client) client.lastSeen = Date.now();
    if (req.method === 'OPTIONS') return this.reply(conn, cseq, 200, 'OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER' });
    if (req.method === 'GET_PARAMETER' || req.method === 'SET_PARAMETER') {
      if (session && !client) return this.reply(conn, cseq, 454, 'Session Not Found');
      return this.reply(conn, cseq, 200, 'OK', session ? { Session: session } : {});
    }
    const m = this.mounts.get(pathOf(req.url));
    if (!m) return this.reply(conn, cseq, 404, 'Not Found');
    if (!this.authorised(m, req.method, req.headers.authorization)) { this.rejections.unauthorised++; return this.reply(conn, cseq, 401, 'Unauthorized', { 'WWW-Authenticate': this.challenge() }); }
    switch (req.method) {
      case 'DESCRIBE': {
        // Before the first keyframe there is no SPS/PPS to describe: wait a little for it.
        const base = req.url.endsWith('/') ? req.url : `${req.url}/`;
        const started = Date.now();
        const answer = () => {
          const sdp = m.sdp(this.host);
          if (sdp) return this.reply(conn, cseq, 200, 'OK', { 'Content-Base': base, 'Content-Type': 'application/sdp' }, sdp);
          if (Date.now() - started > 5000 || conn.socket.destroyed) return this.reply(conn, cseq, 503, 'Service Unavailable', { 'Retry-After': 1 });
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
        const c: Client = client ?? { id, conn, mount: m, tcp, udp, rtp: h264Packetizer(), playing: false, waitKey: true, lastSeen: Date.now(), lastRtpTs: 0, skipped: 0 };
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
