// Box mapping: a model's decoded output, in the model's picture, into a frame's meta in source
// pixels. Two placements stand between them: where the frame sits in the model's picture
// (letterbox/stretch/crop, `place`) and how the frame itself was scaled from the source
// (`frame.xform`, e.g. a decoder that made a smaller frame). Pure: no I/O.
import type { Frame, ObjectMeta, Xform } from '../core/frame.ts';
import type { Placement } from '../media/scale.ts';
import type { Decoded } from './adapters/types.ts';
import { LANDMARKS } from '../meta/keys.ts';

/** Which results are kept, and their names. */
export interface OutputFilter {
  /** Only these classes (classes=); null: all. */
  keep: ReadonlySet<number> | null;
  /** Per-class minimum scores of detections (class-thresholds); others use `threshold`. */
  classMin: ReadonlyMap<number, number> | null;
  threshold: number;
  labels: readonly string[] | undefined;
}

/** Model-picture coordinates to source-frame pixels. */
export function toSource(place: Placement, x: Xform): (mx: number, my: number) => [number, number] {
  return (mx, my) => {
    const fx = (mx - place.dx) / place.sx;
    const fy = (my - place.dy) / place.sy;
    return [(fx - x.dx) / x.sx, (fy - x.dy) / x.sy];
  };
}

/** Attach a decoded result to a frame's meta: boxes and landmarks in source pixels, clipped to the source; empty boxes left out. */
export function applyDecoded(f: Frame, d: Decoded, place: Placement, flt: OutputFilter): void {
  const { keep, classMin, threshold, labels } = flt;
  const toSrc = toSource(place, f.xform);
  const W = f.source.width, H = f.source.height;
  const clip = (v: number, m: number) => Math.min(m, Math.max(0, v));
  if (d.objects) {
    for (const det of d.objects) {
      if (keep && !keep.has(det.class)) continue;
      if (classMin && det.score < (classMin.get(det.class) ?? threshold)) continue;
      const [x1, y1] = toSrc(det.box[0], det.box[1]);
      const [x2, y2] = toSrc(det.box[2], det.box[3]);
      const obj: ObjectMeta = { class: det.class, label: labels?.[det.class] ?? String(det.class), score: det.score, box: [clip(x1, W), clip(y1, H), clip(x2, W), clip(y2, H)], attributes: {} };
      if (det.landmarks) {
        const lm: number[] = [];
        for (let i = 0; i < det.landmarks.length; i += 2) lm.push(...toSrc(det.landmarks[i]!, det.landmarks[i + 1]!));
        LANDMARKS.set(obj, lm.map((v) => Math.round(v * 10) / 10));
      }
      if (obj.box[2] > obj.box[0] && obj.box[3] > obj.box[1]) f.meta.objects.push(obj);
    }
  }
  if (d.classifications) {
    f.meta.classifications = d.classifications.filter((c) => !keep || keep.has(c.class)).map((c) => ({ class: c.class, label: labels?.[c.class] ?? String(c.class), score: c.score }));
  }
  if (d.mask) f.meta.mask = { ...d.mask, labels };
  if (d.embedding) f.meta.embedding = d.embedding;
}
