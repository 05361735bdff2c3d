// `sluice serve`: one long-lived dynamic pipeline whose streams (cameras, files) are added and
// removed while it runs, as DeepStream's REST-managed deployments do. The shared chain (mux !
// infer ! track ! sinks) is built once; each stream is a branch made from the source template
// and linked into the chain's first element. The set of streams a user asked for is persisted,
// atomically, so a restart resumes them.
import { closeSync, existsSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import { z } from 'zod';
import { addBranch, buildPipeline } from '../core/graph.ts';
import { parseLaunch } from '../core/launch.ts';
import { Err, isSluiceError } from '../core/errors.ts';
import type { Branch, Pipeline } from '../core/pipeline.ts';
import type { Registry } from '../core/registry.ts';
import type { GraphSpec } from '../core/graph.ts';
import { checkSource, sourcePolicy, type SourcePolicy } from './sources.ts';

export const ServeConfig = z.object({
  /** Per-stream source, in launch syntax; {uri} and {id} are filled in. Ends where the chain starts. */
  source: z.string().default('uri location={uri}'),
  /** The shared chain, in launch syntax; its first element takes every stream (mux, or another join). */
  chain: z.string(),
  /** Streams to start with when there is no state file yet. */
  streams: z.array(z.object({ id: z.string(), uri: z.string() })).default([]),
  /** [HOST:]PORT of the REST API (127.0.0.1 unless a host is given). */
  api: z.string().default('127.0.0.1:8080'),
  /** Where the set of streams is kept across restarts (relative to the config file). */
  state: z.string().default(''),
  /** Folders local files of streams may be under (relative to the config file); default: the file's own folder. */
  'allow-dirs': z.array(z.string()).default([]),
  /** Live streams: most ms from capture to a sink's hand-off before frames are dropped (per stream; 0: never). */
  'max-latency': z.number().int().min(0).default(500),
  /** Each stream's annotated output in a browser at /v1/streams/{id}/live (WebRTC, HLS), encoded only while watched. */
  live: z.object({
    /** The demux of the chain whose src_N outputs are the streams (default: the chain's only demux). */
    from: z.string().default(''),
    /** What a watched stream goes through after the demux, ending in an encoder of H.264 without B-frames. */
    chain: z.string().default('osd ! encode preset=ultrafast tune=zerolatency gop=30'),
    /** Also serve it as low-latency HLS (the page's fallback). */
    hls: z.boolean().default(true),
    /** Seconds without a viewer before a stream's live branch (its encoder) stops. */
    idle: z.number().min(1).max(3600).default(15),
    /** WebRTC viewers of one stream at once. */
    'max-viewers': z.number().int().min(1).max(1000).default(8),
  }).strict().optional(),
}).strict();
export type ServeConfig = z.output<typeof ServeConfig>;
/** What a Service is made from: a serve file's settings (allow-dirs may be left out), and the file. */
export type ServiceConfig = Omit<ServeConfig, 'allow-dirs' | 'max-latency' | 'live'> & { 'allow-dirs'?: string[]; 'max-latency'?: number; live?: Partial<NonNullable<ServeConfig['live']>>; file?: string };

export type StreamState = 'connecting' | 'playing' | 'reconnecting' | 'ended' | 'failed';

export interface StreamInfo {
  id: string;
  uri: string;
  state: StreamState;
  /** Frames its source produced, and their rate over the last second. */
  frames: number;
  fps: number;
  /** Stream number in the pipeline (frame.stream; meta lines' "stream"). */
  stream: number;
  lastError: { code: string; message: string } | null;
  addedAt: string;
}

/** A stream the user asked for. `branch` is null while its source cannot start (it is retried). */
interface Entry { id: string; uri: string; branch: Branch | null; state: StreamState; lastError: StreamInfo['lastError']; addedAt: string; fps: number; lastFrames: number; removing: boolean; retryAt: number; retries: number; live?: Live }

/** A watched stream's live branch (demux.src_N ! queue ! osd ! encode ! webrtc/hls) and when it last had a viewer. */
interface Live { branch: Branch; usedAt: number; stopping: boolean; stopQueued: boolean }

/** Where a stream's live view is, on the API's port. */
export interface LiveInfo { id: string; page: string; whep: string; hls: string | null; viewers: number }

/** The API paths the live viewer server answers under (WHEP sessions are named under it). */
export const LIVE_PREFIX = '/v1/live';

/** Retries of a stream that cannot start: 2 s, doubling, at most a minute apart. */
const RETRY_FIRST_MS = 2000, RETRY_MAX_MS = 60_000;
/** An add or remove running longer than this is reported by /v1/health as stuck. */
export const STUCK_MS = 10_000;
/** Network sources of streams reconnect with backoff up to this interval (uri reconnect-max-interval). */
const RECONNECT_MAX_MS = 30_000;

const StateShape = z.object({ version: z.number().optional(), streams: z.array(z.object({ id: z.string(), uri: z.string() })) });

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A stream id and uri fit for templates, topics and keys (the API, the CLI and the cluster check the same). */
export function checkStream(id: unknown, uri: unknown): void {
  if (typeof id !== 'string' || !ID.test(id)) throw new Err.API_BODY(`"id" must be 1-64 letters, digits, _ . or - (starting with a letter or digit); got ${JSON.stringify(id)}`);
  if (typeof uri !== 'string' || !uri || /[\s"']/.test(uri)) throw new Err.API_BODY(`"uri" must be a URL or path without spaces or quotes (rtsp://..., file:///..., /path.mp4); got ${JSON.stringify(uri)}`);
}

export function loadServeConfig(file: string): ServeConfig & { file: string } {
  if (!existsSync(file)) throw new Err.FILE_NOT_FOUND(`serve config not found: ${file}`);
  let raw: unknown;
  try {
    raw = parseYamlText(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Err.YAML(`${file}: ${(e as Error).message}`);
  }
  const r = ServeConfig.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Err.YAML(`${file}: ${i.path.join('.') || 'top level'}: ${i.message} (a serve file has source, chain, streams, api, state, allow-dirs, max-latency, live)`);
  }
  return { ...r.data, file };
}

export class Service {
  readonly pipeline: Pipeline;
  private cfg: ServiceConfig;
  private registry: Registry;
  private join: string;
  private entries = new Map<string, Entry>();
  private stateFile: string;
  private ticker: ReturnType<typeof setInterval> | null = null;
  /** Adds and removes run one at a time, so the state file and the pipeline agree. */
  private serial: Promise<unknown> = Promise.resolve();
  /** The add or remove running now, and since when (for /v1/health). */
  private busy: { what: string; since: number } | null = null;
  /** Which sources streams may use; null: the template does not put {uri} into a uri location. */
  private policy: SourcePolicy | null;
  private lockFile = '';
  private releaseOnExit = () => this.unlock();

  private stuckMs: number;
  /** The live view's settings and the demux it taps; null without live: in the file. */
  private live: { from: string; chain: string; hls: boolean; idleMs: number; maxViewers: number } | null = null;
  /** The API's address (the live sinks answer on its port); set by serveApi. */
  private liveAddress: { host: string; port: number } | null = null;
  private liveCount = 0;

  constructor(cfg: ServiceConfig, registry: Registry, opts: { state?: string; sources?: SourcePolicy; stuckMs?: number } = {}) {
    this.cfg = cfg;
    this.stuckMs = opts.stuckMs ?? STUCK_MS;
    this.registry = registry;
    const base = cfg.file ? dirname(resolve(cfg.file)) : process.cwd();
    const state = opts.state ?? cfg.state;
    this.stateFile = state ? resolve(base, state) : '';
    // Only a uri element's location opens files and URLs; a template that puts {uri} elsewhere
    // (testsrc pattern={uri}) is checked by that element's own property schema.
    this.policy = usesLocation(parseLaunch(cfg.source)) ? (opts.sources ?? sourcePolicy({ dirs: cfg['allow-dirs']?.length ? cfg['allow-dirs'] : cfg.file ? ['.'] : [], base })) : null;
    const spec = parseLaunch(cfg.chain);
    const first = spec.elements[0];
    const def = first ? registry.get(first.type) : undefined;
    if (!first || !def) throw new Err.YAML(`chain must start with the element every stream joins, e.g. "mux name=m ! infer ... ! meta" (got "${cfg.chain}")`);
    if (!def.pads.some((t) => t.direction === 'sink' && t.presence === 'request')) {
      throw new Err.YAML(`chain starts with ${first.type}, which takes one input; start it with mux (or another element that takes many)`);
    }
    first.name ??= 'streams';
    this.join = first.name;
    if (cfg.live) {
      const demuxes = spec.elements.filter((el) => el.type === 'demux');
      const from = cfg.live.from || (demuxes.length === 1 ? (demuxes[0]!.name ??= 'live') : '');
      if (!from) throw new Err.YAML(`live: needs a demux in the chain to take each stream's frames from (${demuxes.length ? `it has ${demuxes.length}; name one with live: {from: NAME}` : 'e.g. "... ! tee name=t  t. ! queue ! meta  t. ! queue ! demux"'})`);
      if (!spec.elements.some((el) => el.name === from && el.type === 'demux')) throw new Err.YAML(`live: from: "${from}" is not the name of a demux in the chain`);
      const liveChain = cfg.live.chain ?? 'osd ! encode preset=ultrafast tune=zerolatency gop=30';
      // A mistake in it shows now, not at the first viewer.
      const ls = parseLaunch(liveChain);
      for (const el of ls.elements) if (!registry.get(el.type)) throw new Err.YAML(`live: chain: no element named "${el.type}" (it runs each watched stream from the demux to an encoder, e.g. "osd ! encode tune=zerolatency gop=30")`);
      if (ls.elements.at(-1)?.type !== 'encode') throw new Err.YAML(`live: chain: must end with encode (WebRTC and HLS take H.264); got "${liveChain}"`);
      this.live = { from, chain: liveChain, hls: cfg.live.hls ?? true, idleMs: (cfg.live.idle ?? 15) * 1000, maxViewers: cfg.live['max-viewers'] ?? 8 };
    }
    this.pipeline = buildPipeline(spec, registry, { dynamic: true, description: cfg.file ?? 'serve', maxLatency: cfg['max-latency'] });
    // A stream's state follows its source's stream-state messages; 'playing' and 'ended' follow
    // its frames and its branch's end (tick, add), as for sources that post none.
    this.pipeline.bus.on('stream-state', (m) => {
      const e = this.entryOf(m.source);
      if (!e) return;
      if (m.state === 'lost' || m.state === 'unreachable') {
        e.state = 'reconnecting';
        e.lastError = { code: 'SLUICE_ERR_MEDIA_OPEN', message: m.message ?? m.reason ?? m.state };
      } else if (m.state === 'restored') e.state = 'playing';
    });
    this.pipeline.bus.on('element', (m) => {
      const e = this.entryOf(m.source);
      if (e && m.name === 'branch-failed') { e.state = 'failed'; e.lastError = { code: String(m.data.code), message: String(m.data.message) }; }
    });
  }

  private entryOf(element: string): Entry | undefined {
    for (const e of this.entries.values()) if (e.branch?.nodes.some((n) => n.name === element)) return e;
    return undefined;
  }

  /** Play the chain and bring up the streams of the state file (or, the first time, the config's). */
  async start(): Promise<void> {
    // Two services on one state file would each keep only their own streams (the last writer
    // wins): the second refuses, naming the first, before anything plays.
    this.lock();
    let saved: { id: string; uri: string }[] | null;
    try {
      saved = this.stateFile && existsSync(this.stateFile) ? this.readState() : null;
      await this.pipeline.setState('playing');
    } catch (e) {
      this.unlock();
      throw e;
    }
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    for (const s of saved ?? this.cfg.streams) {
      try {
        await this.add(s.id, s.uri, { persist: false });
      } catch (e) {
        // The user asked for it: it stays in the desired set (failed, with why) and is retried.
        const err = isSluiceError(e) ? { code: e.code, message: e.message } : { code: 'SLUICE_ERR_MEDIA_OPEN', message: (e as Error).message };
        // An id or uri that can never be valid (a hand-edited file) is only warned about.
        if (!this.entries.has(s.id) && !(isSluiceError(e) && e.code === 'SLUICE_ERR_API_BODY')) {
          this.entries.set(s.id, { id: s.id, uri: s.uri, branch: null, state: 'failed', lastError: err, addedAt: new Date().toISOString(), fps: 0, lastFrames: 0, removing: false, retryAt: Date.now() + RETRY_FIRST_MS, retries: 0 });
        }
        this.pipeline.bus.post({ type: 'warning', source: 'serve', message: `stream ${s.id} (${s.uri}) did not start: ${isSluiceError(e) ? e.format() : (e as Error).message}; kept, retried every ${RETRY_FIRST_MS / 1000}-${RETRY_MAX_MS / 1000} s until it starts or is deleted` });
      }
    }
    this.persist();
  }

  private lock(): void {
    if (!this.stateFile) return;
    const lock = `${this.stateFile}.lock`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lock, 'wx');
        writeFileSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.lockFile = lock;
        process.once('exit', this.releaseOnExit);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Err.IO(`cannot create the lock ${lock} (${(e as Error).message}); the state file's folder must be writable`);
      }
      const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Err.STATE_LOCKED(`state file ${this.stateFile} is in use by another sluice serve (pid ${pid}); stop that one, or give this one its own --state FILE`);
      }
      // Its holder is gone (killed -9, a crash): the lock is stale.
      try { unlinkSync(lock); } catch { /* another process took it over first */ }
    }
    throw new Err.STATE_LOCKED(`state file ${this.stateFile}: another process took its lock (${lock}) at the same moment; try again`);
  }

  private unlock(): void {
    if (!this.lockFile) return;
    try {
      if (Number.parseInt(readFileSync(this.lockFile, 'utf8'), 10) === process.pid) unlinkSync(this.lockFile);
    } catch { /* gone already */ }
    this.lockFile = '';
    process.off('exit', this.releaseOnExit);
  }

  private readState(): { id: string; uri: string }[] {
    let j: unknown;
    try {
      j = JSON.parse(readFileSync(this.stateFile, 'utf8'));
    } catch (e) {
      throw new Err.IO(`state file ${this.stateFile} is not readable JSON (${(e as Error).message}); move it away to start afresh`);
    }
    const r = StateShape.safeParse(j);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new Err.STATE_FILE(`state file ${this.stateFile} is JSON but not a sluice serve state file (at ${i.path.join('.') || 'the top level'}: ${i.message}; expected {"version": 1, "streams": [{"id": "...", "uri": "..."}]}); fix it, or move it away to start afresh`);
    }
    return r.data.streams;
  }

  /** Written to a temporary file and renamed over the old one: a crash leaves the old or the new, never half. */
  private persist(): void {
    if (!this.stateFile) return;
    const body = JSON.stringify({ version: 1, streams: [...this.entries.values()].filter((e) => !e.removing).map((e) => ({ id: e.id, uri: e.uri })) }, null, 1) + '\n';
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, body);
    renameSync(tmp, this.stateFile);
  }

  private tick(): void {
    for (const e of this.entries.values()) {
      if (e.live && !e.live.stopping && !e.live.stopQueued) {
        const l = e.live;
        if (this.idle(l)) {
          // Asked again when its turn comes: a viewer may have come in the meantime.
          l.stopQueued = true;
          this.run(`stopping the live view of ${e.id}`, async () => { l.stopQueued = false; if (this.idle(l)) await this.stopLive(e, l); }).catch(() => {});
        }
      }
      if (!e.branch) {
        if (!e.removing && Date.now() >= e.retryAt && !this.busy) this.retry(e);
        continue;
      }
      const frames = this.framesOf(e);
      e.fps = frames - e.lastFrames;
      e.lastFrames = frames;
      if (e.state === 'connecting' && frames > 0) e.state = 'playing';
    }
  }

  private framesOf(e: Entry): number {
    let n = 0;
    for (const node of e.branch?.nodes ?? []) if (node.isSource) n += node.stats.framesOut;
    return n;
  }

  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const p = this.serial.then(async () => {
      this.busy = { what, since: Date.now() };
      try { return await fn(); } finally { this.busy = null; }
    });
    this.serial = p.catch(() => {});
    return p;
  }

  /** 'ok', or why the service is not answering as it should (an add or remove that does not end). */
  health(): string {
    if (this.pipeline.state !== 'playing') return this.pipeline.state;
    if (this.busy && Date.now() - this.busy.since > this.stuckMs) return `stuck: ${this.busy.what} for ${Math.round((Date.now() - this.busy.since) / 1000)} s`;
    return 'ok';
  }

  /** The branch of one stream, started; the source's location checked against the policy first. */
  private async startBranch(id: string, uri: string): Promise<Branch> {
    const location = this.policy ? await checkSource(uri, this.policy) : uri.replace(/^file:\/\//, '');
    const spec = parseLaunch(`${this.cfg.source.replaceAll('{uri}', `"${location}"`).replaceAll('{id}', id)} ! ${this.join}.`);
    if (this.policy) {
      // A network source of a stream backs off when it keeps failing (1 s doubling to 30 s),
      // so a dead or hostile address is not dialled once a second forever.
      for (const el of spec.elements) {
        if (el.type === 'uri' && !el.props.some((p) => /^reconnect[-_]?max[-_]?interval$/i.test(p.key) || p.key === 'reconnectMaxInterval')) {
          el.props.push({ key: 'reconnect-max-interval', value: String(RECONNECT_MAX_MS), loc: el.loc, valueLoc: el.loc });
        }
      }
    }
    return addBranch(this.pipeline, spec, this.registry, id);
  }

  private watch(e: Entry, branch: Branch): void {
    branch.done.then(() => { if (!e.removing && e.state !== 'failed') e.state = 'ended'; });
  }

  add(id: string, uri: string, opts: { persist?: boolean } = {}): Promise<StreamInfo> {
    return this.run(`adding ${String(id)}`, async () => {
      checkStream(id, uri);
      if (this.entries.has(id)) throw new Err.CONFLICT(`a stream with id "${id}" exists already; DELETE /v1/streams/${id} first, or pick another id`);
      const branch = await this.startBranch(id, uri);
      const e: Entry = { id, uri, branch, state: 'connecting', lastError: null, addedAt: new Date().toISOString(), fps: 0, lastFrames: 0, removing: false, retryAt: 0, retries: 0 };
      this.entries.set(id, e);
      this.watch(e, branch);
      if (opts.persist !== false) this.persist();
      return this.info(e);
    });
  }

  /** Another try at a stream that could not start; the next one later, up to a minute apart. */
  private retry(e: Entry): void {
    e.retryAt = Number.POSITIVE_INFINITY;
    this.run(`retrying ${e.id}`, async () => {
      if (e.removing || this.entries.get(e.id) !== e) return;
      try {
        const branch = await this.startBranch(e.id, e.uri);
        e.branch = branch;
        e.state = 'connecting';
        e.lastError = null;
        this.watch(e, branch);
        this.pipeline.bus.post({ type: 'warning', source: 'serve', message: `stream ${e.id} (${e.uri}) started after ${e.retries + 1} retries` });
      } catch (err) {
        e.lastError = isSluiceError(err) ? { code: err.code, message: err.message } : { code: 'SLUICE_ERR_MEDIA_OPEN', message: (err as Error).message };
        e.retries++;
        e.retryAt = Date.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(e.retries, 10));
      }
    }).catch(() => {});
  }

  remove(id: string): Promise<void> {
    return this.run(`removing ${id}`, async () => {
      const e = this.entries.get(id);
      if (!e) throw new Err.NOT_FOUND(`no stream "${id}"; GET /v1/streams lists them`);
      e.removing = true;
      this.persist();
      // Its viewers' sessions end with the live branch (and its encoder), before the source goes.
      if (e.live) await this.stopLive(e, e.live);
      if (e.branch) await this.pipeline.removeBranch(e.branch);
      this.entries.delete(id);
    });
  }

  /** The API's address: live sinks answer on its port (LiveServer.gate). */
  serveLiveOn(host: string, port: number): void { this.liveAddress = { host, port }; }

  get liveEnabled(): boolean { return this.live !== null; }

  /** No WebRTC viewer now and no request for live.idle: its encoder may stop. */
  private idle(l: Live): boolean {
    if (this.viewers(l) > 0) l.usedAt = Date.now();
    return Date.now() - l.usedAt > (this.live?.idleMs ?? 0);
  }

  private viewers(l: Live): number {
    let n = 0;
    for (const node of l.branch.nodes) if (node.def.name === 'webrtc') n += Number(node.impl?.describe?.().viewers ?? 0);
    return n;
  }

  private liveInfo(e: Entry): LiveInfo {
    const id = encodeURIComponent(e.id);
    return { id: e.id, page: `/v1/streams/${id}/live`, whep: `${LIVE_PREFIX}/whep/${id}`, hls: this.live?.hls ? `${LIVE_PREFIX}/hls/${id}/index.m3u8` : null, viewers: e.live ? this.viewers(e.live) : 0 };
  }

  /** Somebody watches (a page, an offer, an HLS request): the stream's live branch runs, started now if it was not. */
  liveStart(id: string): Promise<LiveInfo> {
    const now = this.entries.get(id);
    if (now?.live && !now.live.stopping && !now.removing) { now.live.usedAt = Date.now(); return Promise.resolve(this.liveInfo(now)); }
    return this.run(`starting the live view of ${id}`, async () => {
      const live = this.live, at = this.liveAddress;
      if (!live || !at) throw new Err.LIVE_OFF('this service has no live view; add "live: {}" to its serve file (and a demux to its chain)');
      const e = this.entries.get(id);
      if (!e || e.removing) throw new Err.NOT_FOUND(`no stream "${id}"; GET /v1/streams lists them`);
      if (e.live && !e.live.stopping) { e.live.usedAt = Date.now(); return this.liveInfo(e); }
      const stream = e.branch?.streams[0];
      if (!e.branch || stream === undefined || e.state === 'ended' || e.state === 'failed') {
        throw new Err.LIVE(`stream "${id}" is ${e.state}${e.lastError ? ` (${e.lastError.message})` : ''}: there is nothing to watch; GET /v1/streams/${id} says why`);
      }
      const t = `livetee${this.liveCount++}`;
      const where = `web=true address=${at.host} port=${at.port} mount=${e.id}`;
      // The leaky queue: a slow encoder drops this view's frames, never holds up the shared chain.
      const text = `${live.from}.src_${stream} ! queue leaky=downstream max-size=2 ! ${live.chain} ! tee name=${t}  ${t}. ! webrtc ${where} max-viewers=${live.maxViewers}${live.hls ? `  ${t}. ! hls ${where}` : ''}`;
      let branch: Branch;
      try {
        branch = await addBranch(this.pipeline, parseLaunch(text), this.registry, `live-${e.id}`);
      } catch (err) {
        throw isSluiceError(err) && err.code !== 'SLUICE_ERR_STATE' ? new Err.LIVE(`the live view of "${id}" did not start: ${err.message} (check live: chain: in the serve file)`, { cause: err }) : err;
      }
      const l: Live = { branch, usedAt: Date.now(), stopping: false, stopQueued: false };
      e.live = l;
      // A live branch whose element failed (or that the chain's end of stream ended) is taken out.
      branch.done.then(() => { if (e.live === l && !l.stopping) this.run(`ending the live view of ${e.id}`, () => this.stopLive(e, l)).catch(() => {}); });
      return this.liveInfo(e);
    });
  }

  /** Where a stream's live view is, without starting it (404 for an unknown stream). */
  liveOf(id: string): LiveInfo {
    if (!this.live) throw new Err.LIVE_OFF('this service has no live view; add "live: {}" to its serve file (and a demux to its chain)');
    const e = this.entries.get(id);
    if (!e || e.removing) throw new Err.NOT_FOUND(`no stream "${id}"; GET /v1/streams lists them`);
    return this.liveInfo(e);
  }

  /** The live branch goes: its sessions end, its encoder and sinks stop, the demux pad is freed. */
  private async stopLive(e: Entry, l: Live): Promise<void> {
    if (l.stopping || e.live !== l) return;
    l.stopping = true;
    try { await this.pipeline.removeBranch(l.branch); } finally { if (e.live === l) e.live = undefined; }
  }

  private info(e: Entry): StreamInfo {
    if (e.state === 'connecting' && this.framesOf(e) > 0) e.state = 'playing';
    return { id: e.id, uri: e.uri, state: e.state, frames: this.framesOf(e), fps: e.fps, stream: e.branch?.streams[0] ?? -1, lastError: e.lastError, addedAt: e.addedAt };
  }

  list(): StreamInfo[] { return [...this.entries.values()].filter((e) => !e.removing).map((e) => this.info(e)); }

  get(id: string): StreamInfo {
    const e = this.entries.get(id);
    if (!e || e.removing) throw new Err.NOT_FOUND(`no stream "${id}"; GET /v1/streams lists them`);
    return this.info(e);
  }

  /** SIGTERM: every source stops, what is queued drains, every sink finalises; the state file keeps the streams. */
  async shutdown(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.pipeline.sendEosRequest();
    await this.pipeline.wait().catch(() => {});
    await this.pipeline.setState('null');
    this.unlock();
  }
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Whether the source template puts {uri} into a uri element's location (so it opens it). */
function usesLocation(spec: GraphSpec): boolean {
  return spec.elements.some((el) => el.type === 'uri' && el.props.some((p) => p.key === 'location' && String(p.value).includes('{uri}')));
}

