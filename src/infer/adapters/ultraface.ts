// UltraFace: already-decoded outputs. scores [1,N,2] softmaxed (background, face), boxes [1,N,4]
// normalised x1,y1,x2,y2. Input stretched (no letterbox), RGB, (x-127)/128. The same layout with
// C > 2 score columns (SSD exports whose box decode is in the graph, class 0 = background) reads
// as classes 0..C-2.
import type { Adapter, Decoded } from './types.ts';
import { imageInput, modelError, shapeStr } from './types.ts';
import { nms, type Det } from '../nms.ts';

export const ultraface: Adapter = {
  name: 'ultraface',
  task: 'detect',
  prep: { layout: 'nchw', order: 'rgb', scale: 1, mean: [127, 127, 127], std: [128, 128, 128], letterbox: 'none', pad: 0 },
  threshold: 0.7,
  nmsIou: 0.3,
  labels: ['face'],
  numClasses: (info) => { const c = info.outputs.find((o) => o.name === 'scores')?.shape[2]; return c && c > 2 ? c - 1 : 1; },
  check(info) {
    imageInput(info, 'ultraface');
    const scores = info.outputs.find((o) => o.name === 'scores');
    const boxes = info.outputs.find((o) => o.name === 'boxes');
    if (!scores || !boxes) throw modelError(`ultraface expects outputs "scores" and "boxes"; the model has ${info.outputs.map((o) => o.name).join(', ')}`);
    if (!(scores.shape[2]! >= 2)) throw modelError(`output tensor "scores" has shape ${shapeStr(scores.shape)}, expected [1,N,C] with C >= 2 (background first)`);
    if (boxes.shape[2] !== 4) throw modelError(`output tensor "boxes" has shape ${shapeStr(boxes.shape)}, expected [1,N,4]`);
  },
  decode(out, b, p): Decoded {
    const sc = out.scores!, bx = out.boxes!;
    const n = sc.dims[1]!, c = sc.dims[2]!;
    const dets: Det[] = [];
    for (let i = 0; i < n; i++) {
      let s = 0, cls = 0;
      for (let k = 1; k < c; k++) { const v = sc.data[(b * n + i) * c + k]!; if (v > s) { s = v; cls = k - 1; } }
      if (s < p.threshold) continue;
      const o = (b * n + i) * 4;
      dets.push({ class: cls, score: s, box: [bx.data[o]! * p.inW, bx.data[o + 1]! * p.inH, bx.data[o + 2]! * p.inW, bx.data[o + 3]! * p.inH] });
    }
    return { objects: nms(dets, p.nmsIou, c > 2 && p.classAware) };
  },
};
