// Classifiers: one output [N,C] of logits (softmaxed here unless they already sum to 1).
// Default prep is ImageNet's: RGB, 0-1, mean/std normalised, shorter side fitted, centre cropped.
import type { Adapter, Decoded } from './types.ts';
import { imageInput, modelError, shapeStr, softmaxInPlace } from './types.ts';

export const classify: Adapter = {
  name: 'classify',
  task: 'classify',
  prep: { layout: 'nchw', order: 'rgb', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], letterbox: 'crop', pad: 0 },
  threshold: 0.05,
  nmsIou: 0,
  numClasses: (info) => info.outputs[0]?.shape.at(-1),
  check(info) {
    imageInput(info, 'classify');
    const o = info.outputs[0]!;
    if (info.outputs.length !== 1 || o.shape.length !== 2) throw modelError(`classify expects one output [N,classes]; output tensor "${o.name}" has shape ${shapeStr(o.shape)}`);
  },
  decode(out, b, p): Decoded {
    const t = Object.values(out)[0]!;
    const c = t.dims[1]!;
    const v = Float32Array.from(t.data.subarray(b * c, (b + 1) * c));
    let sum = 0, min = Infinity;
    for (const x of v) { sum += x; min = Math.min(min, x); }
    if (min < 0 || Math.abs(sum - 1) > 1e-3) softmaxInPlace(v, 0, c);
    const idx = Array.from(v.keys()).sort((a, b2) => v[b2]! - v[a]!).slice(0, p.topK);
    return { classifications: idx.filter((i, k) => k === 0 || v[i]! >= p.threshold).map((i) => ({ class: i, score: v[i]! })) };
  },
};
