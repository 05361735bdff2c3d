// `sluice serve`: one long-lived dynamic pipeline whose streams (cameras, files) are added and
// removed while it runs, as DeepStream's REST-managed deployments do. The shared chain (mux !
// infer ! track ! sinks) is built once; each stream is a branch made from the source template
// and linked into the chain's first element. The set of streams a user asked for is persisted,
// atomically, so a restart resumes them.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import { z } from 'zod';
import { addBranch, buildPipeline } from '../core/graph.ts';
import { parseLaunch } from '../core/launch.ts';
import { Err, isSluiceError } from '../core/errors.ts';
import type { Branch, Pipeline } from '../core/pipeline.ts';
import type { Registry } from '../core/registry.ts';

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
}).strict();
export type ServeConfig = z.output<typeof ServeConfig>;

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

interface Entry { id: string; uri: string; branch: Branch; state: StreamState; lastError: StreamInfo['lastError']; addedAt: string; fps: number; lastFrames: number; removing: boolean }

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
    throw new Err.YAML(`${file}: ${i.path.join('.') || 'top level'}: ${i.message} (a serve file has source, chain, streams, api, state)`);
  }
  return { ...r.data, file };
}

export class Service {
  readonly pipeline: Pipeline;
  private cfg: ServeConfig;
  private registry: Registry;
  private join: string;
  private entries = new Map<string, Entry>();
  private stateFile: string;
  private ticker: ReturnType<typeof setInterval> | null = null;
  /** Adds and removes run one at a time, so the state file and the pipeline agree. */
  private serial: Promise<unknown> = Promise.resolve();

  constructor(cfg: ServeConfig & { file?: string }, registry: Registry, opts: { state?: string } = {}) {
    this.cfg = cfg;
    this.registry = registry;
    const base = cfg.file ? dirname(resolve(cfg.file)) : process.cwd();
    const state = opts.state ?? cfg.state;
    this.stateFile = state ? resolve(base, state) : '';
    const spec = parseLaunch(cfg.chain);
    const first = spec.elements[0];
    const def = first ? registry.get(first.type) : undefined;
    if (!first || !def) throw new Err.YAML(`chain must start with the element every stream joins, e.g. "mux name=m ! infer ... ! meta" (got "${cfg.chain}")`);
    if (!def.pads.some((t) => t.direction === 'sink' && t.presence === 'request')) {
      throw new Err.YAML(`chain starts with ${first.type}, which takes one input; start it with mux (or another element that takes many)`);
    }
    first.name ??= 'streams';
    this.join = first.name;
    this.pipeline = buildPipeline(spec, registry, { dynamic: true, description: cfg.file ?? 'serve' });
    this.pipeline.bus.on('element', (m) => {
      const e = this.entryOf(m.source);
      if (!e) return;
      if (m.name === 'stream-lost') e.state = 'reconnecting';
      else if (m.name === 'stream-restored') e.state = 'playing';
      else if (m.name === 'branch-failed') { e.state = 'failed'; e.lastError = { code: String(m.data.code), message: String(m.data.message) }; }
    });
    this.pipeline.bus.on('warning', (m) => {
      const e = this.entryOf(m.source);
      if (e && /stream lost|not reachable|cannot open/.test(m.message)) e.lastError = { code: 'SLUICE_ERR_MEDIA_OPEN', message: m.message };
    });
  }

  private entryOf(element: string): Entry | undefined {
    for (const e of this.entries.values()) if (e.branch.nodes.some((n) => n.name === element)) return e;
    return undefined;
  }

  /** Play the chain and bring up the streams of the state file (or, the first time, the config's). */
  async start(): Promise<void> {
    await this.pipeline.setState('playing');
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    const saved = this.stateFile && existsSync(this.stateFile) ? this.readState() : null;
    for (const s of saved ?? this.cfg.streams) {
      try {
        await this.add(s.id, s.uri, { persist: false });
      } catch (e) {
        this.pipeline.bus.post({ type: 'warning', source: 'serve', message: `stream ${s.id} (${s.uri}) did not start: ${isSluiceError(e) ? e.format() : (e as Error).message}` });
      }
    }
    this.persist();
  }

  private readState(): { id: string; uri: string }[] {
    try {
      const j = JSON.parse(readFileSync(this.stateFile, 'utf8')) as { streams?: { id: string; uri: string }[] };
      return (j.streams ?? []).filter((s) => typeof s.id === 'string' && typeof s.uri === 'string');
    } catch (e) {
      throw new Err.IO(`state file ${this.stateFile} is not readable JSON (${(e as Error).message}); move it away to start afresh`);
    }
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
      const frames = this.framesOf(e);
      e.fps = frames - e.lastFrames;
      e.lastFrames = frames;
      if (e.state === 'connecting' && frames > 0) e.state = 'playing';
    }
  }

  private framesOf(e: Entry): number {
    let n = 0;
    for (const node of e.branch.nodes) if (node.isSource) n += node.stats.framesOut;
    return n;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.serial.then(fn);
    this.serial = p.catch(() => {});
    return p;
  }

  add(id: string, uri: string, opts: { persist?: boolean } = {}): Promise<StreamInfo> {
    return this.run(async () => {
      checkStream(id, uri);
      if (this.entries.has(id)) throw new Err.CONFLICT(`a stream with id "${id}" exists already; DELETE /v1/streams/${id} first, or pick another id`);
      const text = `${this.cfg.source.replaceAll('{uri}', `"${uri.replace(/^file:\/\//, '')}"`).replaceAll('{id}', id)} ! ${this.join}.`;
      const branch = await addBranch(this.pipeline, parseLaunch(text), this.registry, id);
      const e: Entry = { id, uri, branch, state: 'connecting', lastError: null, addedAt: new Date().toISOString(), fps: 0, lastFrames: 0, removing: false };
      this.entries.set(id, e);
      branch.done.then(() => { if (!e.removing && e.state !== 'failed') e.state = 'ended'; });
      if (opts.persist !== false) this.persist();
      return this.info(e);
    });
  }

  remove(id: string): Promise<void> {
    return this.run(async () => {
      const e = this.entries.get(id);
      if (!e) throw new Err.NOT_FOUND(`no stream "${id}"; GET /v1/streams lists them`);
      e.removing = true;
      this.persist();
      await this.pipeline.removeBranch(e.branch);
      this.entries.delete(id);
    });
  }

  private info(e: Entry): StreamInfo {
    if (e.state === 'connecting' && this.framesOf(e) > 0) e.state = 'playing';
    return { id: e.id, uri: e.uri, state: e.state, frames: this.framesOf(e), fps: e.fps, stream: e.branch.streams[0] ?? -1, lastError: e.lastError, addedAt: e.addedAt };
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
  }
}

