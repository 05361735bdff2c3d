// Browser transport for the camera and display servers: one HTTP port serves the page, its
// WebSocket (/ws, one protocol message per WebSocket message) and an MJPEG stream
// (/stream.mjpeg) for plain <img> viewers. A camera server and a display server that name the
// same host:port share one hub, so a browser sends its camera and sees the result over a single
// connection, and a single `ssh -L` forward is all a remote GPU box needs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { tokenMatches } from './token.ts';
import { retryAfter, type AuthBackoff } from './auth-backoff.ts';
import { Err } from '../core/errors.ts';
import { HEADER_BYTES, TYPE_HELLO, encodeMessage, type Limits } from './protocol.ts';
import { newPeerId, type Peer, type PeerHandler } from './peer.ts';
import { allowedHosts, hostAllowed, hostName } from './guard.ts';
import { LiveServer } from './live.ts';

/** Paths of the live viewer (src/net/live.ts) that a hub passes to a webrtc/hls sink with web=true on its port. */
const LIVE_PATH = /^\/(?:live\/?$|mounts(?:\.json)?$|whep\/|hls\/)/;

/** What a hub needs of a camera or display server. */
export interface HubServer { readonly role: 'camera' | 'display'; readonly backoff: AuthBackoff; accept(peer: Peer): PeerHandler; reject(reason: 'token' | 'backoff' | 'tooMany' | 'perAddress' | 'host'): void }

/** A browser connection: its handler per attached server, and its first message (the hello). */
interface Conn { peer: Peer; handlers: { role: HubServer['role']; h: PeerHandler }[]; hello: Buffer | null; started: boolean }

const PAGE = new URL('./remote-page.html', import.meta.url);
const hubs = new Map<string, WebHub>();

export class WebHub {
  private http: Server;
  private wss: WebSocketServer;
  private servers: HubServer[] = [];
  /** Live browser connections, with their hello kept for a server that attaches later. */
  private conns = new Set<Conn>();
  private listening: Promise<{ host: string; port: number }> | null = null;
  private page: Buffer;
  private sockets = new Set<Duplex>();
  private host: string;
  private port: number;
  private token: string;
  private key: string;
  private limits: Limits;
  /** Host header names accepted (DNS rebinding: a page on evil.example resolving to 127.0.0.1). */
  private allowed: Set<string>;
  private perAddress = new Map<string, number>();

  /** The hub for host:port, created on first use. Port 0 (any free port) is never shared. */
  static acquire(host: string, port: number, token: string, limits: Limits, allowHosts: string[] = []): WebHub {
    const key = `${host}:${port}`;
    const have = port ? hubs.get(key) : undefined;
    if (have) {
      if (have.token !== token) throw new Err.PROPERTY(`the camera and display on ${key} must use the same token`);
      return have;
    }
    const hub = new WebHub(host, port, token, limits, key, allowHosts);
    if (port) hubs.set(key, hub);
    return hub;
  }

  private constructor(host: string, port: number, token: string, limits: Limits, key: string, allowHosts: string[]) {
    this.host = host;
    this.port = port;
    this.token = token;
    this.key = key;
    this.limits = limits;
    this.allowed = allowedHosts(host, allowHosts);
    this.page = readFileSync(PAGE);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: HEADER_BYTES + limits.maxPayload, perMessageDeflate: false });
    // Timeouts are checked every second (Node's default is every 30 s).
    this.http = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => this.request(req, res));
    // Slow clients (slowloris: headers a byte at a time) are cut off.
    this.http.headersTimeout = limits.handshakeMs;
    this.http.requestTimeout = limits.handshakeMs * 2;
    this.http.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  attach(s: HubServer): void {
    if (this.servers.some((x) => x.role === s.role)) throw new Err.PROPERTY(`${this.key} already has a ${s.role}; give the second one another port`);
    this.servers.push(s);
    // Elements start one after another: a page that connected before this server attached gets
    // it now, authenticated by the hello it already sent.
    for (const c of this.conns) {
      const h = s.accept(c.peer);
      c.handlers.push({ role: s.role, h });
      if (c.hello) h.data(c.hello);
    }
  }

  async detach(s: HubServer): Promise<void> {
    this.servers = this.servers.filter((x) => x !== s);
    if (this.servers.length) return;
    hubs.delete(this.key);
    for (const c of this.wss.clients) c.terminate();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => this.wss.close(() => r()));
    if (this.listening) await new Promise<void>((r) => this.http.close(() => r()));
  }

  listen(): Promise<{ host: string; port: number }> {
    this.listening ??= new Promise((res, rej) => {
      this.http.once('error', (e: NodeJS.ErrnoException) => rej(new Err.IO(`cannot listen on ${this.key}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another with port=' : e.message}`)));
      this.http.listen(this.port, this.host, () => {
        const a = this.http.address();
        res({ host: this.host, port: typeof a === 'object' && a ? a.port : this.port });
      });
    });
    return this.listening;
  }

  private role(r: 'camera' | 'display'): HubServer | undefined { return this.servers.find((s) => s.role === r); }

  private rejected(reason: 'token' | 'backoff' | 'tooMany' | 'perAddress' | 'host'): void { this.servers[0]?.reject(reason); }

  /** The Host header names this server (not a rebinding attack's own name). */
  private hostOk(req: IncomingMessage): boolean {
    return hostAllowed(req, this.allowed);
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.hostOk(req)) {
      this.rejected('host');
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`Host "${req.headers.host ?? ''}" is not allowed; start the server with --allow-host ${hostName(req.headers.host ?? '') || 'NAME'} to accept it\n`);
      return;
    }
    // The live viewer on this same port (sluice remote): its page at /live, WHEP and HLS under
    // their own paths, with the viewer's own token check, caps and counts.
    const live = LIVE_PATH.test(url.pathname) ? LiveServer.guestOn(this.host, this.port) : undefined;
    if (live) {
      if (/^\/live\/?$/.test(url.pathname)) req.url = `/${url.search}`;
      live.handle(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(this.page);
    } else if (url.pathname === '/config.json') {
      // The page asks what this port serves: a camera input, a display output, or both.
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ camera: !!this.role('camera'), display: !!this.role('display'), token: this.token !== '', ...(LiveServer.guestOn(this.host, this.port) ? { live: true } : {}) }));
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else if (url.pathname === '/stream.mjpeg' && this.role('display')) {
      this.mjpeg(url, res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  /** multipart/x-mixed-replace: every browser shows it in an <img>, no script needed. */
  private mjpeg(url: URL, res: ServerResponse): void {
    const boundary = 'sluiceframe';
    let started = false;
    const peer: Peer = {
      id: newPeerId(),
      address: res.req.socket.remoteAddress ?? '',
      send: (msg) => {
        if (!started) { res.writeHead(200, { 'content-type': `multipart/x-mixed-replace; boundary=${boundary}`, 'cache-control': 'no-store' }); started = true; }
        const jpeg = msg.subarray(HEADER_BYTES);
        res.write(`--${boundary}\r\ncontent-type: image/jpeg\r\ncontent-length: ${jpeg.length}\r\n\r\n`);
        res.write(jpeg);
        res.write('\r\n');
      },
      backlog: () => res.writableLength,
      close: (why) => { if (!started) res.writeHead(403, { 'content-type': 'text/plain' }).end(`${why ?? 'closed'}\n`); else res.destroy(); },
    };
    const h = this.role('display')!.accept(peer);
    res.on('close', () => h.close());
    // The token comes in the query string here (an <img> cannot send a hello message).
    h.data(encodeMessage({ type: TYPE_HELLO, format: 0, seq: 0, ts: 0, width: 0, height: 0, payload: Buffer.from(url.searchParams.get('token') ?? '') }));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const refuse = (status: string, why: string) => { socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${why}\n`); };
    // Refuse cross-site pages: a WebSocket carries no same-origin protection of its own; and
    // refuse a Host that is not ours (a rebinding page has a matching Origin and Host).
    const origin = req.headers.origin;
    let sameOrigin = true;
    try { if (origin) sameOrigin = new URL(origin).host === req.headers.host; } catch { sameOrigin = false; }
    if (url.pathname !== '/ws') return refuse('404 Not Found', 'not found');
    if (!sameOrigin) return refuse('403 Forbidden', 'cross-origin WebSocket refused');
    if (!this.hostOk(req)) { this.rejected('host'); return refuse('403 Forbidden', `Host "${req.headers.host ?? ''}" is not allowed`); }
    // The token is checked before the WebSocket exists, so nobody unauthenticated gets one (and
    // its message buffers); the page passes the one in its own address.
    const addr = req.socket.remoteAddress ?? '';
    // The same per-address backoff as the TCP protocol's: one table, the first server's.
    const backoff = this.servers[0]?.backoff;
    const wait = this.token ? backoff?.blocked(addr) ?? 0 : 0;
    if (wait) { this.rejected('backoff'); return refuse(`429 Too Many Requests\r\nretry-after: ${retryAfter(wait)}`, 'too many wrong tokens from this address'); }
    const given = url.searchParams.get('token') ?? '';
    if (!tokenMatches(this.token, given)) { if (given) backoff?.failure(addr); this.rejected('token'); return refuse('401 Unauthorized', 'missing or wrong token'); }
    if (this.token) backoff?.success(addr);
    if (this.conns.size >= this.limits.maxConnections) { this.rejected('tooMany'); return refuse('503 Service Unavailable', 'too many connections'); }
    if ((this.perAddress.get(addr) ?? 0) >= this.limits.maxPerAddress) { this.rejected('perAddress'); return refuse('429 Too Many Requests', 'too many connections from this address'); }
    this.perAddress.set(addr, (this.perAddress.get(addr) ?? 0) + 1);
    socket.once('close', () => { const n = (this.perAddress.get(addr) ?? 1) - 1; if (n > 0) this.perAddress.set(addr, n); else this.perAddress.delete(addr); });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connection(ws, addr));
  }

  private connection(ws: WebSocket, address: string): void {
    const peer: Peer = {
      id: newPeerId(),
      address,
      send: (msg) => ws.send(msg, { binary: true }),
      backlog: () => ws.bufferedAmount,
      // Close reasons are limited to 123 bytes by the WebSocket protocol.
      close: (why) => ws.close(1008, (why ?? 'closed').slice(0, 120)),
    };
    const c: Conn = { peer, handlers: this.servers.map((s) => ({ role: s.role, h: s.accept(peer) })), hello: null, started: false };
    this.conns.add(c);
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) { peer.close('send binary protocol messages'); return; }
      if (!c.started) {
        // The first message (the hello) goes to every server, and is kept for late ones.
        c.started = true;
        if (data.length >= HEADER_BYTES && data.readUInt8(5) === TYPE_HELLO) c.hello = Buffer.from(data);
        for (const { h } of c.handlers) h.data(data);
        return;
      }
      // After it, only the camera takes messages (a display ignores frames; no copy for it).
      for (const { role, h } of c.handlers) if (role === 'camera') h.data(data);
    });
    ws.on('error', () => { /* one broken browser only ends its own connection */ });
    ws.on('close', () => { this.conns.delete(c); for (const { h } of c.handlers) h.close(); });
  }
}
