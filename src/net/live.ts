// The live-view HTTP server behind the `webrtc` and `hls` sinks: one per address:port, shared by
// every such sink on it (one mount each), as the RTSP server is. It serves the viewer page at `/`,
// the list of mounts, WHEP (RFC 9725) at /whep/{mount} and low-latency HLS at /hls/{mount}/.
// Guards as every Sluice server: loopback by default, a Host allow list (DNS rebinding), caps on
// connections, timeouts, and a token checked before anything else of a request is read (no SDP
// is parsed, no body buffered, for a request without it); wrong tokens back off per address.
// Every refusal is counted by reason for describe() and --metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Err } from '../core/errors.ts';
import { AuthBackoff, bearerToken, retryAfter } from './auth-backoff.ts';
import { guard, hostName } from './guard.ts';
import { tokenMatches } from './token.ts';

const PAGE = new URL('./live-page.html', import.meta.url);

export type LiveRejection = 'token' | 'backoff' | 'host' | 'tooMany' | 'perAddress' | 'badRequest' | 'tooLarge'
  | 'badSdp' | 'sessions' | 'sessionsPerAddress' | 'sessionNotFound' | 'iceTimeout' | 'notFound' | 'method';

/** What a mount (one webrtc or hls sink) does with the requests for it. */
export interface LiveMount {
  readonly name: string;
  readonly kind: 'webrtc' | 'hls';
  /** `rest`: the path after /whep/{mount} or /hls/{mount}, split at '/'. Only authorised requests come here. */
  handle(req: IncomingMessage, res: ServerResponse, rest: string[], url: URL, server: LiveServer): void;
  /** What the page shows in the list (size, viewers...). */
  info(): Record<string, unknown>;
}

export interface LiveOptions {
  host: string;
  port: number;
  token: string;
  allowHosts?: string[];
  /** TCP connections in all and from one address (HTTP keep-alive; the page uses a couple). */
  maxConnections?: number;
  maxPerAddress?: number;
  /** Answer on the camera/display web port host:port (sluice remote: one port) instead of listening on a port of its own. */
  guest?: boolean;
}

/** A host server (sluice serve's API) that checks Host and token itself and hands on live requests under `prefix`. */
interface Gated { server: LiveServer; refs: number; gated: boolean }

/** Bytes an SDP offer may have: Chromium's with every codec is ~6 KB. */
export const MAX_SDP = 64 * 1024;

/** Reads a request body up to `max` bytes; null (and the request answered 413) past it. */
export function readBody(req: IncomingMessage, res: ServerResponse, max: number, onTooLarge: () => void): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) {
    onTooLarge();
    res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`the body is over ${max} bytes\n`);
    req.socket.destroySoon?.();
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      n += c.length;
      if (n > max) {
        done = true;
        onTooLarge();
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(`the body is over ${max} bytes\n`);
        req.socket.destroy();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks)); } });
    req.on('error', () => { if (!done) { done = true; resolve(null); } });
    req.on('close', () => { if (!done) { done = true; resolve(null); } });
  });
}

export class LiveServer {
  private static servers = new Map<string, { server: LiveServer; refs: number }>();
  private static guests = new Map<string, Gated>();

  /**
   * The viewer server that sluice serve's API (on host:port) hands its live paths to, with their
   * prefix (`/v1/live`): the API has checked Host and token already, so the sinks that join it
   * (web=true on that port) bring no token of their own. Released with release().
   */
  static gate(host: string, port: number, prefix: string): LiveServer {
    const key = `${host}:${port}`;
    let g = LiveServer.guests.get(key);
    if (!g) {
      g = { server: new LiveServer({ host, port, token: '', allowHosts: ['*'], guest: true }), refs: 0, gated: true };
      g.server.port = port;
      g.server.prefix = prefix;
      LiveServer.guests.set(key, g);
    }
    g.refs++;
    return g.server;
  }

  /** The server for host:port, made and listening on first use. Port 0 (any free port) is never shared. */
  static async acquire(o: LiveOptions): Promise<LiveServer> {
    const key = `${o.host}:${o.port}`;
    if (o.guest) {
      // The web hub of that port (src/net/web.ts) hands it the requests for the viewer's paths.
      if (!o.port) throw new Err.PROPERTY('a webrtc/hls sink with web=true needs the port of its netcam/display web=true (not 0)');
      let g = LiveServer.guests.get(key);
      if (g && !g.gated && g.server.token !== o.token) throw new Err.PROPERTY(`the webrtc/hls sinks and the camera/display on ${key} must use the same token`);
      if (!g) { g = { server: new LiveServer(o), refs: 0, gated: false }; g.server.port = o.port; LiveServer.guests.set(key, g); }
      g.refs++;
      return g.server;
    }
    let e = o.port ? LiveServer.servers.get(key) : undefined;
    if (e) {
      if (e.server.token !== o.token) throw new Err.PROPERTY(`the webrtc/hls sinks on ${key} must use the same token`);
    } else {
      e = { server: new LiveServer(o), refs: 0 };
      if (o.port) LiveServer.servers.set(key, e);
      try {
        await e.server.listen();
      } catch (err) {
        LiveServer.servers.delete(key);
        throw err;
      }
    }
    e.refs++;
    return e.server;
  }

  /** The viewer server answering on the web hub of host:port, if a sink with web=true made one. */
  static guestOn(host: string, port: number): LiveServer | undefined { return LiveServer.guests.get(`${host}:${port}`)?.server; }

  static async release(s: LiveServer): Promise<void> {
    if (s.guest) {
      const key = `${s.host}:${s.port}`;
      const g = LiveServer.guests.get(key);
      if (g?.server === s && --g.refs <= 0) LiveServer.guests.delete(key);
      return;
    }
    const e = s.requestedPort ? LiveServer.servers.get(`${s.host}:${s.requestedPort}`) : { server: s, refs: 1 };
    if (!e || --e.refs > 0) return;
    if (s.requestedPort) LiveServer.servers.delete(`${s.host}:${s.requestedPort}`);
    await s.close();
  }

  readonly host: string;
  port = 0;
  readonly token: string;
  /** Where its paths are on the host server ('' for its own port; sluice serve's `/v1/live`): WHEP sessions are named under it. */
  prefix = '';
  /** Refusals by reason (describe(): rejected_REASON). */
  readonly rejections: Partial<Record<LiveRejection, number>> = {};
  /** Wrong tokens per address (auth-backoff.ts, the rule of every server that checks a secret). */
  readonly backoff = new AuthBackoff();
  private requestedPort: number;
  private guest: boolean;
  private http: Server;
  private mounts = new Map<string, LiveMount>();
  private sockets = new Set<Socket>();
  private hostOk: (req: IncomingMessage) => boolean;
  private page: Buffer;

  private constructor(o: LiveOptions) {
    this.host = o.host;
    this.requestedPort = o.port;
    this.guest = !!o.guest;
    this.token = o.token;
    this.page = readFileSync(PAGE);
    // Timeouts are checked every second (Node's default is every 30 s).
    this.http = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => this.request(req, res));
    this.hostOk = guard(this.http, {
      host: o.host,
      allowHosts: o.allowHosts,
      maxConnections: o.maxConnections ?? 128,
      maxPerAddress: o.maxPerAddress ?? 32,
      onReject: (r) => this.reject(r),
    });
    // An offer arrives whole within 10 s; long-polling HLS playlist requests wait at most 6 s.
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 15_000;
    this.http.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  reject(r: LiveRejection): void { this.rejections[r] = (this.rejections[r] ?? 0) + 1; }

  url(token = ''): string {
    const h = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.port}/${this.guest ? 'live' : ''}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  }

  addMount(m: LiveMount): void {
    const key = `${m.kind}:${m.name}`;
    if (this.mounts.has(key)) throw new Err.PROPERTY(`${this.host}:${this.port} already has a ${m.kind} mount named "${m.name}"; give each sink its own mount=`);
    this.mounts.set(key, m);
  }

  removeMount(m: LiveMount): void {
    if (this.mounts.get(`${m.kind}:${m.name}`) === m) this.mounts.delete(`${m.kind}:${m.name}`);
  }

  /** The mounts (of one name, when given), as /mounts lists them. */
  mountList(name?: string): Record<string, unknown>[] {
    return [...this.mounts.values()].filter((m) => name === undefined || m.name === name).map((m) => ({ name: m.name, kind: m.kind, ...m.info() }));
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.http.once('error', (e: NodeJS.ErrnoException) => reject(new Err.IO(`cannot listen on ${this.host}:${this.requestedPort}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another with port=' : e.message}`)));
      this.http.listen(this.requestedPort, this.host, () => {
        const a = this.http.address();
        this.port = typeof a === 'object' && a ? a.port : this.requestedPort;
        resolve();
      });
    });
  }

  private async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  /** The token of a request (Authorization: Bearer, else ?token=), checked with the per-address backoff; answers the refusal itself. */
  private authorised(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (!this.token) return true;
    const addr = req.socket.remoteAddress ?? '';
    const wait = this.backoff.blocked(addr);
    if (wait) {
      this.reject('backoff');
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(retryAfter(wait)), connection: 'close' }).end(`too many wrong tokens from ${addr}; retry in ${retryAfter(wait)} s\n`);
      return false;
    }
    const given = bearerToken(req.headers.authorization) || url.searchParams.get('token') || '';
    if (!tokenMatches(this.token, given)) {
      if (given) this.backoff.failure(addr);
      this.reject('token');
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer', connection: 'close' })
        .end(given ? 'wrong token\n' : 'a token is needed: open the page as /?token=TOKEN or send Authorization: Bearer TOKEN\n');
      return false;
    }
    this.backoff.success(addr);
    return true;
  }

  /** One request of the web hub this server is a guest of (its own guards: Host, token, counts). */
  handle(req: IncomingMessage, res: ServerResponse): void { this.request(req, res); }

  private request(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      this.reject('badRequest');
      res.writeHead(400).end();
      return;
    }
    if (!this.hostOk(req)) {
      res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end(`Host "${req.headers.host ?? ''}" is not allowed; add it with allow-hosts=${hostName(req.headers.host ?? '') || 'NAME'}\n`);
      return;
    }
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      // The page itself holds no secret: it reads ?token= from its own address and sends it.
      // Framed only by pages of its own origin (the sluice remote page embeds it on its port).
      if (req.method !== 'GET' && req.method !== 'HEAD') { this.reject('method'); res.writeHead(405, { allow: 'GET' }).end(); return; }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer' }).end(this.page);
      return;
    }
    if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
    if (!this.authorised(req, res, url)) { req.resume(); return; }
    if (path === '/mounts' || path === '/mounts.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ mounts: this.mountList() }));
      return;
    }
    const parts = path.split('/').slice(1);
    const kind = parts[0] === 'whep' ? 'webrtc' : parts[0] === 'hls' ? 'hls' : null;
    let name = '';
    try { name = decodeURIComponent(parts[1] ?? ''); } catch { /* not found below */ }
    const m = kind ? this.mounts.get(`${kind}:${name}`) : undefined;
    if (!m) {
      this.reject('notFound');
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no ${kind ?? 'such'} mount "${name}"; GET /mounts lists them\n`);
      return;
    }
    m.handle(req, res, parts.slice(2), url, this);
  }
}
