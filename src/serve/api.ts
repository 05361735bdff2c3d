// The REST API of `sluice serve` (node:http): streams added, listed and removed while the
// pipeline plays, health, Prometheus metrics and an OpenAPI description. 127.0.0.1 unless told
// otherwise; with a token every route but /v1/health wants `Authorization: Bearer TOKEN`.
// Bodies are capped before they are read, so a client cannot make the service buffer megabytes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { tokenMatches } from '../net/token.ts';
import { LiveServer } from '../net/live.ts';
import { AuthBackoff, bearerToken, retryAfter } from '../net/auth-backoff.ts';
import { Err, isSluiceError, type ErrorCode } from '../core/errors.ts';
import { pipelineRegistry } from '../trace/metrics.ts';
import { LIVE_PREFIX, type Service, type StreamInfo } from './service.ts';
import { CLIP_PATHS, clipRoutes } from './clips.ts';

/** What the API serves: one box's Service, or a whole cluster's streams (ClusterStreams). */
export interface StreamsBackend {
  add(id: string, uri: string): Promise<StreamInfo>;
  remove(id: string): Promise<void>;
  list(): StreamInfo[] | Promise<StreamInfo[]>;
  get(id: string): StreamInfo | Promise<StreamInfo>;
  /** 'ok' when serving; anything else is reported with 503. */
  health(): string;
  /** Prometheus text, if this backend has metrics. */
  metrics?(): Promise<{ contentType: string; text: string }>;
}

/** The API's view of a local Service. */
export function serviceBackend(service: Service): StreamsBackend {
  const registry = pipelineRegistry(service.pipeline);
  return {
    add: (id, uri) => service.add(id, uri),
    remove: (id) => service.remove(id),
    list: () => service.list(),
    get: (id) => service.get(id),
    health: () => service.health(),
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
  };
}
import { guard } from '../net/guard.ts';

const MAX_BODY = 64 * 1024;

const STATUS: Partial<Record<ErrorCode, number>> = {
  SLUICE_ERR_API_BODY: 400, SLUICE_ERR_PARSE: 400, SLUICE_ERR_PROPERTY: 400, SLUICE_ERR_NO_ELEMENT: 400, SLUICE_ERR_LINK: 400,
  SLUICE_ERR_API_TOO_LARGE: 413, SLUICE_ERR_SOURCE_DENIED: 403,
  SLUICE_ERR_AUTH: 401, SLUICE_ERR_NOT_FOUND: 404, SLUICE_ERR_CONFLICT: 409,
  SLUICE_ERR_FILE_NOT_FOUND: 422, SLUICE_ERR_MEDIA_OPEN: 422, SLUICE_ERR_NO_VIDEO: 422, SLUICE_ERR_SAME_FILE: 422,
  SLUICE_ERR_STATE: 503,
  SLUICE_ERR_LIVE_OFF: 404, SLUICE_ERR_LIVE: 409,
  // A camera that did not answer in time: the request is fine, the source is not (as MEDIA_OPEN).
  SLUICE_ERR_TIMEOUT: 422,
};

export interface ApiServer { url: string; close(): Promise<void> }

/** The viewer page of the live sinks (src/net/live-page.html), told where its paths are on this port and which stream it plays. */
const LIVE_PAGE = readFileSync(new URL('../net/live-page.html', import.meta.url), 'utf8');
const livePage = (id: string) => LIVE_PAGE.replace('<html lang="en">', `<html lang="en" data-base="${LIVE_PREFIX}" data-mount="${id.replace(/[^A-Za-z0-9_.-]/g, '')}">`);

/**
 * What a browser gets at /v1/streams/{id}/live without the header (it cannot send one when a
 * link is opened): the same few lines for every id, which take the token from the address's
 * #token= (a fragment never leaves the browser, so no server or proxy logs it) and load the page
 * with it as a Bearer token.
 */
const LIVE_SHELL = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sluice live</title></head>
<body style="background:#111;color:#ddd;font:14px system-ui,sans-serif"><p id="m">This page needs the service's token.</p>
<script>
const m = document.getElementById('m'), t = new URLSearchParams(location.hash.slice(1)).get('token');
m.textContent = 'This page needs the service token: open it as ' + location.pathname + '#token=TOKEN';
if (t) fetch(location.pathname, { headers: { authorization: 'Bearer ' + t, accept: 'text/html' }, cache: 'no-store' }).then(async (r) => {
  if (!r.ok) { m.textContent = 'refused: ' + r.status + ' ' + (await r.text()); return; }
  const html = await r.text();
  document.open(); document.write(html); document.close();
}, (e) => { m.textContent = String(e); });
</script></body></html>
`;

/** Authorization: Bearer TOKEN, the scheme in any case (only the header: a token in the URL would end up in logs). */
function tokenOk(req: IncomingMessage, token: string): boolean {
  return tokenMatches(token, bearerToken(req.headers.authorization));
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) { res.writeHead(status).end(); return; }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}

function fail(res: ServerResponse, e: unknown): void {
  if (isSluiceError(e)) send(res, STATUS[e.code] ?? 500, { error: { code: e.code, message: e.message } });
  else send(res, 500, { error: { code: 'SLUICE_ERR_ELEMENT', message: (e as Error).message } });
}

/**
 * The body as JSON, at most MAX_BODY bytes. Over the cap (declared, or counted as a chunked body
 * arrives) the answer is 413 and the connection closes: the rest is read and thrown away for a
 * moment first, as nginx's lingering close does, so the client sees the 413 rather than a reset.
 */
function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const tooLarge = () => {
    res.shouldKeepAlive = false;
    req.removeAllListeners('data');
    req.resume();
    res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
    return new Err.API_TOO_LARGE(`request body over ${MAX_BODY} bytes; a stream is {"id": "cam1", "uri": "rtsp://..."}`);
  };
  return new Promise((resolveBody, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) { reject(tooLarge()); return; }
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) { parts.length = 0; reject(tooLarge()); return; }
      parts.push(b);
    });
    req.on('end', () => {
      try {
        resolveBody(JSON.parse(Buffer.concat(parts).toString('utf8') || 'null'));
      } catch (e) {
        reject(new Err.API_BODY(`the body is not JSON (${(e as Error).message}); send {"id": "cam1", "uri": "rtsp://..."}`));
      }
    });
    req.on('error', reject);
  });
}

/** A path segment, decoded; a malformed escape (%E0%A4%A) is the client's mistake (400), not ours. */
function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Err.API_BODY(`the path has a malformed %-escape (${JSON.stringify(s.slice(0, 80))}); encode the stream id with encodeURIComponent`);
  }
}

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Sluice serve', version: '1', description: 'Streams of a running Sluice analytics service, added and removed at run time.' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      NewStream: { type: 'object', required: ['id', 'uri'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }, uri: { type: 'string', description: 'rtsp://, http://, file:///, or a path' } } },
      Stream: {
        type: 'object',
        properties: {
          id: { type: 'string' }, uri: { type: 'string' },
          state: { type: 'string', enum: ['connecting', 'playing', 'reconnecting', 'ended', 'failed'] },
          frames: { type: 'integer' }, fps: { type: 'number' }, stream: { type: 'integer', description: 'the stream number in metadata ("stream")' },
          lastError: { oneOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }] },
          addedAt: { type: 'string', format: 'date-time' },
        },
      },
      Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/v1/streams': {
      get: { summary: 'List streams', responses: { 200: { description: 'streams', content: { 'application/json': { schema: { type: 'object', properties: { streams: { type: 'array', items: { $ref: '#/components/schemas/Stream' } } } } } } } } },
      post: {
        summary: 'Add a stream', requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewStream' } } } },
        responses: { 201: { description: 'added' }, 400: { description: 'bad body' }, 401: { description: 'token' }, 409: { description: 'duplicate id' }, 422: { description: 'the source cannot open' } },
      },
    },
    '/v1/streams/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: 'One stream', responses: { 200: { description: 'the stream' }, 404: { description: 'unknown id' } } },
      delete: { summary: 'Remove a stream (its last frames drain, its request pad is freed)', responses: { 204: { description: 'removed' }, 404: { description: 'unknown id' } } },
    },
    '/v1/streams/{id}/live': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        summary: 'The stream\'s annotated output: the viewer page (Accept: text/html) or where its WHEP and HLS endpoints are (JSON); its encoder starts now and stops when nobody has watched for live.idle seconds',
        responses: { 200: { description: 'page, or {id, page, whep, hls, viewers}' }, 404: { description: 'unknown id, or no live: in the serve file' }, 409: { description: 'the stream has ended or failed' } },
      },
    },
    [`${LIVE_PREFIX}/whep/{id}`]: { post: { summary: 'WHEP (RFC 9725): an SDP offer for the stream\'s live view; 201 with the answer and the session\'s Location (DELETE it to leave)', responses: { 201: { description: 'answer' } } } },
    [`${LIVE_PREFIX}/mounts`]: { get: { summary: 'The live views running now: a webrtc and an hls mount per watched stream, named by its id', responses: { 200: { description: '{mounts: [{name, kind, ...}]}' } } } },
    [`${LIVE_PREFIX}/hls/{id}/index.m3u8`]: { get: { summary: 'Low-latency HLS of the stream\'s live view (with Authorization: Bearer)', responses: { 200: { description: 'playlist' } } } },
    '/v1/health': { get: { summary: 'Liveness (no token needed)', security: [], responses: { 200: { description: 'playing' }, 503: { description: 'not playing' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics, per element and per stream (label stream)', responses: { 200: { description: 'text exposition format' } } } },
    '/v1/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    ...CLIP_PATHS,
  },
} as const;

export async function serveApi(from: Service | StreamsBackend, o: { host: string; port: number; token: string; allowHosts?: string[] }): Promise<ApiServer> {
  const service: StreamsBackend = 'pipeline' in from ? serviceBackend(from) : from;
  /** Refusals by reason (auth, body, host, tooMany, perAddress), appended to /metrics. */
  const rejected = new Map<string, number>();
  const count = (reason: string) => rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
  const backoff = new AuthBackoff();
  // Clips of the record elements (a local service's pipeline only).
  const clips = 'pipeline' in from ? clipRoutes(from, segment, count) : null;
  // Live views (a local service with live: in its file): WHEP and HLS under /v1/live, answered by
  // the live sinks of each watched stream after this server's Host and token checks.
  const local = 'pipeline' in from && from.liveEnabled ? from : null;
  let viewer: LiveServer | null = null;
  const liveOff = () => new Err.LIVE_OFF('pipeline' in from
    ? 'this service has no live view; add "live: {}" to its serve file (and a demux to its chain)'
    : 'a cluster\'s API offers no live view (the streams run on the workers); run sluice serve with live: in its file to watch them');
  let hostOk: (req: IncomingMessage) => boolean = () => true;
  // Timeouts are checked every second (Node's default is every 30 s).
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (!hostOk(req)) { count('host'); send(res, 403, { error: { code: 'SLUICE_ERR_AUTH', message: `Host "${req.headers.host ?? ''}" is not allowed (DNS rebinding guard); start serve with --allow-host NAME` } }); req.resume(); return; }
    if (path === '/v1/health' && method === 'GET') {
      const h = service.health();
      Promise.resolve(service.list()).then((l) => send(res, h === 'ok' ? 200 : 503, { status: h, streams: l.length }), (e) => fail(res, e));
      return;
    }
    // An address that keeps sending wrong tokens is refused for a while, unchecked (auth-backoff.ts).
    const addr = req.socket.remoteAddress ?? '';
    const wait = o.token ? backoff.blocked(addr) : 0;
    if (wait) { count('backoff'); res.setHeader('retry-after', retryAfter(wait)); send(res, 429, { error: { code: 'SLUICE_ERR_AUTH', message: `too many wrong tokens from ${addr}; retry in ${retryAfter(wait)} s` } }); req.resume(); return; }
    if (!tokenOk(req, o.token) && local && method === 'GET' && !req.headers.authorization && /^\/v1\/streams\/[^/]+\/live$/.test(path) && /text\/html/.test(req.headers.accept ?? '')) {
      // A browser opening the link: the shell that loads the page with the token of #token=.
      count('auth');
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'www-authenticate': 'Bearer', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-frame-options': 'SAMEORIGIN' }).end(LIVE_SHELL);
      req.resume();
      return;
    }
    if (!tokenOk(req, o.token)) { count('auth'); if (req.headers.authorization) backoff.failure(addr); res.setHeader('www-authenticate', 'Bearer'); fail(res, new Err.AUTH('missing or wrong token: send Authorization: Bearer TOKEN')); req.resume(); return; }
    if (o.token) backoff.success(addr);
    const one = /^\/v1\/streams\/([^/]+)$/.exec(path);
    const live = /^\/v1\/streams\/([^/]+)\/live$/.exec(path);
    const handle = async () => {
      if (live && method === 'GET') {
        if (!local) throw liveOff();
        const info = await local.liveStart(segment(live[1]!));
        if (/text\/html/.test(req.headers.accept ?? '')) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer' }).end(livePage(info.id));
          return;
        }
        return send(res, 200, info);
      }
      if (path === LIVE_PREFIX || path.startsWith(`${LIVE_PREFIX}/`)) {
        if (!local || !viewer) throw liveOff();
        const rest = path.slice(LIVE_PREFIX.length);
        const m = /^\/(whep|hls)\/([^/]+)(\/.*)?$/.exec(rest);
        if (m) {
          const id = segment(m[2]!);
          // An offer or an HLS request is a viewer: the stream's live branch runs (404 for an unknown stream).
          // A session's DELETE does not start it again.
          if (m[1] === 'hls' || (!m[3] && method === 'POST')) await local.liveStart(id);
          else local.liveOf(id);
        } else if (rest !== '/mounts') {
          throw new Err.NOT_FOUND(`no route ${method} ${path}; the live view is at GET /v1/streams/{id}/live`);
        }
        req.url = `${rest}${url.search}`;
        viewer.handle(req, res);
        return;
      }
      if (clips && await clips(req, res, path, method)) return;
      if (path === '/v1/streams' && method === 'GET') return send(res, 200, { streams: await service.list() });
      if (path === '/v1/streams' && method === 'POST') {
        const body = await readJson(req, res);
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Err.API_BODY('send a JSON object {"id": "cam1", "uri": "rtsp://..."}');
        const b = body as { id?: unknown; uri?: unknown };
        const info = await service.add(b.id as string, b.uri as string);
        res.setHeader('location', `/v1/streams/${info.id}`);
        return send(res, 201, info);
      }
      if (one && method === 'GET') return send(res, 200, await service.get(segment(one[1]!)));
      if (one && method === 'DELETE') { await service.remove(segment(one[1]!)); return send(res, 204); }
      if (path === '/metrics' && method === 'GET' && service.metrics) {
        const m = await service.metrics();
        const extra = ['# HELP sluice_api_rejected_total Requests and connections the API refused, by reason', '# TYPE sluice_api_rejected_total counter', ...[...rejected].map(([k, v]) => `sluice_api_rejected_total{reason="${k}"} ${v}`)].join('\n');
        res.writeHead(200, { 'content-type': m.contentType }).end(`${m.text.trimEnd()}\n${extra}\n`);
        return;
      }
      if (path === '/v1/openapi.json' && method === 'GET') return send(res, 200, OPENAPI);
      send(res, 404, { error: { code: 'SLUICE_ERR_NOT_FOUND', message: `no route ${method} ${path}; see /v1/openapi.json` } });
    };
    handle().catch((e) => {
      if (isSluiceError(e) && (e.code === 'SLUICE_ERR_API_BODY' || e.code === 'SLUICE_ERR_API_TOO_LARGE')) count('body');
      if (isSluiceError(e) && e.code === 'SLUICE_ERR_SOURCE_DENIED') count('source');
      fail(res, e);
    });
  });
  // Slow or silent clients do not hold sockets forever; caps per address and in all.
  hostOk = guard(server, { host: o.host, allowHosts: o.allowHosts, onReject: (r) => { if (r !== 'host') count(r); } });
  await new Promise<void>((res, rej) => {
    server.once('error', (e: NodeJS.ErrnoException) => rej(new Err.IO(`cannot serve the API on ${o.host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another with --api' : e.message}`)));
    server.listen(o.port, o.host, () => res());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : o.port;
  if (local) {
    viewer = LiveServer.gate(o.host, port, LIVE_PREFIX);
    local.serveLiveOn(o.host, port);
  }
  return {
    url: `http://${o.host}:${port}`,
    close: async () => {
      await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
      if (viewer) { await LiveServer.release(viewer); viewer = null; }
    },
  };
}
