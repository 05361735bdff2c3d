// SSD-style post-processed outputs (TensorFlow Object Detection API / ONNX zoo SSD exports):
// boxes [1,N,4] as normalised y1,x1,y2,x2, classes [1,N], scores [1,N], optional num_detections
// [1]. NMS already ran inside the model; we threshold and map boxes.
import type { Adapter, Decoded } from './types.ts';
import { COCO80, imageInput, modelError } from './types.ts';
import type { ModelInfo, TensorOut } from '../protocol.ts';
import type { Det } from '../nms.ts';

function find(names: string[], word: string): string | undefined {
  return names.find((n) => n.toLowerCase().includes(word));
}

export function ssdOutputs(info: ModelInfo | string[]): { boxes: string; classes: string; scores: string; num?: string } | null {
  const names = Array.isArray(info) ? info : info.outputs.map((o) => o.name);
  const boxes = find(names, 'boxes');
  const classes = find(names, 'classes');
  const scores = find(names, 'scores');
  if (!boxes || !classes || !scores) return null;
  return { boxes, classes, scores, num: find(names, 'num_detections') };
}

export const ssd: Adapter = {
  name: 'ssd',
  task: 'detect',
  prep: { layout: 'nchw', order: 'rgb', scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1], letterbox: 'none', pad: 0 },
  threshold: 0.5,
  nmsIou: 0,
  labels: COCO80,
  numClasses: () => undefined,
  check(info) {
    imageInput(info, 'ssd');
    if (!ssdOutputs(info)) throw modelError(`ssd expects outputs named *boxes*, *classes* and *scores*; the model has ${info.outputs.map((o) => o.name).join(', ')}`);
  },
  decode(out: Record<string, TensorOut>, b, p): Decoded {
    const o = ssdOutputs(Object.keys(out))!;
    const boxes = out[o.boxes]!, classes = out[o.classes]!, scores = out[o.scores]!;
    const n = scores.dims[1]!;
    const count = o.num ? Math.min(n, Math.round(out[o.num]!.data[b]!)) : n;
    const dets: Det[] = [];
    for (let i = 0; i < count; i++) {
      const s = scores.data[b * n + i]!;
      if (s < p.threshold) continue;
      const k = (b * n + i) * 4;
      const [y1, x1, y2, x2] = [boxes.data[k]!, boxes.data[k + 1]!, boxes.data[k + 2]!, boxes.data[k + 3]!];
      dets.push({ class: Math.round(classes.data[b * n + i]!), score: s, box: [x1 * p.inW, y1 * p.inH, x2 * p.inW, y2 * p.inH] });
    }
    return { objects: dets };
  },
};
