// record: event-triggered clips (DeepStream's Smart Record, Frigate's event recordings). Keeps a
// ring of the encoded packets going back at least `pre` seconds to a keyframe; a trigger writes a
// clip from `pre` before it to `post` after the last trigger (triggers while a clip is open extend
// it; max-duration splits it at a keyframe), as fragmented MP4 (a kill leaves a file that plays)
// with a JSON sidecar of the same name. Retention (max-age, max-bytes) deletes the oldest clips
// of the folder, never one being written. Writing never waits in process(): a slow disk fills a
// bounded buffer, then the clip skips to the next keyframe (counted, warned), and detection goes on.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineElement, sinkPad, type ElementContext, type ElementImpl } from '../core/element.ts';
import { Err } from '../core/errors.ts';
import { releaseFrame, type Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import type { Pipeline } from '../core/pipeline.ts';
import { PacketPixels, type EncodedStream } from '../media/av.ts';
import { FileMuxer } from '../media/writer.ts';
import { EventHub, Triggers, baseEvent } from '../meta/events.ts';

const props = z.object({
  location: p.str('', 'folder the clips go into (each clip NAME.mp4 with its sidecar NAME.json); made when missing'),
  pre: p.num(5, 'seconds of video kept before the first trigger (back to the keyframe at or before it)', { min: 0, max: 600 }),
  post: p.num(5, 'seconds recorded after the last trigger (a trigger while a clip is open extends it)', { min: 0, max: 3600 }),
  on: p.str('', 'what starts a clip, comma-separated: line-cross, roi-enter, roi-exit, overcrowding (analytics events), track-start, class:NAME (an object of that class is present); empty: only POST /v1/streams/{id}/record and triggerRecord() from code'),
  every: p.num(0, 'seconds of stream time between periodic triggers, per stream (the first at every= s; a clip every N s, as deepstream-app\'s smart-record=2 with smart-rec-interval); 0: none', { min: 0 }),
  maxDuration: p.num(300, 'seconds after which a clip is split (at the next keyframe) into another file', { min: 1 }),
  cacheBytes: p.int(64 << 20, 'bytes of encoded video the pre-roll ring may hold; over it the oldest keyframe intervals go (warned: the pre-roll is then shorter)', { min: 64 << 10 }),
  writeBuffer: p.int(32 << 20, 'bytes of clip packets waiting for a slow disk; over it the clip skips to the next keyframe (counted, warned)', { min: 64 << 10 }),
  maxAge: p.num(0, 'seconds a clip is kept; older ones are deleted, oldest first (0: kept)', { min: 0 }),
  maxBytes: p.int(0, 'bytes of clips the folder may hold; over it the oldest are deleted, never a clip being written (0: no limit)', { min: 0 }),
  prefix: p.str('', 'file name prefix (default: the stream id)'),
});

/** FFmpeg's AV_NOPTS_VALUE: no timestamp. */
const NOPTS = -(2n ** 63n);

/** Clips being written in this process, by absolute path: retention never deletes them. */
const writing = new Set<string>();

interface Pkt { px: PacketPixels; pts: number; key: boolean; bytes: number; seq: number }

interface Clip {
  name: string; path: string; sidecar: string;
  stream: number; label: string;
  startPts: number; lastPts: number; endAt: number; wallStart: number;
  /** One frame's duration (the clip's end is its last frame's pts plus this). */
  frameDur: number;
  triggers: Record<string, unknown>[];
  objects: Map<number, { class: number; label: string }>;
  mux: FileMuxer; chain: Promise<void>; pending: number;
  /** First written packet's dts: every time in the file is shifted by it (the clip starts near 0). */
  offset: bigint | null;
  nextSeq: number;
  /** Its number among this recorder's clips (tells apart events of clips in one frame). */
  serial: number;
  /** Skipping to the next keyframe after a dropped packet (a slow disk). */
  skipping: boolean;
  bytes: number; packets: number; dropped: number;
  error: unknown;
}

interface StreamState { nextEvery: number | null; lastFrame: number; ring: Pkt[]; ringBytes: number; clip: Clip | null; info: EncodedStream | null; lastPts: number; seq: number; trimWarned: boolean; pendingTriggers: Record<string, unknown>[] }

export interface RecordTrigger { stream?: number; reason?: string; [k: string]: unknown }

/** What `record` answers to from outside the pipeline (serve's API, triggerRecord()). */
export interface Recorder extends ElementImpl {
  readonly location: string;
  /** Streams this recorder records (its upstream sources). */
  readonly streams: readonly number[];
  /** A trigger, applied at the next packet of that stream (or every stream it records). */
  trigger(t: RecordTrigger): void;
}

function stamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}-${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
}
const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[.]+/, '_').slice(0, 64) || 'stream';

/** The clip names of a folder, oldest first, with their size (mp4 + sidecar) and age. */
export function listClips(dir: string): { name: string; path: string; bytes: number; mtimeMs: number }[] {
  if (!existsSync(dir)) return [];
  const out: { name: string; path: string; bytes: number; mtimeMs: number }[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.mp4')) continue;
    const path = join(dir, f);
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      let bytes = st.size;
      try { bytes += statSync(path.replace(/\.mp4$/, '.json')).size; } catch { /* no sidecar */ }
      out.push({ name: f, path, bytes, mtimeMs: st.mtimeMs });
    } catch { /* deleted meanwhile */ }
  }
  return out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
}

/** Every recorder of a pipeline (sluice serve's record route, triggerRecord()). */
export function recorders(pipeline: Pipeline): Recorder[] {
  return pipeline.nodes.filter((n) => n.def.name === 'record' && n.impl && 'trigger' in n.impl).map((n) => n.impl as Recorder);
}

/** Trigger a clip from code: every recorder of the pipeline that records `stream` (all when absent). */
export function triggerRecord(pipeline: Pipeline, t: RecordTrigger = {}): number {
  const rs = recorders(pipeline).filter((r) => t.stream === undefined || r.streams.includes(t.stream));
  for (const r of rs) r.trigger(t);
  return rs.length;
}

export default defineElement({
  name: 'record',
  summary: 'Write event-triggered clips (pre- and post-roll) as fragmented MP4 with a JSON sidecar',
  kind: 'sink',
  pads: [sinkPad(['video/x-h264'])],
  pixels: () => 'none',
  props,
  doc: `Put it after encode (per stream, or after tile for the composite):
  ... ! track ! analytics lines=door:320,0,320,480 ! encode gop=30 ! record location=clips pre=5 post=10 on=line-cross
Clips are named STREAM-YYYYMMDD-HHMMSS.mmm-TRIGGER.mp4 (UTC time of the clip's first frame; -N
added if taken) with NAME.json beside: {version, stream, stream_id, clip, start, end, duration,
started_at, ended_at, triggers: [...], objects: [...], recording}. A clip starts at the keyframe
at or before pre seconds before its first trigger, so a short gop (encode gop=) makes the start
exact. every=S triggers every S seconds of stream time (type "interval"). Triggers also come from POST /v1/streams/{id}/record (sluice serve) and triggerRecord()
in code. Retention runs when a clip ends and at start; each clip and each deletion is one line
on the bus (element messages clip-start, clip-end, clip-deleted) and in the log.`,
  // With a prefix it names only PREFIX-* in the folder: recorders of several sources (deepstream-app's
  // smart-rec-dir-path is often shared) may then use one folder, each with its own prefix.
  files: (o) => ({ writes: o.location ? [o.prefix ? join(o.location, `${safe(o.prefix)}-*`) : o.location] : [] }),
  create(o, ctx: ElementContext): Recorder {
    if (!o.location) throw new Err.PROPERTY('record needs location=FOLDER (clips and their .json sidecars are written there)');
    const dir = resolve(o.location);
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Err.PROPERTY(`record location=${o.location} is a file; it must be a folder (clips are NAME.mp4 + NAME.json inside it)`);
    const triggers = new Triggers(o.on, (m) => { throw new Err.PROPERTY(`record: ${m}`); });
    const hub = EventHub.of(ctx.negotiation);
    const streams = new Map<number, StreamState>();
    let external: RecordTrigger[] = [];
    let clipsWritten = 0, deleted = 0, droppedPackets = 0, trimmed = 0, pendingBytes = 0, slowWarned = false;
    let failure: unknown = null;
    const say = (name: string, message: string, data: Record<string, unknown>) => {
      ctx.log.info(message);
      ctx.post({ type: 'element', source: ctx.name, name, data: { ...data, message } });
    };

    const retention = () => {
      if (!o.maxAge && !o.maxBytes) return;
      const clips = listClips(dir);
      let total = clips.reduce((s, c) => s + c.bytes, 0);
      const now = Date.now();
      for (const c of clips) {
        if (writing.has(c.path)) continue;
        const old = o.maxAge > 0 && now - c.mtimeMs > o.maxAge * 1000;
        const over = o.maxBytes > 0 && total > o.maxBytes;
        if (!old && !over) continue;
        try {
          rmSync(c.path, { force: true });
          rmSync(c.path.replace(/\.mp4$/, '.json'), { force: true });
        } catch (e) { ctx.warn(`cannot delete ${c.path} (${(e as Error).message})`); continue; }
        total -= c.bytes;
        deleted++;
        say('clip-deleted', `deleted ${c.name} (${old ? `older than max-age ${o.maxAge} s` : `folder over max-bytes ${o.maxBytes}`})`, { clip: c.name, path: c.path, bytes: c.bytes, reason: old ? 'max-age' : 'max-bytes' });
      }
    };

    const sidecar = (c: Clip, done: boolean) => {
      const body = {
        version: 1, stream: c.stream, ...(c.label !== String(c.stream) ? { stream_id: c.label } : {}),
        clip: c.name, start: round(c.startPts), end: done ? round(c.lastPts + c.frameDur) : null, duration: done ? round(c.lastPts + c.frameDur - c.startPts) : null,
        started_at: new Date(c.wallStart).toISOString(), ended_at: done ? new Date(c.wallStart + (c.lastPts + c.frameDur - c.startPts) * 1000).toISOString() : null,
        pre: o.pre, post: o.post, triggers: c.triggers, objects: [...c.objects].map(([track, v]) => ({ track, ...v })),
        packets: c.packets, bytes: c.bytes, ...(c.dropped ? { dropped: c.dropped } : {}), recording: !done,
      };
      const tmp = `${c.sidecar}.tmp`;
      writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n');
      renameSync(tmp, c.sidecar);
    };

    const open = (s: StreamState, stream: number, startIdx: number, trig: Record<string, unknown>[], endAt: number): Clip => {
      const label = ctx.streamLabel(stream);
      const first = s.ring[startIdx]!;
      const wallStart = Date.now() - (s.lastPts - first.pts) * 1000;
      const why = safe(String(trig[0]?.type ?? 'manual').replace(':', '-'));
      let name = `${safe(o.prefix || label)}-${stamp(wallStart)}-${why}`;
      for (let i = 2; existsSync(join(dir, `${name}.mp4`)); i++) name = `${name.replace(/-\d+$/, '')}-${i}`;
      const path = join(dir, `${name}.mp4`);
      const c: Clip = {
        name: `${name}.mp4`, path, sidecar: join(dir, `${name}.json`), stream, label,
        startPts: first.pts, lastPts: first.pts, endAt, wallStart, frameDur: s.info?.rate ? 1 / s.info.rate : 0, triggers: trig, objects: new Map(),
        mux: new FileMuxer(path, 'mp4', true), chain: Promise.resolve(), pending: 0, offset: null, nextSeq: first.seq, serial: clipsWritten + 1,
        skipping: false, bytes: 0, packets: 0, dropped: 0, error: null,
      };
      writing.add(path);
      hub.clipOpened();
      c.chain = c.mux.open().catch((e) => { c.error = e; });
      try {
        sidecar(c, false);
      } catch (e) {
        // A sidecar that cannot be written (full disk, read-only folder): the clip is given up
        // whole, so nothing of it stays open or counted.
        writing.delete(path);
        hub.clipClosed();
        void c.chain.then(() => c.mux.close()).catch(() => {});
        throw e;
      }
      clipsWritten++;
      say('clip-start', `clip ${c.name} started (${trig.map((t) => t.type).join(', ')}), from ${round(first.pts)} s`, { clip: c.name, path, stream, start: round(first.pts) });
      hub.emit({ ...baseEvent('clip-start', stream, label, s.lastFrame, s.lastPts, clipsWritten, hub), clip: c.name, path, start: round(first.pts), triggers: trig });
      for (const t of trig) if (typeof t.track === 'number') hub.remember(hub.clips, `${stream}:${t.track}`, path);
      return c;
    };

    const write = (s: StreamState, c: Clip, pk: Pkt) => {
      c.nextSeq = pk.seq + 1;
      if (c.skipping && !pk.key) { c.dropped++; droppedPackets++; return; }
      if (pendingBytes + pk.bytes > o.writeBuffer) {
        // The disk is not keeping up: drop to the next keyframe rather than hold the video path.
        c.skipping = true; c.dropped++; droppedPackets++;
        if (!slowWarned) { slowWarned = true; ctx.warn(`the disk under ${dir} is not keeping up (${o.writeBuffer} bytes waiting, write-buffer): ${c.name} skips to the next keyframe; counted as droppedPackets`); }
        return;
      }
      c.skipping = false;
      const pkt = pk.px.packet.clone();
      if (!pkt) return;
      if (c.offset === null) c.offset = pkt.dts !== NOPTS ? pkt.dts : pkt.pts;
      pkt.pts -= c.offset;
      pkt.dts -= c.offset;
      if (pk.pts > c.lastPts) c.lastPts = pk.pts;
      pendingBytes += pk.bytes;
      c.pending++;
      const info = s.info!;
      c.chain = c.chain.then(async () => {
        try {
          if (!c.error) { await c.mux.write(pkt, info); c.bytes += pk.bytes; c.packets++; }
        } catch (e) { c.error = e; } finally {
          pkt.free();
          pendingBytes -= pk.bytes;
          c.pending--;
        }
      });
    };

    const close = (s: StreamState, c: Clip) => {
      s.clip = null;
      c.chain = c.chain.then(async () => {
        try { await c.mux.close(); } catch (e) { c.error ??= e; }
        writing.delete(c.path);
        try { sidecar(c, true); } catch (e) { c.error ??= e; }
        hub.clipClosed();
        if (c.error) {
          failure ??= c.error;
          ctx.warn(`clip ${c.name}: ${(c.error as Error).message}`);
        }
        const duration = round(c.lastPts + c.frameDur - c.startPts);
        say('clip-end', `clip ${c.name}: ${duration} s, ${c.packets} packets, ${c.bytes} bytes${c.dropped ? `, ${c.dropped} packets dropped (slow disk)` : ''}`, { clip: c.name, path: c.path, stream: c.stream, start: round(c.startPts), end: round(c.lastPts + c.frameDur), duration, bytes: c.bytes });
        hub.emit({ ...baseEvent('clip-end', c.stream, c.label, s.lastFrame, s.lastPts, c.serial, hub), clip: c.name, path: c.path, start: round(c.startPts), end: round(c.lastPts + c.frameDur), duration, bytes: c.bytes, triggers: c.triggers.length });
        retention();
      });
      return c.chain;
    };
    const closing = new Set<Promise<void>>();
    const closeTracked = (s: StreamState, c: Clip) => {
      const pr = close(s, c);
      closing.add(pr);
      pr.finally(() => closing.delete(pr)).catch(() => {});
    };

    const state = (stream: number): StreamState => {
      let s = streams.get(stream);
      if (!s) { s = { nextEvery: null, lastFrame: 0, ring: [], ringBytes: 0, clip: null, info: null, lastPts: 0, seq: 0, trimWarned: false, pendingTriggers: [] }; streams.set(stream, s); }
      return s;
    };

    const trim = (s: StreamState, stream: number) => {
      // Keep the newest keyframe at or before (newest - pre), and everything after it.
      const cutoff = s.lastPts - o.pre;
      let k = -1;
      for (let i = 0; i < s.ring.length; i++) {
        const pk = s.ring[i]!;
        if (pk.key && pk.pts <= cutoff + 1e-6) k = i;
        else if (pk.pts > cutoff) break;
      }
      const drop = (n: number) => { for (const pk of s.ring.splice(0, n)) { s.ringBytes -= pk.bytes; pk.px.release(); } };
      if (k > 0) drop(k);
      // Bounded by bytes too: whole keyframe intervals go from the front (the pre-roll shortens).
      while (s.ringBytes > o.cacheBytes) {
        const next = s.ring.findIndex((pk, i) => i > 0 && pk.key);
        if (next <= 0) break;
        drop(next);
        trimmed++;
        if (!s.trimWarned) { s.trimWarned = true; ctx.warn(`the pre-roll of stream ${ctx.streamLabel(stream)} is over cache-bytes=${o.cacheBytes}: it holds less than pre=${o.pre} s; raise cache-bytes or lower the bitrate`); }
      }
    };

    return {
      location: dir,
      get streams() { return ctx.upstreamStreams; },
      trigger(t) { external.push({ ...t }); },
      start() {
        mkdirSync(dir, { recursive: true });
        retention();
      },
      process(frame: Frame) {
        if (failure) { releaseFrame(frame); throw failure; }
        const px = frame.pixels;
        if (!(px instanceof PacketPixels)) { releaseFrame(frame); throw new Err.FORMAT(`${ctx.name} takes encoded H.264 packets: put encode before it (... ! encode ! record location=DIR)`); }
        frame.pixels = null;
        const s = state(frame.stream);
        s.info = px.stream;
        s.lastFrame = frame.frame;
        if (!s.info.codecContext) { px.release(); return; }
        const pk: Pkt = { px, pts: frame.pts, key: px.packet.isKeyframe, bytes: px.bytes, seq: s.seq++ };
        if (frame.pts > s.lastPts || s.ring.length === 0) s.lastPts = frame.pts;
        s.ring.push(pk);
        s.ringBytes += pk.bytes;
        trim(s, frame.stream);
        // What triggers at this frame: its analytics events, classes, new tracks, and triggers from outside.
        const trig: Record<string, unknown>[] = triggers.empty ? [] : triggers.match(frame).map((t) => ({ ...t, frame: frame.frame, pts: round(frame.pts) }));
        if (o.every > 0) {
          // Stream time, not the wall clock: a file read faster than real time gets the same clips.
          s.nextEvery ??= frame.pts + o.every;
          if (frame.pts >= s.nextEvery - 1e-6) {
            trig.push({ type: 'interval', every: o.every, frame: frame.frame, pts: round(frame.pts) });
            while (s.nextEvery <= frame.pts + 1e-6) s.nextEvery += o.every;
          }
        }
        if (external.length) {
          const mine = external.filter((t) => t.stream === undefined || t.stream === frame.stream);
          external = external.filter((t) => !mine.includes(t));
          for (const t of mine) trig.push({ type: String(t.reason ?? 'manual'), ...Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'reason' && k !== 'stream')), frame: frame.frame, pts: round(frame.pts) });
        }
        let c = s.clip;
        if (trig.length) {
          if (!c) {
            // From the newest keyframe at or before (t - pre); the ring starts at one.
            const from = frame.pts - o.pre;
            let idx = 0;
            for (let i = 0; i < s.ring.length; i++) if (s.ring[i]!.key && s.ring[i]!.pts <= from + 1e-6) idx = i;
            while (idx < s.ring.length && !s.ring[idx]!.key) idx++;
            if (idx < s.ring.length) {
              c = s.clip = open(s, frame.stream, idx, trig, frame.pts + o.post);
            }
          } else {
            c.endAt = Math.max(c.endAt, frame.pts + o.post);
            c.triggers.push(...trig);
            if (c.triggers.length > 1000) c.triggers.splice(0, c.triggers.length - 1000);
            for (const t of trig) if (typeof t.track === 'number') hub.remember(hub.clips, `${frame.stream}:${t.track}`, c.path);
          }
        }
        if (c) {
          for (const ob of frame.meta.objects) if (ob.track !== undefined && !c.objects.has(ob.track) && c.objects.size < 1000) c.objects.set(ob.track, { class: ob.class, label: ob.label ?? String(ob.class) });
          // Everything of the ring not yet in the clip, up to this packet.
          for (const q of s.ring) {
            if (q.seq < c.nextSeq) continue;
            if (q.pts >= c.endAt) { closeTracked(s, c); c = null; break; }
            if (q.key && q.pts - c.startPts >= o.maxDuration && c.packets + c.pending > 0) {
              // Split at this keyframe: the next part goes on from here, with the same end.
              const endAt: number = c.endAt;
              closeTracked(s, c);
              c = s.clip = open(s, frame.stream, s.ring.indexOf(q), [{ type: 'continued', from: c.name, pts: round(q.pts) }], endAt);
            }
            write(s, c, q);
          }
        }
      },
      async flush() {
        for (const s of streams.values()) if (s.clip) closeTracked(s, s.clip);
        await Promise.all([...closing]);
        if (failure) throw failure;
      },
      describe: () => ({ clips: clipsWritten, clipsDeleted: deleted, droppedPackets, preRollTrimmed: trimmed }),
      streamRemoved(stream) {
        const s = streams.get(stream);
        if (!s) return;
        if (s.clip) closeTracked(s, s.clip);
        for (const pk of s.ring) pk.px.release();
        streams.delete(stream);
        triggers.forget(stream);
      },
      async stop() {
        for (const s of streams.values()) {
          if (s.clip) closeTracked(s, s.clip);
          for (const pk of s.ring) pk.px.release();
          s.ring = [];
        }
        await Promise.all([...closing]).catch(() => {});
        streams.clear();
      },
    };
  },
});

function round(x: number): number { return Math.round(x * 1000) / 1000; }
