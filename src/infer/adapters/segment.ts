// Semantic segmentation: per-pixel class logits, NHWC [1,H,W,C] or NCHW [1,C,H,W]; argmax gives a
// class map at model resolution covering the whole frame (stretched input).
import type { Adapter, Decoded } from './types.ts';
import { VOC21, imageInput, modelError, shapeStr } from './types.ts';

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
  decode(out, b): Decoded {
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
    return { mask: { width: w, height: h, data } };
  },
};
