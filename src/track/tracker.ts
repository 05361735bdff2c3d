// Multi-object trackers for one stream.
//  sort: Kalman-predicted boxes matched to detections by optimal assignment on IoU, with
//        ByteTrack's second pass that matches low-score detections to still-unmatched tracks.
//  iou:  no motion model; greedy matching of detections to each track's last box.
// Tracks are tentative until `minHits` matches, confirmed after, lost when unmatched, and
// removed after `maxAge` frames lost. Only confirmed tracks are reported.
import type { Box, ObjectMeta } from '../core/frame.ts';
import { iou } from '../meta/geometry.ts';
import { assign, assignGated } from './hungarian.ts';
import { KalmanBox } from './kalman.ts';
import { EMBEDDING, PREDICTED } from '../meta/keys.ts';

export interface TrackerOptions {
  kind: 'sort' | 'iou';
  /** Detections at or above this score start tracks and get the first association. */
  highThreshold: number;
  /** Detections between this and highThreshold only extend existing tracks (ByteTrack). */
  lowThreshold: number;
  /** Minimum IoU for a match. */
  matchIou: number;
  minHits: number;
  maxAge: number;
  /** Only match detections to tracks of the same class. */
  classAware: boolean;
  /** Cosine similarity at which a detection's embedding re-identifies a lost track (0: off). */
  reidThreshold?: number;
}

export type TrackState = 'tentative' | 'confirmed' | 'lost';

interface Track {
  id: number;
  cls: number;
  label?: string;
  score: number;
  state: TrackState;
  hits: number;
  missed: number;
  kf: KalmanBox | null;
  last: Box;
  attributes: Record<string, unknown>;
  /** Running mean of the detections' appearance embeddings (L2-normalised). */
  embedding: Float32Array | null;
}

function embeddingOf(d: ObjectMeta): Float32Array | null {
  return EMBEDDING.get(d) ?? null;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { s += a[i]! * b[i]!; na += a[i]! * a[i]!; nb += b[i]! * b[i]!; }
  return s / (Math.sqrt(na * nb) || 1);
}

let nextId = 1;

export class Tracker {
  private o: TrackerOptions;
  private tracks: Track[] = [];
  constructor(o: TrackerOptions) { this.o = o; }

  get active(): number { return this.tracks.length; }

  /** Advance one frame with these detections; returns the tracked objects for the frame. */
  update(dets: ObjectMeta[]): ObjectMeta[] {
    for (const t of this.tracks) t.kf?.predict();
    const high = dets.filter((d) => d.score >= this.o.highThreshold);
    const low = this.o.kind === 'sort' ? dets.filter((d) => d.score < this.o.highThreshold && d.score >= this.o.lowThreshold) : [];
    const matched = new Map<Track, ObjectMeta>();
    // First pass: confirmed and lost tracks against high-score detections.
    const pool1 = this.tracks.filter((t) => t.state !== 'tentative');
    const rest1 = this.match(pool1, high, matched, this.o.matchIou);
    // Second pass (ByteTrack): tracks still unmatched against low-score detections.
    this.match(pool1.filter((t) => !matched.has(t)), low, matched, Math.max(this.o.matchIou, 0.5));
    // Tentative tracks get what is left of the high detections.
    let rest2 = this.match(this.tracks.filter((t) => t.state === 'tentative'), rest1, matched, this.o.matchIou);
    // Appearance: a lost track whose motion prediction drifted off can still be re-identified
    // by its embedding (e.g. after a long occlusion), instead of starting a new id.
    if ((this.o.reidThreshold ?? 0) > 0) rest2 = this.reidentify(rest2, matched);

    const out: ObjectMeta[] = [];
    for (const t of this.tracks) {
      const d = matched.get(t);
      if (d) {
        // Re-identified far from its prediction: restart the motion model there.
        if (t.kf && t.missed > 0 && iou(t.kf.box(), d.box) < this.o.matchIou) t.kf = new KalmanBox(d.box);
        else t.kf?.update(d.box);
        t.last = d.box;
        t.score = d.score;
        t.hits++;
        t.missed = 0;
        t.attributes = d.attributes;
        const e = embeddingOf(d);
        if (e) t.embedding = t.embedding ? t.embedding.map((v, i) => 0.8 * v + 0.2 * e[i]!) : Float32Array.from(e);
        if (t.state !== 'confirmed' && t.hits >= this.o.minHits) t.state = 'confirmed';
        else if (t.state === 'lost') t.state = 'confirmed';
        if (t.state === 'confirmed') out.push({ ...d, track: t.id });
      } else {
        t.missed++;
        if (t.state === 'confirmed') t.state = 'lost';
      }
    }
    this.tracks = this.tracks.filter((t) => !(t.state === 'tentative' && t.missed > 0) && t.missed <= this.o.maxAge);
    for (const d of rest2) {
      const t: Track = { id: 0, cls: d.class, label: d.label, score: d.score, state: 'tentative', hits: 1, missed: 0, kf: this.o.kind === 'sort' ? new KalmanBox(d.box) : null, last: d.box, attributes: d.attributes, embedding: embeddingOf(d) };
      if (this.o.minHits <= 1) t.state = 'confirmed';
      t.id = nextId++;
      this.tracks.push(t);
      if (t.state === 'confirmed') out.push({ ...d, track: t.id });
    }
    return out;
  }

  /** A frame without detections (the detector skipped it): report predicted boxes. */
  predict(): ObjectMeta[] {
    const out: ObjectMeta[] = [];
    for (const t of this.tracks) {
      t.kf?.predict();
      if (t.state === 'confirmed') {
        out.push({ class: t.cls, label: t.label, score: t.score, box: t.kf ? t.kf.box() : t.last, track: t.id, attributes: { ...t.attributes, [PREDICTED.name]: true } });
      }
    }
    return out;
  }

  /** Unmatched tracks vs leftover detections by embedding similarity (optimal assignment). */
  private reidentify(dets: ObjectMeta[], matched: Map<Track, ObjectMeta>): ObjectMeta[] {
    // Tracks left unmatched this frame (their motion prediction missed) or already lost.
    const lost = this.tracks.filter((t) => t.state !== 'tentative' && t.embedding && !matched.has(t));
    const cand = dets.map((d) => embeddingOf(d));
    if (lost.length === 0 || !cand.some(Boolean)) return dets;
    const sim = lost.map((t) => dets.map((d, j) => (cand[j] && (!this.o.classAware || d.class === t.cls) ? cosine(t.embedding!, cand[j]!) : -1)));
    const a = assign(sim.map((row) => row.map((v) => 1 - v)));
    const used = new Set<number>();
    a.forEach((j, i) => { if (j >= 0 && sim[i]![j]! >= this.o.reidThreshold!) { matched.set(lost[i]!, dets[j]!); used.add(j); } });
    return dets.filter((_, j) => !used.has(j));
  }

  /** Match tracks to detections; fills `matched`, returns the detections left over. */
  private match(tracks: Track[], dets: ObjectMeta[], matched: Map<Track, ObjectMeta>, minIou: number): ObjectMeta[] {
    if (tracks.length === 0 || dets.length === 0) return dets;
    const boxes = tracks.map((t) => (t.kf ? t.kf.box() : t.last));
    const ious = tracks.map((t, i) => dets.map((d) => (this.o.classAware && d.class !== t.cls ? 0 : iou(boxes[i]!, d.box))));
    const used = new Set<number>();
    if (this.o.kind === 'sort') {
      // Only pairs over minIou can match, so the assignment is solved per group of overlapping boxes.
      const a = assignGated(ious, minIou);
      a.forEach((j, i) => { if (j >= 0) { matched.set(tracks[i]!, dets[j]!); used.add(j); } });
    } else {
      const pairs: [number, number, number][] = [];
      ious.forEach((row, i) => row.forEach((v, j) => { if (v >= minIou) pairs.push([v, i, j]); }));
      pairs.sort((x, y) => y[0] - x[0]);
      const usedT = new Set<number>();
      for (const [, i, j] of pairs) {
        if (usedT.has(i) || used.has(j)) continue;
        usedT.add(i);
        used.add(j);
        matched.set(tracks[i]!, dets[j]!);
      }
    }
    return dets.filter((_, j) => !used.has(j));
  }
}
