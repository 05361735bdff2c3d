// track: give detected objects persistent ids across frames, per stream (DeepStream's
// nvtracker). SORT-family by default (Kalman motion + optimal assignment + ByteTrack's second
// association of low-score detections); a plain IoU tracker on request. On frames the detector
// skipped (infer interval=N) tracks are carried forward by their motion model.
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';
import { Tracker } from '../track/tracker.ts';

const props = z.object({
  tracker: p.enum(['sort', 'iou'], 'sort', 'sort: Kalman + optimal assignment + low-score second pass; iou: greedy IoU, no motion model'),
  highThreshold: p.num(0.5, 'detections at or above this score start tracks', { min: 0, max: 1 }),
  lowThreshold: p.num(0.1, 'detections from here to high-threshold only extend tracks (ByteTrack)', { min: 0, max: 1 }),
  matchIou: p.num(0.3, 'minimum IoU between a track\'s predicted box and a detection', { min: 0, max: 1 }),
  minHits: p.int(3, 'matches before a tentative track is confirmed and reported', { min: 1 }),
  maxAge: p.int(30, 'frames a lost track is kept for re-association before it is removed', { min: 0 }),
  classAware: p.bool(true, 'only match detections of the track\'s class'),
  reidThreshold: p.num(0, 'cosine similarity of appearance embeddings (attributes.embedding, e.g. from "infer mode=secondary model=reid") that re-identifies a lost track; 0 turns it off', { min: 0, max: 1 }),
});

export default defineElement({
  name: 'track',
  summary: 'Track objects across frames with persistent ids (SORT/ByteTrack or IoU)',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  pixels: () => 'none',
  passesPixels: () => true,
  props,
  doc: `Track states: tentative (until min-hits matches), confirmed (reported, with "track" ids),
lost (unmatched; kept max-age frames for re-association, then removed). Objects the tracker
carried across a frame without detections have attributes.predicted = true.`,
  create(o, ctx) {
    const trackers = new Map<number, Tracker>();
    return {
      streamRemoved(s) { trackers.delete(s); },
      async process(frame) {
        let t = trackers.get(frame.stream);
        if (!t) { t = new Tracker({ kind: o.tracker, ...o }); trackers.set(frame.stream, t); }
        frame.meta.objects = frame.meta.inferred === false ? t.predict() : t.update(frame.meta.objects);
        await ctx.push(frame);
      },
    };
  },
});
