// Geometry of metadata boxes ([x1, y1, x2, y2] in source pixels), shared by inference (NMS) and
// tracking (matching), so neither reaches into the other.
import type { Box } from '../core/frame.ts';

/** Intersection over union of two boxes; 0 where they do not overlap. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}
