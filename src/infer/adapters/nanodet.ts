// NanoDet: per-stride class scores [1,g²,C] (sigmoided) and box distributions [1,g²,4·bins]
// (softmax over bins per side, expected bin index times stride).
import type { Adapter, Decoded } from './types.ts';
import { COCO80, imageInput, modelError } from './types.ts';
import { nms, type Det } from '../nms.ts';

function pairs(names: string[]) {
  const strides = names.filter((n) => /^cls_pred_stride_\d+$/.test(n)).map((n) => Number(n.split('_').pop()));
  return strides.sort((a, b) => a - b);
}

export const nanodet: Adapter = {
  name: 'nanodet',
  task: 'detect',
  prep: { layout: 'nchw', order: 'bgr', scale: 1, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395], letterbox: 'center', pad: 0 },
  threshold: 0.35,
  nmsIou: 0.6,
  labels: COCO80,
  numClasses(info) { return info.outputs.find((o) => o.name.startsWith('cls_pred'))?.shape[2]; },
  check(info) {
    const inp = imageInput(info, 'nanodet');
    const names = info.outputs.map((o) => o.name);
    const strides = pairs(names);
    if (strides.length === 0) throw modelError(`nanodet expects outputs named cls_pred_stride_S and dis_pred_stride_S; the model has ${names.join(', ')}`);
    for (const s of strides) {
      const cls = info.outputs.find((o) => o.name === `cls_pred_stride_${s}`)!;
      const dis = info.outputs.find((o) => o.name === `dis_pred_stride_${s}`);
      if (!dis) throw modelError(`output dis_pred_stride_${s} is missing (cls_pred_stride_${s} has no box partner)`);
      const cells = Math.ceil(inp.width / s) * Math.ceil(inp.height / s);
      if (cls.shape[1] !== cells) throw modelError(`output tensor "${cls.name}" has ${cls.shape[1]} cells, expected ${cells} for a ${inp.width}x${inp.height} input`);
      if (dis.shape[2]! % 4 !== 0) throw modelError(`output tensor "${dis.name}" last dim ${dis.shape[2]} is not 4 sides x bins`);
    }
  },
  decode(out, b, p): Decoded {
    const dets: Det[] = [];
    for (const s of pairs(Object.keys(out))) {
      const cls = out[`cls_pred_stride_${s}`]!;
      const dis = out[`dis_pred_stride_${s}`]!;
      const n = cls.dims[1]!, nc = cls.dims[2]!, nd = dis.dims[2]!, bins = nd / 4;
      const g = Math.ceil(p.inW / s);
      const cb = b * n * nc, db = b * n * nd;
      for (let i = 0; i < n; i++) {
        let best = 0, c = 0;
        for (let k = 0; k < nc; k++) { const v = cls.data[cb + i * nc + k]!; if (v > best) { best = v; c = k; } }
        if (best < p.threshold) continue;
        const cx = (i % g) * s + (s - 1) / 2;
        const cy = Math.floor(i / g) * s + (s - 1) / 2;
        const side = [0, 0, 0, 0];
        for (let k = 0; k < 4; k++) {
          const o = db + i * nd + k * bins;
          let m = -Infinity;
          for (let j = 0; j < bins; j++) m = Math.max(m, dis.data[o + j]!);
          let sum = 0, acc = 0;
          for (let j = 0; j < bins; j++) { const e = Math.exp(dis.data[o + j]! - m); sum += e; acc += e * j; }
          side[k] = (acc / sum) * s;
        }
        dets.push({ class: c, score: best, box: [cx - side[0]!, cy - side[1]!, cx + side[2]!, cy + side[3]!] });
      }
    }
    return { objects: nms(dets, p.nmsIou, p.classAware) };
  },
};
