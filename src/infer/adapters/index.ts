// Adapter registry and auto-detection from a model's tensor names and shapes.
import type { ModelInfo } from '../protocol.ts';
import type { Adapter } from './types.ts';
import { modelError, shapeStr } from './types.ts';
import { yolo, yolox, yoloLayout } from './yolo.ts';
import { nanodet } from './nanodet.ts';
import { ultraface } from './ultraface.ts';
import { yunet } from './yunet.ts';
import { classify } from './classify.ts';
import { segment } from './segment.ts';
import { embed } from './embed.ts';
import { ssd, ssdOutputs } from './ssd.ts';
import { deepstreamYolo, deepstreamYoloE } from './deepstream-yolo.ts';

// deepstream-yolo(-e) are never detected (their [B,N,6] output looks like a one-class YOLOX head): DeepStream-Yolo configs name them through parse-bbox-func-name.
export const adapters: Record<string, Adapter> = { yolox, yolo, nanodet, ultraface, yunet, ssd, classify, segment, embed, 'deepstream-yolo': deepstreamYolo, 'deepstream-yolo-e': deepstreamYoloE };
export const ADAPTER_NAMES = ['auto', ...Object.keys(adapters)] as const;

export function detectAdapter(info: ModelInfo): Adapter {
  const names = info.outputs.map((o) => o.name);
  if (names.some((n) => n.startsWith('cls_pred_stride_'))) return nanodet;
  if (names.includes('scores') && names.includes('boxes')) return ultraface;
  if (names.includes('loc') && names.includes('conf') && names.includes('iou')) return yunet;
  if (ssdOutputs(info)) return ssd;
  const l = yoloLayout(info);
  if (l === 'yolox') return yolox;
  if (l) return yolo;
  if (info.outputs.length === 1) {
    const s = info.outputs[0]!.shape;
    if (s.length === 4) return segment;
    if (s.length === 2) return s[1] === 1000 || s[1] === 1001 || (s[1]! > 0 && s[1]! < 128) ? classify : embed;
  }
  throw modelError(`cannot tell which adapter fits this model (outputs ${info.outputs.map((o) => `${o.name} ${shapeStr(o.shape)}`).join(', ')}); set adapter= to one of ${Object.keys(adapters).join(', ')}`);
}
