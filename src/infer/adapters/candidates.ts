// Outputs of a compiled detector: per image the top-k candidates, sorted by score, already
// decoded to model-input pixels (sluice_boxes [B,K,4], sluice_scores [B,K], optional
// sluice_classes [B,K] and sluice_landmarks [B,K,10]). What is left is threshold and NMS.
import type { TensorOut } from '../protocol.ts';
import type { DecodeParams, Decoded } from './types.ts';
import { nms, type Det } from '../nms.ts';

export function decodeCandidates(out: Record<string, TensorOut>, b: number, p: DecodeParams, classAware: boolean): Decoded {
  const sc = out.sluice_scores!, bx = out.sluice_boxes!, cl = out.sluice_classes, lm = out.sluice_landmarks;
  const k = sc.dims[1]!;
  const dets: Det[] = [];
  for (let i = 0; i < k; i++) {
    const s = sc.data[b * k + i]!;
    if (s < p.threshold) break; // sorted: the rest are lower
    const o = (b * k + i) * 4;
    const d: Det = { class: cl ? Math.round(cl.data[b * k + i]!) : 0, score: s, box: [bx.data[o]!, bx.data[o + 1]!, bx.data[o + 2]!, bx.data[o + 3]!] };
    if (lm) d.landmarks = Array.from(lm.data.subarray((b * k + i) * 10, (b * k + i + 1) * 10));
    dets.push(d);
  }
  return { objects: nms(dets, p.nmsIou, classAware && p.classAware) };
}
