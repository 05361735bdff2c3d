// Non-maximum suppression, class-aware (boxes of different classes never suppress each other)
// or agnostic. Greedy, by descending score.
import type { Box } from '../core/frame.ts';

export interface Det { class: number; score: number; box: Box; landmarks?: number[] }

export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

export function nms(dets: Det[], iouThreshold: number, classAware: boolean, maxDetections = 300): Det[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const keep: Det[] = [];
  for (const d of sorted) {
    let suppressed = false;
    for (const k of keep) {
      if (classAware && k.class !== d.class) continue;
      if (iou(k.box, d.box) > iouThreshold) { suppressed = true; break; }
    }
    if (!suppressed) {
      keep.push(d);
      if (keep.length >= maxDetections) break;
    }
  }
  return keep;
}
