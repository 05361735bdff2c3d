// Batched post-processing written as ONNX nodes, per adapter: box decode (grids, strides, priors
// as constants), score = objectness x class, then per-image top-k. Only [B,K,...] candidates
// leave the GPU; the worker runs the final NMS on those K.
import type { Builder } from './onnx.ts';
import { DT } from './onnx.ts';
import { yunetPriors } from '../adapters/yunet.ts';

export interface Candidates {
  boxes: string;   // [B,N,4] x1,y1,x2,y2 in model-input pixels
  scores: string;  // [B,N]
  classes?: string; // [B,N] int64
  landmarks?: string; // [B,N,2L]
  /** Candidate rows per image (N). */
  n: number;
  /** false: boxes of different classes suppress each other regardless of nms-agnostic (one class). */
  classAware: boolean;
}

export interface PostInput {
  /** Original output name -> its static shape (batch first; -1 unknown). */
  outputs: Map<string, number[]>;
  width: number;
  height: number;
}

/** Thrown when a model's outputs do not have the shape a post-processor needs. */
export class PostError extends Error {}

const STRIDES = [8, 16, 32];

function corners(b: Builder, cxy: string, wh: string): string {
  const half = b.op('Mul', [wh, b.f([0.5])]);
  return b.op('Concat', [b.op('Sub', [cxy, half]), b.op('Add', [cxy, half])], { axis: 2 });
}

/** Best class per row of [B,N,C]: scores [B,N], classes [B,N]. */
function best(b: Builder, cls: string): { scores: string; classes: string } {
  return { scores: b.reduceMax(cls, 2, 0), classes: b.op('ArgMax', [cls], { axis: 2, keepdims: 0 }) };
}

function only(p: PostInput): [string, number[]] {
  if (p.outputs.size !== 1) throw new PostError(`expected one output, the model has ${p.outputs.size}`);
  return [...p.outputs][0]!;
}

export function yoloxPost(b: Builder, p: PostInput): Candidates {
  const [name, shape] = only(p);
  const n = shape[1]!, cols = shape[2]!;
  const grid: number[] = [], stride: number[] = [];
  for (const s of STRIDES) {
    const gw = Math.floor(p.width / s), gh = Math.floor(p.height / s);
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) { grid.push(x, y); stride.push(s); }
  }
  if (stride.length !== n) throw new PostError(`output "${name}" has ${n} rows; the 8/16/32 grids of ${p.width}x${p.height} have ${stride.length}`);
  const S = b.f(stride, [1, n, 1]);
  const cxy = b.op('Mul', [b.op('Add', [b.slice(name, 2, 0, 2), b.f(grid, [1, n, 2])]), S]);
  const wh = b.op('Mul', [b.op('Exp', [b.slice(name, 2, 2, 4)]), S]);
  const prod = b.op('Mul', [b.slice(name, 2, 5, cols), b.slice(name, 2, 4, 5)]);
  return { boxes: corners(b, cxy, wh), ...best(b, prod), n, classAware: true };
}

export function yoloPost(b: Builder, p: PostInput): Candidates {
  const [name, shape] = only(p);
  // v8/v11: [B,4+C,N] without objectness; v5: [B,N,5+C] with it. Boxes already in pixels.
  if (shape[2]! > shape[1]!) {
    const t = b.op('Transpose', [name], { perm: [0, 2, 1] });
    return { boxes: corners(b, b.slice(t, 2, 0, 2), b.slice(t, 2, 2, 4)), ...best(b, b.slice(t, 2, 4, shape[1]!)), n: shape[2]!, classAware: true };
  }
  const prod = b.op('Mul', [b.slice(name, 2, 5, shape[2]!), b.slice(name, 2, 4, 5)]);
  return { boxes: corners(b, b.slice(name, 2, 0, 2), b.slice(name, 2, 2, 4)), ...best(b, prod), n: shape[1]!, classAware: true };
}

export function nanodetPost(b: Builder, p: PostInput): Candidates {
  const strides = [...p.outputs.keys()].filter((k) => /^cls_pred_stride_\d+$/.test(k)).map((k) => Number(k.split('_').pop())).sort((x, y) => x - y);
  if (!strides.length) throw new PostError('no cls_pred_stride_S outputs');
  const boxes: string[] = [], cls: string[] = [];
  let total = 0;
  for (const s of strides) {
    const cs = p.outputs.get(`cls_pred_stride_${s}`)!, ds = p.outputs.get(`dis_pred_stride_${s}`);
    if (!ds) throw new PostError(`dis_pred_stride_${s} is missing`);
    const n = cs[1]!, bins = ds[2]! / 4, g = Math.ceil(p.width / s);
    const centres: number[] = [];
    for (let i = 0; i < n; i++) centres.push((i % g) * s + (s - 1) / 2, Math.floor(i / g) * s + (s - 1) / 2);
    // Softmax over each side's bins, then the expected bin index, times the stride.
    const sm = b.op('Softmax', [b.reshape(`dis_pred_stride_${s}`, [-1, n, 4, bins])], { axis: 3 });
    const proj = b.f(Array.from({ length: bins }, (_, j) => j * s), [bins, 1]);
    const dist = b.reshape(b.op('MatMul', [sm, proj]), [-1, n, 4]);
    const c = b.f(centres, [1, n, 2]);
    boxes.push(b.op('Concat', [b.op('Sub', [c, b.slice(dist, 2, 0, 2)]), b.op('Add', [c, b.slice(dist, 2, 2, 4)])], { axis: 2 }));
    cls.push(`cls_pred_stride_${s}`);
    total += n;
  }
  const all = cls.length > 1 ? b.op('Concat', cls, { axis: 1 }) : cls[0]!;
  return { boxes: boxes.length > 1 ? b.op('Concat', boxes, { axis: 1 }) : boxes[0]!, ...best(b, all), n: total, classAware: true };
}

/** boxes [B,N,4] normalised x1,y1,x2,y2 + scores [B,N,C] with class 0 = background (UltraFace, decoded SSD exports). */
export function boxesScoresPost(b: Builder, p: PostInput): Candidates {
  const sc = p.outputs.get('scores'), bx = p.outputs.get('boxes');
  if (!sc || !bx) throw new PostError('expected outputs "scores" and "boxes"');
  const c = sc[2]!;
  const boxes = b.op('Mul', ['boxes', b.f([p.width, p.height, p.width, p.height], [1, 1, 4])]);
  const fg = b.slice('scores', 2, 1, c);
  // One foreground class (faces): boxes never compete across classes anyway.
  return { boxes, ...best(b, fg), n: sc[1]!, classAware: c > 2 };
}

/** YuNet: prior boxes with variances 0.1/0.2, 5 landmarks, score = sqrt(face x clamp(iou)). No batch dim. */
export function yunetPost(b: Builder, p: PostInput): Candidates {
  const pr = yunetPriors(p.width, p.height);
  const n = pr.length / 4;
  const pc: number[] = [], ps: number[] = [];
  for (let i = 0; i < n; i++) { pc.push(pr[i * 4]! * p.width, pr[i * 4 + 1]! * p.height); ps.push(pr[i * 4 + 2]! * p.width, pr[i * 4 + 3]! * p.height); }
  const PC = b.f(pc, [n, 2]), PS = b.f(ps, [n, 2]);
  const PS01 = b.op('Mul', [PS, b.f([0.1])]);
  const loc = 'loc';
  const cxy = b.op('Add', [PC, b.op('Mul', [b.slice(loc, 1, 0, 2), PS01])]);
  const wh = b.op('Mul', [PS, b.op('Exp', [b.op('Mul', [b.slice(loc, 1, 2, 4), b.f([0.2])])])]);
  const half = b.op('Mul', [wh, b.f([0.5])]);
  const boxes = b.op('Concat', [b.op('Sub', [cxy, half]), b.op('Add', [cxy, half])], { axis: 1 });
  const lmk = b.op('Add', [b.reshape(PC, [n, 1, 2]), b.op('Mul', [b.reshape(b.slice(loc, 1, 4, 14), [n, 5, 2]), b.reshape(PS01, [n, 1, 2])])]);
  const iou = b.op('Clip', ['iou', b.f([0], []), b.f([1], [])]);
  const score = b.op('Sqrt', [b.op('Mul', [b.slice('conf', 1, 1, 2), iou])]);
  return {
    boxes: b.unsqueeze(boxes, [0]),
    scores: b.reshape(score, [1, n]),
    landmarks: b.reshape(lmk, [1, n, 10]),
    n, classAware: false,
  };
}

/** The common tail: top-k per image, gathered boxes/classes/landmarks, named outputs. */
export function topK(b: Builder, c: Candidates, k: number): { name: string; dims: (number | string)[] }[] {
  // Rows per image unknown in the file (an exporter left the dim symbolic): K = min(k, rows) at run time.
  const K: number | string = c.n > 0 ? Math.min(k, c.n) : 'k';
  const kIn = c.n > 0 ? b.i64([K as number]) : b.op('Min', [b.i64([k]), b.slice(b.op('Shape', [c.scores]), 0, 1, 2)]);
  const [vals, idx] = b.node('TopK', [c.scores, kIn], { axis: 1, largest: 1, sorted: 1 }, 2, ['sluice_scores', b.fresh('topk_idx')]);
  const idx3 = b.unsqueeze(idx!, [2]);
  const gather = (x: string, out: string) => b.op('GatherND', [x, idx3], { batch_dims: 1 }, out);
  gather(c.boxes, 'sluice_boxes');
  const outs: { name: string; dims: (number | string)[] }[] = [
    { name: vals!, dims: ['batch', K] },
    { name: 'sluice_boxes', dims: ['batch', K, 4] },
  ];
  if (c.classes) {
    gather(b.cast(c.classes, DT.FLOAT), 'sluice_classes');
    outs.push({ name: 'sluice_classes', dims: ['batch', K] });
  }
  if (c.landmarks) {
    gather(c.landmarks, 'sluice_landmarks');
    outs.push({ name: 'sluice_landmarks', dims: ['batch', K, 10] });
  }
  return outs;
}

export const POST: Record<string, (b: Builder, p: PostInput) => Candidates> = {
  yolox: yoloxPost,
  yolo: yoloPost,
  nanodet: nanodetPost,
  ultraface: boxesScoresPost,
  yunet: yunetPost,
};
