// Non-maximum suppression, class-aware (boxes of different classes never suppress each other)
// or agnostic. Greedy, by descending score.
import type { Box } from '../core/frame.ts';
import { iou } from '../meta/geometry.ts';

// iou lives with the box geometry (tracking uses it too); re-exported for infer's callers.
export { iou };

export interface Det { class: number; score: number; box: Box; landmarks?: number[] }

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
