// The metadata built-in elements hand each other, with its types. Producers set it, consumers
// get it, both through these keys (src/core/meta.ts), and probes and plugins can too.
import { defineFrameMeta, defineObjectMeta } from '../core/meta.ts';

/** netcam -> display (and the remote page): which camera frame a result belongs to. */
export interface Capture { seq: number; ts: number; client?: number }
export const CAPTURE = defineFrameMeta<Capture>('capture');

/** analytics -> osd: line and region geometry in source pixels, with their counts. */
export interface AnalyticsShapes {
  lines: { name: string; a: [number, number]; b: [number, number]; in: number; out: number }[];
  rois: { name: string; pts: [number, number][]; occupancy: number }[];
}
export const ANALYTICS_SHAPES = defineFrameMeta<AnalyticsShapes>('analyticsShapes');

/** analytics: per-frame counts (also in the meta sink's lines). */
/** analytics: per-frame counts by line name ({in, out}) and region name ({occupancy}). */
export type AnalyticsSummary = Record<string, { in: number; out: number } | { occupancy: number }>;
export const ANALYTICS = defineFrameMeta<AnalyticsSummary>('analytics');

/** tile: which stream each cell of the composed frame shows. */
export interface TileCell {
  stream: number; x: number; y: number; w: number; h: number;
  /** Live: the stream sent nothing for tile's lost-after (its cell is greyed). */
  lost?: boolean;
  /** Frame number of the stream's picture in this cell. */
  frame?: number;
  /** Where tile wrote the cell's name [x1, y1, x2, y2]: osd places its badges clear of it. */
  label?: [number, number, number, number];
}
export const TILES = defineFrameMeta<TileCell[]>('tiles');

/** infer (secondary embed) -> track: the object's L2-normalised appearance embedding. */
export const EMBEDDING = defineObjectMeta<Float32Array>('embedding');
/** infer (secondary classify): the object's best class. */
export const CLASSIFICATION = defineObjectMeta<{ class: number; label: string; score: number }>('classification');
/** infer (secondary detect): how many objects the secondary detector found inside this one. */
export const DETECTIONS = defineObjectMeta<number>('detections');
/** infer (YuNet): five landmarks as x,y pairs in source pixels. */
export const LANDMARKS = defineObjectMeta<number[]>('landmarks');
/** track: the box was predicted (no detection matched this frame). */
export const PREDICTED = defineObjectMeta<boolean>('predicted');
/** tile: the stream an object came from. */
export const STREAM = defineObjectMeta<number>('stream');
