// CLEAR-MOT (MOTA, ID switches) and IDF1 of tracked objects against ground truth, per frame.
// Truth objects less than `minVisible` visible are "don't care": not required, and a track on
// one is not a false positive.
import type { Box } from '../core/frame.ts';
import { iou } from '../meta/geometry.ts';
import { assign } from './hungarian.ts';

export interface GtObj { id: number; box: Box; visible: number }
export interface HypObj { track: number; box: Box }

export interface MotResult { frames: number; gt: number; fp: number; fn: number; idsw: number; mota: number; idf1: number; ids: number }

export function evaluate(frames: { truth: GtObj[]; hyps: HypObj[] }[], minIou = 0.5, minVisible = 0.5): MotResult {
  let gtTotal = 0, fp = 0, fn = 0, idsw = 0, hypTotal = 0;
  const last = new Map<number, number>();
  const pairCount = new Map<string, number>();
  const gtIds = new Set<number>(), hypIds = new Set<number>();
  for (const f of frames) {
    const care = f.truth.filter((t) => t.visible >= minVisible);
    const ignore = f.truth.filter((t) => t.visible < minVisible);
    gtTotal += care.length;
    const matchedGt = new Map<number, number>(); // gt index -> hyp index
    const usedH = new Set<number>();
    // Keep last frame's pairs while they still overlap (CLEAR-MOT).
    care.forEach((g, gi) => {
      const prev = last.get(g.id);
      if (prev === undefined) return;
      const hi = f.hyps.findIndex((h, k) => !usedH.has(k) && h.track === prev && iou(h.box, g.box) >= minIou);
      if (hi >= 0) { matchedGt.set(gi, hi); usedH.add(hi); }
    });
    const freeG = care.map((_, i) => i).filter((i) => !matchedGt.has(i));
    const freeH = f.hyps.map((_, i) => i).filter((i) => !usedH.has(i));
    const a = assign(freeG.map((gi) => freeH.map((hi) => 1 - iou(care[gi]!.box, f.hyps[hi]!.box))));
    a.forEach((j, k) => {
      if (j < 0) return;
      const gi = freeG[k]!, hi = freeH[j]!;
      if (iou(care[gi]!.box, f.hyps[hi]!.box) >= minIou) { matchedGt.set(gi, hi); usedH.add(hi); }
    });
    for (const [gi, hi] of matchedGt) {
      const g = care[gi]!, h = f.hyps[hi]!;
      const prev = last.get(g.id);
      if (prev !== undefined && prev !== h.track) idsw++;
      last.set(g.id, h.track);
      const key = `${g.id}:${h.track}`;
      pairCount.set(key, (pairCount.get(key) ?? 0) + 1);
    }
    fn += care.length - matchedGt.size;
    f.hyps.forEach((h, hi) => {
      if (usedH.has(hi)) { hypTotal++; hypIds.add(h.track); return; }
      if (ignore.some((t) => iou(t.box, h.box) >= minIou)) return;
      fp++;
      hypTotal++;
      hypIds.add(h.track);
    });
    for (const g of care) gtIds.add(g.id);
  }
  // IDF1: the best one-to-one mapping of truth ids to track ids over the whole sequence.
  const G = [...gtIds], Hs = [...hypIds];
  const m = assign(G.map((g) => Hs.map((h) => -(pairCount.get(`${g}:${h}`) ?? 0))));
  let idtp = 0;
  m.forEach((j, i) => { if (j >= 0) idtp += pairCount.get(`${G[i]}:${Hs[j]}`) ?? 0; });
  const idf1 = gtTotal + hypTotal > 0 ? (2 * idtp) / (gtTotal + hypTotal) : 1;
  return { frames: frames.length, gt: gtTotal, fp, fn, idsw, mota: gtTotal ? 1 - (fn + fp + idsw) / gtTotal : 1, idf1, ids: hypIds.size };
}
