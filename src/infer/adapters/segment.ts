// Semantic segmentation: per-pixel class logits, NHWC [1,H,W,C] or NCHW [1,C,H,W]; argmax gives a
// class map at model resolution covering the whole frame (stretched input).
import type { Adapter, Decoded } from './types.ts';
import { VOC21, imageInput, modelError, shapeStr } from './types.ts';
import type { Det } from '../nms.ts';

export const segment: Adapter = {
  name: 'segment',
  task: 'segment',
  // DeepLabV3 (TF): RGB, x/127.5 - 1.
  prep: { layout: 'nhwc', order: 'rgb', scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], letterbox: 'none', pad: 0 },
  threshold: 0,
  nmsIou: 0,
  labels: VOC21,
  numClasses(info) {
    const s = info.outputs[0]?.shape;
    if (!s || s.length !== 4) return undefined;
    return s[3]! <= s[1]! ? s[3] : s[1];
  },
  check(info) {
    imageInput(info, 'segment');
    const o = info.outputs[0]!;
    if (info.outputs.length !== 1 || o.shape.length !== 4) throw modelError(`segment expects one 4-D output of class scores; output tensor "${o.name}" has shape ${shapeStr(o.shape)}`);
  },
  decode(out, b, p): Decoded {
    const t = Object.values(out)[0]!;
    const [, d1, d2, d3] = t.dims as [number, number, number, number];
    const nhwc = d3 <= d1;
    const [h, w, c] = nhwc ? [d1, d2, d3] : [d2, d3, d1];
    const data = new Uint8Array(h * w);
    const base = b * h * w * c;
    for (let i = 0; i < h * w; i++) {
      let best = -Infinity, k = 0;
      for (let j = 0; j < c; j++) {
        const v = nhwc ? t.data[base + i * c + j]! : t.data[base + j * h * w + i]!;
        if (v > best) { best = v; k = j; }
      }
      data[i] = k;
    }
    const res: Decoded = { mask: { width: w, height: h, data } };
    if (p.maskObjects) res.objects = regions(data, w, h, p.inW / w, p.inH / h, Math.max(4, Math.round(w * h * 0.0005)));
    return res;
  },
};

/**
 * Objects from a class map: one box per 4-connected region of a non-background class (class 0
 * is background), in model-input pixels. Regions smaller than minArea pixels are noise.
 */
export function regions(mask: Uint8Array, w: number, h: number, sx: number, sy: number, minArea: number): Det[] {
  const seen = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  const dets: Det[] = [];
  for (let start = 0; start < w * h; start++) {
    const c = mask[start]!;
    if (c === 0 || seen[start]) continue;
    let top = 0, area = 0;
    let x1 = w, y1 = h, x2 = -1, y2 = -1;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % w, y = (i - x) / w;
      area++;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
      if (x > 0 && !seen[i - 1] && mask[i - 1] === c) { seen[i - 1] = 1; stack[top++] = i - 1; }
      if (x < w - 1 && !seen[i + 1] && mask[i + 1] === c) { seen[i + 1] = 1; stack[top++] = i + 1; }
      if (y > 0 && !seen[i - w] && mask[i - w] === c) { seen[i - w] = 1; stack[top++] = i - w; }
      if (y < h - 1 && !seen[i + w] && mask[i + w] === c) { seen[i + w] = 1; stack[top++] = i + w; }
    }
    if (area < minArea) continue;
    // Score: how much of its box the region fills (1 for a solid rectangle).
    const score = area / ((x2 - x1 + 1) * (y2 - y1 + 1));
    dets.push({ class: c, score, box: [x1 * sx, y1 * sy, (x2 + 1) * sx, (y2 + 1) * sy] });
  }
  return dets;
}
