// Prometheus metrics and the live dashboard for a running pipeline (prom-client): per-element counters that
// Prometheus turns into rates itself (rate(frames) = fps, rate(busy seconds) = busy fraction),
// latency quantiles, queue depth and capacity, plus Node's process metrics. Values are read
// from the pipeline's own stats at scrape time, so nothing is recorded between scrapes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { tokenMatches } from '../net/token.ts';
import { AuthBackoff, bearerToken, retryAfter } from '../net/auth-backoff.ts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pipeline } from '../core/pipeline.ts';
import { pipelineDot } from '../core/dot.ts';
import { Err } from '../core/errors.ts';
import { guard } from '../net/guard.ts';

/** A registry whose metrics describe `pipeline` whenever it is scraped. */
export function pipelineRegistry(pipeline: Pipeline): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  // stream: the stream id of the branch an element came with (sluice serve), '' for the shared chain.
  const labels = ['element', 'type', 'stream'] as const;
  const each = (fn: (n: Pipeline['nodes'][number], l: { element: string; type: string; stream: string }) => void) => {
    for (const n of pipeline.nodes) fn(n, { element: n.name, type: n.def.name, stream: n.branch ?? '' });
  };
  // Counters are re-read from the element stats on each scrape (they only ever grow).
  const counter = (name: string, help: string, value: (n: Pipeline['nodes'][number]) => number) =>
    new Counter({ name, help, labelNames: labels, registers: [registry], collect() { this.reset(); each((n, l) => this.inc(l, value(n))); } });
  const gauge = (name: string, help: string, value: (n: Pipeline['nodes'][number]) => number | null) =>
    new Gauge({ name, help, labelNames: labels, registers: [registry], collect() { this.reset(); each((n, l) => { const v = value(n); if (v !== null) this.set(l, v); }); } });
  /** Quantiles (seconds) of a per-element histogram kept in ms. */
  const quantiles = (name: string, help: string, qs: number[], hist: (n: Pipeline['nodes'][number]) => { count: number; quantile(q: number): number }) =>
    new Gauge({
      name, help, labelNames: [...labels, 'quantile'], registers: [registry],
      collect() {
        this.reset();
        each((n, l) => {
          const h = hist(n);
          if (h.count === 0) return;
          for (const q of qs) this.set({ ...l, quantile: String(q) }, h.quantile(q) / 1000);
        });
      },
    });
  counter('sluice_element_frames_in_total', 'Frames an element received', (n) => n.stats.framesIn);
  counter('sluice_element_frames_out_total', 'Frames an element pushed downstream', (n) => n.stats.framesOut);
  counter('sluice_element_busy_seconds_total', 'Time inside process/produce minus time waiting for downstream space; rate() is the busy fraction', (n) => n.stats.busyMs / 1000);
  counter('sluice_element_dropped_total', 'Frames dropped by an element or its leaky input queue', (n) => n.stats.dropped + (n.channel?.dropped ?? 0));
  counter('sluice_element_dropped_late_total', 'Live frames an element dropped because they would reach a sink later than max-latency', (n) => n.droppedLate);
  quantiles('sluice_element_since_capture_seconds', 'Age since capture of the live frames reaching an element (quantiles over the run); at a sink, to its hand-off', [0.5, 0.99],
    (n) => (n.def.kind === 'sink' && n.endToEnd.count > 0 ? n.endToEnd : n.sinceCapture));
  new Counter({
    name: 'sluice_stream_dropped_total', help: 'Frames of a live stream dropped, by reason (late: past max-latency)',
    labelNames: ['stream', 'reason'], registers: [registry],
    collect() {
      this.reset();
      for (const [s, r] of pipeline.drops.byStream) for (const [reason, k] of Object.entries(r)) this.inc({ stream: String(s), reason }, k);
    },
  });
  gauge('sluice_element_queue_depth', 'Frames waiting in the element\'s input queue now', (n) => n.channel ? n.channel.length : null);
  gauge('sluice_element_queue_capacity', 'Size of the element\'s input queue', (n) => n.channel ? n.channel.capacity : null);
  gauge('sluice_element_queue_high_water', 'Most frames ever waiting in the element\'s input queue', (n) => n.channel ? n.channel.highWater : null);
  quantiles('sluice_element_latency_seconds', 'Per-frame service time of an element (quantiles over the run)', [0.5, 0.9, 0.99], (n) => n.stats.latency);
  // What an element resolved at start (infer: provider, batch, compiled or why not), as labels
  // of a constant 1 (Prometheus' "info" idiom); its numbers as their own series.
  new Gauge({
    name: 'sluice_element_info', help: 'What the element resolved at start (labels); always 1',
    labelNames: [...labels, 'key', 'value'], registers: [registry],
    collect() {
      this.reset();
      each((n, l) => {
        for (const [k, v] of Object.entries(n.impl?.describe?.() ?? {})) if (typeof v !== 'number') this.set({ ...l, key: k, value: String(v) }, 1);
      });
    },
  });
  new Gauge({
    name: 'sluice_element_resolved', help: 'Numbers the element reports about how it runs (infer: batch, sessions, calls, framesPerCall, runMsPerCall...)',
    labelNames: [...labels, 'key'], registers: [registry],
    collect() {
      this.reset();
      each((n, l) => {
        for (const [k, v] of Object.entries(n.impl?.describe?.() ?? {})) if (typeof v === 'number') this.set({ ...l, key: k }, v);
      });
    },
  });
  // Per stream: what its source made (rate() is the stream's fps).
  new Counter({
    name: 'sluice_stream_frames_total', help: 'Frames a stream\'s source produced', labelNames: ['stream'], registers: [registry],
    collect() {
      this.reset();
      for (const n of pipeline.nodes) if (n.isSource) this.inc({ stream: pipeline.streamLabel(n.streamId) }, n.stats.framesOut);
    },
  });
  new Gauge({
    name: 'sluice_pipeline_playing', help: '1 while the pipeline is playing', registers: [registry],
    collect() { this.set(pipeline.state === 'playing' ? 1 : 0); },
  });
  return registry;
}

export interface MetricsServer { url: string; dashboard: string; close(): Promise<void> }

/** The token a request gives: `Authorization: Bearer` (the scheme in any case), else `?token=`. */
function givenToken(req: IncomingMessage): string {
  return bearerToken(req.headers.authorization) || (new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '');
}

/** What the dashboard's event stream carries each second: the report plus raw busy time and queue depth. */
export function liveStats(pipeline: Pipeline) {
  const r = pipeline.report();
  const elements: Record<string, (typeof r.elements)[string] & { busySeconds: number; queue: { depth: number; capacity: number; highWater: number } }> = {};
  for (const n of pipeline.nodes) {
    const e = r.elements[n.name];
    if (e) elements[n.name] = { ...e, busySeconds: n.stats.busyMs / 1000, queue: { ...e.queue, depth: n.channel?.length ?? 0 } };
  }
  return { state: pipeline.state, description: r.pipeline ?? '', wallSeconds: r.wallSeconds, frames: r.frames, fps: r.fps, verdict: r.bottleneck, elements };
}

const PAGE = new URL('./dashboard.html', import.meta.url);

/**
 * One HTTP server for a playing pipeline, on host:port (127.0.0.1 unless told otherwise):
 * `/metrics` for Prometheus, `/` the live dashboard, `/events` its stats stream (Server-Sent
 * Events, one JSON snapshot a second), `/graph.svg` the graph with rates (Graphviz). With a token,
 * requests must send `Authorization: Bearer TOKEN` (Prometheus' `authorization` setting) or
 * `?token=` (the dashboard page passes on the one in its own address).
 */
export async function serveMetrics(pipeline: Pipeline, o: { host?: string; port: number; token?: string; intervalMs?: number; allowHosts?: string[] }): Promise<MetricsServer> {
  const registry = pipelineRegistry(pipeline);
  const rejected = new Counter({ name: 'sluice_metrics_rejected_total', help: 'Requests and connections this metrics server refused, by reason', labelNames: ['reason'], registers: [registry] });
  const token = o.token ?? '';
  const backoff = new AuthBackoff();
  const page = readFileSync(PAGE);
  const streams = new Set<ServerResponse>();
  const tick = setInterval(() => {
    if (!streams.size) return;
    const data = `data: ${JSON.stringify(liveStats(pipeline))}\n\n`;
    for (const res of streams) res.write(data);
  }, o.intervalMs ?? 1000);
  let graphviz: Promise<{ dot(src: string): string }> | null = null;
  let hostOk: (req: IncomingMessage) => boolean = () => true;
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    // The dashboard is a browser page: a rebinding page must not read it.
    if (!hostOk(req)) { rejected.inc({ reason: 'host' }); res.writeHead(403, { 'content-type': 'text/plain' }).end(`Host "${req.headers.host ?? ''}" is not allowed\n`); return; }
    const known = ['/metrics', '/', '/events', '/graph.svg'];
    if (!known.includes(path)) { res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try ${known.join(' ')}\n`); return; }
    // An address that keeps sending wrong tokens is refused for a while, unchecked (auth-backoff.ts).
    const addr = req.socket.remoteAddress ?? '';
    const wait = token ? backoff.blocked(addr) : 0;
    if (wait) { rejected.inc({ reason: 'backoff' }); res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(retryAfter(wait)) }).end(`too many wrong tokens from ${addr}; retry in ${retryAfter(wait)} s\n`); return; }
    const given = givenToken(req);
    if (!tokenMatches(token, given)) { rejected.inc({ reason: 'token' }); if (given || req.headers.authorization) backoff.failure(addr); res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('missing or wrong token\n'); return; }
    if (token) backoff.success(addr);
    const fail = (e: Error) => { if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`${e.message}\n`); };
    if (path === '/metrics') {
      registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text), fail);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(liveStats(pipeline))}\n\n`);
      streams.add(res);
      res.on('close', () => streams.delete(res));
    } else {
      // Graphviz (WebAssembly) loads once, on the first request for the graph.
      graphviz ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load());
      graphviz.then((gv) => res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-store' }).end(gv.dot(pipelineDot(pipeline))), fail);
    }
  });
  const host = o.host ?? '127.0.0.1';
  hostOk = guard(server, { host, allowHosts: o.allowHosts, onReject: (r) => { if (r !== 'host') rejected.inc({ reason: r }); } });
  await new Promise<void>((res, rej) => {
    server.once('error', (e: NodeJS.ErrnoException) => { clearInterval(tick); rej(new Err.IO(`cannot serve metrics on ${host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another with --metrics' : e.message}`)); });
    server.listen(o.port, host, () => res());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : o.port;
  return {
    url: `http://${host}:${port}/metrics`,
    dashboard: `http://${host}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`,
    close: () => new Promise<void>((r) => {
      clearInterval(tick);
      for (const s of streams) s.end();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** `[host:]port` as given to --metrics (or --api). */
export function parseListen(spec: string, flag = '--metrics'): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(spec);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Err.PROPERTY(`${flag} takes [HOST:]PORT, e.g. 9464 or 127.0.0.1:9464 (got "${spec}")`);
  return { host: m[1] ?? '127.0.0.1', port };
}
