// YuNet (libfacedetection 2021): prior boxes over strides 8/16/32/64, loc [N,14] (box + 5
// landmarks), conf [N,2], iou [N,1]; score = sqrt(conf_face * clamp(iou)). BGR 0-255, stretched.
import type { Adapter, Decoded } from './types.ts';
import { imageInput, modelError, shapeStr } from './types.ts';
import { nms, type Det } from '../nms.ts';

const MIN_SIZES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]];
const STEPS = [8, 16, 32, 64];

export function yunetPriors(w: number, h: number): Float32Array {
  // Feature maps: the input halved repeatedly (floor), as libfacedetection does.
  const sizes: [number, number][] = [];
  let fw = w, fh = h;
  for (let i = 0; i < 6; i++) { fw = Math.floor(fw / 2); fh = Math.floor(fh / 2); if (i >= 2) sizes.push([fw, fh]); }
  const out: number[] = [];
  sizes.forEach(([gw, gh], k) => {
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) for (const m of MIN_SIZES[k]!) {
      out.push(((x + 0.5) * STEPS[k]!) / w, ((y + 0.5) * STEPS[k]!) / h, m / w, m / h);
    }
  });
  return Float32Array.from(out);
}

const priorCache = new Map<string, Float32Array>();

export const yunet: Adapter = {
  name: 'yunet',
  task: 'detect',
  prep: { layout: 'nchw', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], letterbox: 'none', pad: 0 },
  threshold: 0.6,
  nmsIou: 0.3,
  labels: ['face'],
  numClasses: () => 1,
  check(info) {
    const inp = imageInput(info, 'yunet');
    const loc = info.outputs.find((o) => o.name === 'loc');
    const conf = info.outputs.find((o) => o.name === 'conf');
    const iouT = info.outputs.find((o) => o.name === 'iou');
    if (!loc || !conf || !iouT) throw modelError(`yunet expects outputs "loc", "conf" and "iou"; the model has ${info.outputs.map((o) => o.name).join(', ')}`);
    const n = yunetPriors(inp.width, inp.height).length / 4;
    // An unset first dim (-1) is allowed: the file leaves it to shape inference.
    if ((loc.shape[0] !== n && loc.shape[0] !== -1) || loc.shape[1] !== 14) throw modelError(`output tensor "loc" has shape ${shapeStr(loc.shape)}, expected [${n},14] for a ${inp.width}x${inp.height} input`);
  },
  decode(out, b, p): Decoded {
    if (b !== 0) throw modelError('yunet outputs have no batch dimension: run it with batch-size=1');
    const key = `${p.inW}x${p.inH}`;
    let pr = priorCache.get(key);
    if (!pr) { pr = yunetPriors(p.inW, p.inH); priorCache.set(key, pr); }
    const loc = out.loc!.data, conf = out.conf!.data, iouD = out.iou!.data;
    const n = pr.length / 4;
    const dets: Det[] = [];
    for (let i = 0; i < n; i++) {
      const score = Math.sqrt(conf[i * 2 + 1]! * Math.min(1, Math.max(0, iouD[i]!)));
      if (score < p.threshold) continue;
      const [pcx, pcy, pw, ph] = [pr[i * 4]!, pr[i * 4 + 1]!, pr[i * 4 + 2]!, pr[i * 4 + 3]!];
      const l = i * 14;
      const cx = (pcx + loc[l]! * 0.1 * pw) * p.inW;
      const cy = (pcy + loc[l + 1]! * 0.1 * ph) * p.inH;
      const w = pw * Math.exp(loc[l + 2]! * 0.2) * p.inW;
      const h = ph * Math.exp(loc[l + 3]! * 0.2) * p.inH;
      const landmarks: number[] = [];
      for (let k = 0; k < 5; k++) landmarks.push((pcx + loc[l + 4 + 2 * k]! * 0.1 * pw) * p.inW, (pcy + loc[l + 5 + 2 * k]! * 0.1 * ph) * p.inH);
      dets.push({ class: 0, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], landmarks });
    }
    return { objects: nms(dets, p.nmsIou, false) };
  },
};
