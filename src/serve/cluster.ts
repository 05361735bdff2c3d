// Scale-out on NATS JetStream: the cluster's desired streams live in a KV bucket, and each
// stream is held by one worker through a lease in another KV bucket whose entries expire
// (max age = the lease time) unless their holder renews them. Claiming is the engine's atomic
// create (it fails if the key exists), renewing is an update that must name the revision the
// holder last wrote (it fails if anyone else wrote since), and a dead worker's leases simply
// expire, after which any worker with room creates them again. No Sluice process decides who
// runs what; JetStream's Raft-replicated buckets do (docs/cluster.md).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { Err } from '../core/errors.ts';
import { checkStream, type Service, type StreamInfo } from './service.ts';
import type { StreamsBackend } from './api.ts';
import { natsHeal, type NatsHeal } from '../net/nats-heal.ts';
import { isNoEntryForKey, isWrongLastSequence } from '../net/nats-errors.ts';

export const BUCKETS = { desired: 'sluice_streams', owners: 'sluice_owners', stats: 'sluice_stats' } as const;

export interface Cluster { nc: NatsConnection; desired: KV; owners: KV; stats: KV; close(): Promise<void> }

export interface StreamSpec { id: string; uri: string }

const enc = (v: unknown) => JSON.stringify(v);
const dec = <T>(b: Uint8Array | undefined | null): T | null => { try { return b ? JSON.parse(new TextDecoder().decode(b)) as T : null; } catch { return null; } };

/** Connect and open (creating them the first time) the three buckets, replicated `replicas` times. */
export async function openCluster(servers: string, o: { leaseMs?: number; replicas?: number } = {}): Promise<Cluster> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: servers.split(','), name: 'sluice', reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  } catch (e) {
    throw new Err.IO(`cannot reach NATS at ${servers}: ${(e as Error).message}`);
  }
  const kvm = new Kvm(nc);
  const replicas = o.replicas ?? 1;
  // A cluster electing a leader (a node just lost) answers JetStream requests after a few
  // seconds: retry for up to 15 s before giving up.
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      try { return await fn(); } catch (e) {
        if (Date.now() - t0 > 15_000) { await nc.close().catch(() => {}); throw new Err.IO(`NATS JetStream at ${servers} did not answer for ${what}: ${(e as Error).message}`); }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const desired = await retry(BUCKETS.desired, () => kvm.create(BUCKETS.desired, { history: 1, replicas }));
  // The lease bucket's max age is the lease: an entry not renewed within it is gone.
  const owners = await retry(BUCKETS.owners, () => kvm.create(BUCKETS.owners, { history: 1, replicas, ttl: o.leaseMs ?? 3000 }));
  const stats = await retry(BUCKETS.stats, () => kvm.create(BUCKETS.stats, { history: 1, replicas, ttl: 30_000 }));
  return { nc, desired, owners, stats, close: async () => { await nc.drain().catch(() => {}); } };
}

export async function keysOf(kv: KV): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys()) out.push(k);
  return out.sort();
}

export async function desiredStreams(c: Cluster): Promise<StreamSpec[]> {
  const out: StreamSpec[] = [];
  for (const k of await keysOf(c.desired)) {
    const e = await c.desired.get(k);
    const s = dec<StreamSpec>(e?.value);
    if (s && e?.operation === 'PUT') out.push(s);
  }
  return out;
}

export interface OwnerInfo { worker: string; since: string }

/**
 * One worker: every tick it renews the leases of the streams it runs (dropping any it lost),
 * stops streams no longer desired, and claims desired streams nobody holds while it has room.
 */
export class Worker {
  private held = new Map<string, { rev: number; uri: string }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly name: string;
  private c: Cluster;
  private service: Service;
  private capacity: number;
  private tickMs: number;
  private log: (s: string) => void;
  /** Moves the connection to another NATS server when this one answers nothing but "no responders". */
  private heal: NatsHeal;

  constructor(c: Cluster, service: Service, o: { name: string; capacity: number; leaseMs: number; log?: (s: string) => void }) {
    this.c = c;
    this.service = service;
    this.name = o.name;
    this.capacity = o.capacity;
    // Renew three times per lease: one late renewal does not lose it.
    this.tickMs = Math.max(100, Math.floor(o.leaseMs / 3));
    this.log = o.log ?? (() => {});
    this.heal = natsHeal(() => c.nc, { onMove: (why) => this.log(why) });
  }

  start(): void {
    this.timer = setInterval(() => { this.ticking = this.ticking.then(() => this.tick()).catch((e) => this.log(`tick failed: ${(e as Error).message}`)); }, this.tickMs);
    this.ticking = this.tick();
  }

  get streams(): string[] { return [...this.held.keys()].sort(); }

  private async release(id: string, why: string): Promise<void> {
    this.held.delete(id);
    await this.service.remove(id).catch(() => {});
    this.log(`released ${id} (${why})`);
  }

  async tick(): Promise<void> {
    if (this.stopped) return;
    // Listing the desired streams needs JetStream's meta leader (a consumer is made); while a
    // lost node's leadership is being re-elected it times out. Renewals need only the lease
    // bucket's own leader: they go on with the last list, so held streams keep their leases.
    let want: Map<string, StreamSpec>;
    try {
      want = new Map((await desiredStreams(this.c)).map((s) => [s.id, s]));
      this.lastWant = want;
    } catch (e) {
      this.heal.failed(e);
      if (!this.lastWant) throw e;
      want = this.lastWant;
    }
    for (const [id, h] of [...this.held]) {
      if (!want.has(id) || want.get(id)!.uri !== h.uri) {
        await this.release(id, 'no longer desired');
        await this.c.owners.delete(id, { previousSeq: h.rev }).catch(() => {});
        continue;
      }
      const state = this.service.list().find((s) => s.id === id)?.state;
      if (state === 'failed' || state === 'ended') {
        // Give it back: another worker (or this one, next tick) starts it afresh.
        await this.release(id, state);
        await this.c.owners.delete(id, { previousSeq: h.rev }).catch(() => {});
        continue;
      }
      const lease = enc({ worker: this.name, since: new Date().toISOString() });
      try {
        // A renewal that takes longer than a tick is as good as failed: the next tick tries again.
        h.rev = await this.c.owners.update(id, lease, h.rev, this.tickMs);
        this.heal.ok();
      } catch (e) {
        this.heal.failed(e);
        this.complain(id, 'renewing', e);
        // "wrong last sequence: 0": the bucket's leader holds no entry for the key (it expired
        // while the cluster re-elected), though a replica answering direct gets may still show
        // ours: take it back through the leader instead of trusting that read.
        if (isNoEntryForKey(e)) {
          try { h.rev = await this.c.owners.create(id, lease); this.heal.ok(); continue; } catch (e2) { this.complain(id, 'taking back', e2); }
          // create can fail there too (nats.js checks a failed create against a read, which a
          // stale replica answers with our old lease): the leader holds nothing for the key, so
          // an unconditional write is as safe as create, and ends the loop of failed renewals.
          try { h.rev = await this.c.owners.put(id, lease); this.heal.ok(); this.log(`took the lease of ${id} back with a plain write (the leader had no entry)`); continue; } catch (e3) { this.complain(id, 'writing back', e3); }
        }
        // Why did the renewal fail? Ask the bucket; if even that fails, JetStream is electing a
        // leader (a node was lost): keep running and try again next tick.
        const holder = await this.holder(id);
        if (holder === undefined) continue;
        if (holder?.worker === this.name) { h.rev = holder.rev; continue; }
        if (holder === null) {
          // Expired while the cluster could not take renewals: take it back if nobody else has.
          try { h.rev = await this.c.owners.create(id, lease); continue; } catch (e) { this.heal.failed(e); this.complain(id, 'taking back', e); }
          const again = await this.holder(id);
          if (again === undefined || again === null) continue;
          if (again.worker === this.name) { h.rev = again.rev; continue; }
        }
        // Someone else holds it now: stop at once, so it never runs twice for long.
        await this.release(id, 'lease lost');
      }
    }
    for (const [id, s] of want) {
      if (this.held.size >= this.capacity) break;
      if (this.held.has(id)) continue;
      let rev: number;
      try {
        rev = await this.c.owners.create(id, enc({ worker: this.name, since: new Date().toISOString() }));
      } catch {
        continue; // held by another worker
      }
      try {
        await this.service.add(id, s.uri, { persist: false });
        this.held.set(id, { rev, uri: s.uri });
        this.log(`took ${id} (${s.uri})`);
      } catch (e) {
        this.log(`${id} did not start: ${(e as Error).message}`);
        await this.c.owners.delete(id, { previousSeq: rev }).catch(() => {});
      }
    }
    // Stats never hold up the leases: written in the background, one batch at a time.
    if (!this.statsPending) {
      const list = this.service.list();
      const at = new Date().toISOString();
      this.statsPending = Promise.allSettled([
        this.c.stats.put(`worker.${this.name}`, enc({ worker: this.name, capacity: this.capacity, streams: this.streams, at })),
        ...list.map((s) => this.c.stats.put(`stream.${s.id}`, enc({ owner: this.name, state: s.state, fps: s.fps, frames: s.frames, at }))),
      ]).then((r) => {
        for (const x of r) if (x.status === 'rejected') this.heal.failed(x.reason); else this.heal.ok();
        this.statsPending = null;
      });
    }
  }

  private statsPending: Promise<void> | null = null;
  private complained = new Map<string, number>();
  /** Say why a lease operation failed, once per stream per 5 s (a cluster that settles says nothing). */
  private complain(id: string, what: string, e: unknown): void {
    const now = Date.now();
    if (now - (this.complained.get(id) ?? 0) < 5000) return;
    this.complained.set(id, now);
    this.log(`${what} the lease of ${id} failed: ${((e as Error)?.message ?? String(e)).split('\n')[0]}`);
  }
  /** The desired streams as last listed. */
  private lastWant: Map<string, StreamSpec> | null = null;

  /** Who holds `id`: a worker and revision, null when nobody does, undefined when JetStream did not answer. */
  private async holder(id: string): Promise<{ worker: string; rev: number } | null | undefined> {
    try {
      const cur = await this.c.owners.get(id);
      if (!cur || cur.operation !== 'PUT') return null;
      const w = dec<OwnerInfo>(cur.value)?.worker;
      return w ? { worker: w, rev: cur.revision } : null;
    } catch (e) {
      this.heal.failed(e);
      return undefined;
    }
  }

  /** Stop claiming, stop every stream and hand its lease back (a clean shutdown moves streams at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking.catch(() => {});
    for (const [id, h] of [...this.held]) {
      await this.release(id, 'worker stopping');
      await this.c.owners.delete(id, { previousSeq: h.rev }).catch(() => {});
    }
    await this.c.stats.delete(`worker.${this.name}`).catch(() => {});
  }
}

/** The REST API's backend for a whole cluster (sluice serve --nats): the desired set, owners and stats. */
export function clusterBackend(c: Cluster): StreamsBackend {
  const info = async (s: StreamSpec): Promise<StreamInfo> => {
    const own = await c.owners.get(s.id);
    const st = await c.stats.get(`stream.${s.id}`);
    const owner = own?.operation === 'PUT' ? dec<OwnerInfo>(own.value)?.worker ?? '' : '';
    const stats = st?.operation === 'PUT' ? dec<{ owner: string; state: StreamInfo['state']; fps: number; frames: number; at: string }>(st.value) : null;
    const mine = !!owner && stats?.owner === owner;
    return { id: s.id, uri: s.uri, state: mine ? stats!.state : 'connecting', frames: mine ? stats!.frames : 0, fps: mine ? stats!.fps : 0, stream: -1, lastError: null, addedAt: '', owner } as StreamInfo & { owner: string };
  };
  const heal = natsHeal(() => c.nc);
  const watched = async <T>(fn: () => Promise<T>): Promise<T> => {
    try { const r = await fn(); heal.ok(); return r; } catch (e) { heal.failed(e); throw e; }
  };
  return {
    add: (id, uri) => watched(async () => {
      checkStream(id, uri);
      try { await c.desired.create(id, enc({ id, uri })); } catch (e) {
        // Only "the key exists" is a conflict; a cluster that did not answer is said as such.
        if (!isWrongLastSequence(e)) throw new Err.IO(`NATS JetStream did not take stream "${id}": ${(e as Error).message}`, { cause: e });
        throw new Err.CONFLICT(`a stream with id "${id}" exists already in the cluster`);
      }
      return info({ id, uri });
    }),
    remove: (id) => watched(async () => {
      const e = await c.desired.get(id);
      if (!e || e.operation !== 'PUT') throw new Err.NOT_FOUND(`no stream "${id}" in the cluster`);
      await c.desired.delete(id);
    }),
    list: () => watched(async () => Promise.all((await desiredStreams(c)).map(info))),
    get: (id) => watched(async () => {
      const e = await c.desired.get(id);
      const s = e?.operation === 'PUT' ? dec<StreamSpec>(e.value) : null;
      if (!s) throw new Err.NOT_FOUND(`no stream "${id}" in the cluster`);
      return info(s);
    }),
    health: () => (c.nc.isClosed() ? 'disconnected' : 'ok'),
  };
}
