// A model adapter turns a model's raw output tensors into typed results, and says how the
// input must be prepared. Boxes come out in model-input pixels; the infer element maps them
// back to source-frame pixels.

/** A model's tensor as onnxruntime reports it; -1 for a dimension that is not fixed. */
export interface TensorMeta { name: string; type: string; shape: number[] }
export interface ModelInfo { inputs: TensorMeta[]; outputs: TensorMeta[] }
export interface TensorOut { data: Float32Array; dims: number[] }
import type { Det } from '../nms.ts';
import { SluiceError, Err } from '../../core/errors.ts';

export interface Prep {
  layout: 'nchw' | 'nhwc';
  order: 'rgb' | 'bgr';
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** none: stretch to the input size; center / top-left: keep aspect and pad; crop: fill and cut. */
  letterbox: 'none' | 'center' | 'top-left' | 'crop';
  /** Padding value (0-255) for letterboxing. */
  pad: number;
}

export interface Mask { width: number; height: number; data: Uint8Array; labels?: string[] }

export interface Decoded {
  objects?: Det[];
  classifications?: { class: number; score: number }[];
  mask?: Mask;
  embedding?: Float32Array;
}

export interface DecodeParams { inW: number; inH: number; threshold: number; nmsIou: number; classAware: boolean; topK: number; maskObjects?: boolean }

export interface Adapter {
  name: string;
  task: 'detect' | 'classify' | 'segment' | 'embed';
  prep: Prep;
  threshold: number;
  nmsIou: number;
  /** Default class names when no labels file is given. */
  labels?: readonly string[];
  /** Number of classes the model outputs, once known from its shapes. */
  numClasses(info: ModelInfo): number | undefined;
  /** Throws SLUICE_ERR_MODEL naming the tensor when the model does not fit. */
  check(info: ModelInfo): void;
  /** Decode batch item `b`. */
  decode(out: Record<string, TensorOut>, b: number, p: DecodeParams): Decoded;
}

export function modelError(msg: string): SluiceError {
  return new Err.MODEL(msg);
}

export function shapeStr(s: number[]): string {
  return `[${s.map((d) => (d < 0 ? '?' : d)).join(',')}]`;
}

/** The single image input of a model: its name, layout and spatial size. */
export function imageInput(info: ModelInfo, adapter: string): { name: string; layout: 'nchw' | 'nhwc'; width: number; height: number; batch: number } {
  if (info.inputs.length !== 1) throw modelError(`${adapter} expects one image input, the model has ${info.inputs.length}: ${info.inputs.map((i) => i.name).join(', ')}`);
  const t = info.inputs[0]!;
  if (t.type !== 'float32') throw modelError(`input tensor "${t.name}" is ${t.type}; ${adapter} needs float32`);
  const s = t.shape;
  if (s.length !== 4) throw modelError(`input tensor "${t.name}" has shape ${shapeStr(s)}; an image input must be 4-D (NCHW or NHWC)`);
  if (s[1] === 3 && s[2]! > 3 && s[3]! > 3) return { name: t.name, layout: 'nchw', height: s[2]!, width: s[3]!, batch: s[0]! };
  if (s[3] === 3 && s[1]! > 3) return { name: t.name, layout: 'nhwc', height: s[1]!, width: s[2]!, batch: s[0]! };
  throw modelError(`input tensor "${t.name}" has shape ${shapeStr(s)}: expected 3 colour channels as [N,3,H,W] or [N,H,W,3]`);
}

export function softmaxInPlace(a: Float32Array | number[], start: number, n: number): void {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, a[start + i]!);
  let s = 0;
  for (let i = 0; i < n; i++) { const e = Math.exp(a[start + i]! - m); a[start + i] = e; s += e; }
  for (let i = 0; i < n; i++) a[start + i] = a[start + i]! / s;
}

export const COCO80 = ['person', 'bicycle', 'car', 'motorbike', 'aeroplane', 'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'sofa', 'pottedplant', 'bed', 'diningtable', 'toilet', 'tvmonitor', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush'] as const;

export const VOC21 = ['__background__', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'] as const;
