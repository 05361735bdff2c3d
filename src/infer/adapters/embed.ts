// Embeddings (re-identification and the like): one output [N,D]; L2-normalised so a dot product
// is the cosine similarity. Default prep is the OMZ re-ID model's: BGR 0-255, NHWC, stretched.
import type { Adapter, Decoded } from './types.ts';
import { imageInput, modelError, shapeStr } from './types.ts';

export const embed: Adapter = {
  name: 'embed',
  task: 'embed',
  prep: { layout: 'nhwc', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], letterbox: 'none', pad: 0 },
  threshold: 0,
  nmsIou: 0,
  numClasses: () => undefined,
  check(info) {
    imageInput(info, 'embed');
    const o = info.outputs[0]!;
    if (info.outputs.length !== 1 || o.shape.length !== 2) throw modelError(`embed expects one output [N,D]; output tensor "${o.name}" has shape ${shapeStr(o.shape)}`);
  },
  decode(out, b): Decoded {
    const t = Object.values(out)[0]!;
    const d = t.dims[1]!;
    const v = Float32Array.from(t.data.subarray(b * d, (b + 1) * d));
    let n = 0;
    for (const x of v) n += x * x;
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < d; i++) v[i] = v[i]! / n;
    return { embedding: v };
  },
};
