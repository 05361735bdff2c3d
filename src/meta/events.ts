// Events: one message per thing that happened (a track began or ended, a line was crossed, a
// region entered or left, overcrowding, a clip written), instead of one line per frame. The
// schema is versioned and documented in docs/events.md (docs/events.schema.json); `meta
// mode=events` and the broker sinks' mode=events write these, `record` and `snapshot` add theirs
// through the pipeline's EventHub.
import type { Box, EventMeta, Frame, ObjectMeta } from '../core/frame.ts';

/** Version of the event schema (docs/events.md): fields may be added, never renamed. */
export const EVENTS_VERSION = 1;

/** The event types, as their `type` field. */
export const EVENT_TYPES = ['track-start', 'track-end', 'line-cross', 'roi-enter', 'roi-exit', 'overcrowding', 'clip-start', 'clip-end'] as const;
export type EventType = typeof EVENT_TYPES[number];

/** Frames a track may go unseen before it has ended (the tracker's default max-age). */
export const TRACK_END_FRAMES = 30;

export interface SluiceEvent {
  version: number;
  type: EventType;
  /** Unique within a run: stream id, frame and the event's place in that frame. */
  id: string;
  stream: number;
  stream_id?: string;
  frame: number;
  pts: number;
  /** Wall-clock time the event was made (ISO 8601). */
  time: string;
  [key: string]: unknown;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface TrackState {
  track: number; cls: number; label: string;
  best: number; bestBox: Box;
  firstPts: number; lastPts: number; firstFrame: number; lastFrame: number; frames: number;
  points: [number, number][]; length: number; last: [number, number];
}

/** Centre of a box. */
export function centre(b: Box): [number, number] { return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]; }

/** Path points kept per track: when full, every other one goes (bounded, spread over the whole path). */
const MAX_POINTS = 32;

/**
 * Where track paths and clip/snapshot file names meet: one per pipeline, in the negotiation table
 * (`EventHub.of(ctx.negotiation)`). `record` announces clip-start/clip-end; `snapshot` the JPEG
 * of each track; events sinks subscribe.
 */
export class EventHub {
  private listeners = new Set<(e: SluiceEvent) => void>();
  /** `${stream}:${track}` -> snapshot file / clip file. */
  readonly snapshots = new Map<string, string>();
  readonly clips = new Map<string, string>();
  /** Clips being written now (an events sink waits for them at the end, so clip-end is not lost). */
  open = 0;
  private idleWaiters: (() => void)[] = [];
  /** Per stream: the wall-clock ms of pts 0 (set by its first event). */
  private origins = new Map<number, number>();

  wallClock(stream: number, pts: number): number {
    let o = this.origins.get(stream);
    if (o === undefined) { o = Date.now() - pts * 1000; this.origins.set(stream, o); }
    return Math.round(o + pts * 1000);
  }

  static of(table: Map<string, unknown>): EventHub {
    let h = table.get('sluice:events') as EventHub | undefined;
    if (!h) { h = new EventHub(); table.set('sluice:events', h); }
    return h;
  }
  subscribe(fn: (e: SluiceEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  emit(e: SluiceEvent): void { for (const fn of this.listeners) fn(e); }
  clipOpened(): void { this.open++; }
  clipClosed(): void {
    this.open = Math.max(0, this.open - 1);
    if (this.open === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
  /** Resolves when no clip is open, or after `ms`. */
  idle(ms: number): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((res) => {
      const t = setTimeout(res, ms);
      this.idleWaiters.push(() => { clearTimeout(t); res(); });
    });
  }
  /** Bounded: entries of tracks long gone are forgotten. */
  remember(map: Map<string, string>, key: string, value: string): void {
    map.set(key, value);
    if (map.size > 4096) map.delete(map.keys().next().value!);
  }
}

/**
 * The fields every event has. `n` tells apart events of one type in one frame, so every sink that
 * derives them from the same frames gives the same ids; `time` is the stream's clock (its pts)
 * anchored at the wall clock of its first frame (the hub's), the same in every sink too.
 */
export function baseEvent(type: EventType, stream: number, label: string, frame: number, pts: number, n = 0, hub: EventHub | null = null): SluiceEvent {
  const wall = hub ? hub.wallClock(stream, pts) : Date.now();
  return {
    version: EVENTS_VERSION, type, id: `${label}:${frame}:${type}${n ? `:${n}` : ''}`, stream,
    ...(label !== String(stream) ? { stream_id: label } : {}),
    frame, pts: Math.round(pts * 1e6) / 1e6, time: new Date(wall).toISOString(),
  };
}

/**
 * Turns frames (after track and analytics) into events, per stream: track-start the first frame a
 * track id is seen, track-end once it has been unseen for TRACK_END_FRAMES frames (or at the end),
 * and analytics' per-frame events (meta.events) as line-cross, roi-enter, roi-exit, overcrowding.
 */
export class EventDeriver {
  private streams = new Map<number, { tracks: Map<number, TrackState>; last: { frame: number; pts: number } }>();
  private label: (s: number) => string;
  private hub: EventHub | null;
  private endAfter: number;
  constructor(label: (s: number) => string, hub: EventHub | null = null, endAfter = TRACK_END_FRAMES) {
    this.label = label;
    this.hub = hub;
    this.endAfter = endAfter;
  }

  frame(f: Frame): SluiceEvent[] {
    let st = this.streams.get(f.stream);
    if (!st) { st = { tracks: new Map(), last: { frame: f.frame, pts: f.pts } }; this.streams.set(f.stream, st); }
    st.last = { frame: f.frame, pts: f.pts };
    // The frame's own label first: a stream removed in serve keeps its id on frames still draining.
    const label = f.label ?? this.label(f.stream);
    const out: SluiceEvent[] = [];
    const counts = new Map<string, number>();
    const mk = (type: EventType) => {
      const n = counts.get(type) ?? 0;
      counts.set(type, n + 1);
      return baseEvent(type, f.stream, label, f.frame, f.pts, n, this.hub);
    };
    for (const o of f.meta.objects) {
      if (o.track === undefined) continue;
      const t = st.tracks.get(o.track);
      if (!t) {
        const c = centre(o.box);
        st.tracks.set(o.track, { track: o.track, cls: o.class, label: o.label ?? String(o.class), best: o.score, bestBox: o.box, firstPts: f.pts, lastPts: f.pts, firstFrame: f.frame, lastFrame: f.frame, frames: 1, points: [c], length: 0, last: c });
        out.push({ ...mk('track-start'), track: o.track, class: o.class, label: o.label ?? String(o.class), score: r3(o.score), box: o.box.map(r2) });
      } else update(t, o, f);
    }
    for (const e of f.meta.events) {
      const ev = this.analytics(e, st.tracks, mk);
      if (ev) out.push(ev);
    }
    for (const t of [...st.tracks.values()]) if (f.frame - t.lastFrame > this.endAfter) { st.tracks.delete(t.track); out.push(this.ended(t, f.stream, label, f.frame, f.pts, mk)); }
    return out;
  }

  /** track-end for every track still open (end of stream, or one stream when given). */
  end(stream?: number): SluiceEvent[] {
    const out: SluiceEvent[] = [];
    for (const [s, st] of this.streams) {
      if (stream !== undefined && s !== stream) continue;
      let n = 0;
      // Numbered after any track-end of the last frame itself (ids stay unique).
      for (const t of st.tracks.values()) out.push(this.ended(t, s, this.label(s), st.last.frame, st.last.pts, () => baseEvent('track-end', s, this.label(s), st.last.frame, st.last.pts, 1000 + n++, this.hub)));
      st.tracks.clear();
      if (stream !== undefined) this.streams.delete(s);
    }
    return out;
  }

  private ended(t: TrackState, stream: number, _label: string, _frame: number, _pts: number, mk: (type: EventType) => SluiceEvent): SluiceEvent {
    const key = `${stream}:${t.track}`;
    const snapshot = this.hub?.snapshots.get(key);
    const clip = this.hub?.clips.get(key);
    return {
      ...mk('track-end'),
      track: t.track, class: t.cls, label: t.label, best_score: r3(t.best), best_box: t.bestBox.map(r2),
      first_seen: r3(t.firstPts), last_seen: r3(t.lastPts), dwell: r3(t.lastPts - t.firstPts), frames: t.frames,
      path: { start: t.points[0]!.map(r2), end: t.last.map(r2), length: r2(t.length), points: [...t.points.slice(0, -1), t.last].map((p) => p.map(r2)) },
      ...(snapshot ? { snapshot } : {}),
      ...(clip ? { clip } : {}),
    };
  }

  private analytics(e: EventMeta, tracks: Map<number, TrackState>, mk: (type: EventType) => SluiceEvent): SluiceEvent | null {
    const who = (track: unknown) => {
      const t = typeof track === 'number' ? tracks.get(track) : undefined;
      return { track, ...(t ? { class: t.cls, label: t.label } : {}) };
    };
    switch (e.type) {
      case 'line-cross': return { ...mk('line-cross'), line: e.line, direction: e.direction, ...who(e.track) };
      case 'roi-enter': return { ...mk('roi-enter'), roi: e.roi, ...who(e.track) };
      case 'roi-exit': return { ...mk('roi-exit'), roi: e.roi, ...who(e.track), dwell: r3(Number(e.dwell)) };
      case 'overcrowding': return { ...mk('overcrowding'), roi: e.roi, state: 'on', count: e.count };
      case 'overcrowding-end': return { ...mk('overcrowding'), roi: e.roi, state: 'off', count: e.count };
      default: return null;
    }
  }

  forget(stream: number): void { this.streams.delete(stream); }
}

function update(t: TrackState, o: ObjectMeta, f: Frame): void {
  t.lastPts = f.pts;
  t.lastFrame = f.frame;
  t.frames++;
  if (o.score > t.best) { t.best = o.score; t.bestBox = o.box; }
  const c = centre(o.box);
  t.length += Math.hypot(c[0] - t.last[0], c[1] - t.last[1]);
  t.last = c;
  if (f.frame % 5 === 0) {
    t.points.push(c);
    if (t.points.length > MAX_POINTS) t.points = t.points.filter((_, i) => i % 2 === 0);
  }
}

/**
 * What starts a clip or a snapshot (`on=`): event types from analytics (line-cross, roi-enter,
 * roi-exit, overcrowding), `track-start` (a track id seen for the first time), `class:NAME` (an
 * object of that class, by label or id, is in the frame).
 */
export class Triggers {
  private types = new Set<string>();
  private classes = new Set<string>();
  private trackStart = false;
  private seen = new Map<number, Set<number>>();
  readonly empty: boolean;
  constructor(spec: string, fail: (msg: string) => never) {
    for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (raw.startsWith('class:')) { const c = raw.slice(6).trim(); if (!c) fail('on=class:NAME needs a class name or id (e.g. class:person)'); this.classes.add(c); }
      else if (raw === 'track-start') this.trackStart = true;
      else if (['line-cross', 'roi-enter', 'roi-exit', 'overcrowding'].includes(raw)) this.types.add(raw);
      else fail(`on= takes line-cross, roi-enter, roi-exit, overcrowding, track-start or class:NAME, comma-separated (got "${raw}")`);
    }
    this.empty = !this.types.size && !this.classes.size && !this.trackStart;
  }

  /** What in this frame triggers: the events (analytics' own) and reasons, with the tracks involved. */
  match(f: Frame): { type: string; track?: number; [k: string]: unknown }[] {
    const out: { type: string; track?: number; [k: string]: unknown }[] = [];
    for (const e of f.meta.events) if (this.types.has(e.type)) out.push({ ...e, type: e.type });
    if (this.classes.size) for (const o of f.meta.objects) if (this.classes.has(o.label ?? '') || this.classes.has(String(o.class))) out.push({ type: `class:${o.label ?? o.class}`, ...(o.track !== undefined ? { track: o.track } : {}) });
    if (this.trackStart) {
      let s = this.seen.get(f.stream);
      if (!s) { s = new Set(); this.seen.set(f.stream, s); }
      for (const o of f.meta.objects) if (o.track !== undefined && !s.has(o.track)) {
        s.add(o.track);
        out.push({ type: 'track-start', track: o.track });
        // Bounded: ids only grow, so the oldest are the ones long gone.
        if (s.size > 8192) s.delete(s.values().next().value!);
      }
    }
    return out;
  }
  forget(stream: number): void { this.seen.delete(stream); }
}
