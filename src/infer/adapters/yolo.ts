// YOLO-family detectors.
//  yolox: [1,N,5+C] raw anchor-free head, N = sum over strides 8/16/32 of (H/s)(W/s); rows are
//         [dx, dy, log w, log h, obj, cls...] decoded on the grid (also light_person_detector).
//  yolo:  v5 layout [1,N,5+C] with decoded [cx, cy, w, h, obj, cls...], or v8/v11 [1,4+C,N]
//         with [cx, cy, w, h, cls...] and no objectness.
import type { Adapter, DecodeParams, Decoded } from './types.ts';
import { COCO80, imageInput, modelError, shapeStr } from './types.ts';
import type { ModelInfo, TensorOut } from '../protocol.ts';
import { nms, type Det } from '../nms.ts';

const STRIDES = [8, 16, 32];

function gridCells(w: number, h: number): number {
  return STRIDES.reduce((n, s) => n + Math.floor(h / s) * Math.floor(w / s), 0);
}

function singleOutput(info: ModelInfo, name: string) {
  if (info.outputs.length !== 1) throw modelError(`${name} expects one output tensor, the model has ${info.outputs.length}: ${info.outputs.map((o) => o.name).join(', ')}`);
  const o = info.outputs[0]!;
  if (o.shape.length !== 3) throw modelError(`output tensor "${o.name}" has shape ${shapeStr(o.shape)}; ${name} expects [1,N,5+C] or [1,4+C,N]`);
  return o;
}

export type YoloLayout = 'yolox' | 'v5' | 'v8';

/** Which YOLO layout a model has, from its output shape (undefined if none fits). */
export function yoloLayout(info: ModelInfo): YoloLayout | undefined {
  if (info.outputs.length !== 1 || info.inputs.length !== 1) return undefined;
  const s = info.outputs[0]!.shape;
  if (s.length !== 3) return undefined;
  let inp;
  try { inp = imageInput(info, 'yolo'); } catch { return undefined; }
  const cells = gridCells(inp.width, inp.height);
  if (s[1] === cells && s[2]! >= 6) return 'yolox';
  if (s[1] === cells * 3 && s[2]! >= 6) return 'v5';
  if (s[2]! > s[1]! && s[1]! >= 5) return 'v8';
  return undefined;
}

function decodeRows(t: TensorOut, b: number, p: DecodeParams, layout: YoloLayout): Det[] {
  const d = t.data;
  const dets: Det[] = [];
  if (layout === 'v8') {
    const [, ch, n] = t.dims as [number, number, number];
    const nc = ch - 4;
    const base = b * ch * n;
    for (let i = 0; i < n; i++) {
      let best = 0, cls = 0;
      for (let c = 0; c < nc; c++) { const v = d[base + (4 + c) * n + i]!; if (v > best) { best = v; cls = c; } }
      if (best < p.threshold) continue;
      const cx = d[base + i]!, cy = d[base + n + i]!, w = d[base + 2 * n + i]!, h = d[base + 3 * n + i]!;
      dets.push({ class: cls, score: best, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
    }
    return dets;
  }
  const [, n, cols] = t.dims as [number, number, number];
  const nc = cols - 5;
  const base = b * n * cols;
  // Grid walk for yolox: strides in order, cells row-major.
  let stride = 8, gw = Math.floor(p.inW / 8), cellStart = 0, cellEnd = gw * Math.floor(p.inH / 8), si = 0;
  for (let i = 0; i < n; i++) {
    const r = base + i * cols;
    const obj = d[r + 4]!;
    if (layout === 'yolox') {
      while (i >= cellEnd) {
        si++;
        stride = STRIDES[si]!;
        gw = Math.floor(p.inW / stride);
        cellStart = cellEnd;
        cellEnd += gw * Math.floor(p.inH / stride);
      }
    }
    if (obj < p.threshold) continue;
    let best = 0, cls = 0;
    for (let c = 0; c < nc; c++) { const v = d[r + 5 + c]!; if (v > best) { best = v; cls = c; } }
    const score = obj * best;
    if (score < p.threshold) continue;
    let cx: number, cy: number, w: number, h: number;
    if (layout === 'yolox') {
      const cell = i - cellStart;
      const gx = cell % gw, gy = Math.floor(cell / gw);
      cx = (d[r]! + gx) * stride;
      cy = (d[r + 1]! + gy) * stride;
      w = Math.exp(d[r + 2]!) * stride;
      h = Math.exp(d[r + 3]!) * stride;
    } else {
      cx = d[r]!; cy = d[r + 1]!; w = d[r + 2]!; h = d[r + 3]!;
    }
    dets.push({ class: cls, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  return dets;
}

function make(name: 'yolox' | 'yolo'): Adapter {
  return {
    name,
    task: 'detect',
    // YOLOX: BGR 0-255, top-left letterbox filled with 114. Ultralytics YOLO: RGB 0-1, centred.
    prep: name === 'yolox'
      ? { layout: 'nchw', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], letterbox: 'top-left', pad: 114 }
      : { layout: 'nchw', order: 'rgb', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], letterbox: 'center', pad: 114 },
    threshold: 0.3,
    nmsIou: 0.45,
    labels: COCO80,
    numClasses(info) {
      const s = info.outputs[0]?.shape;
      if (!s || s.length !== 3) return undefined;
      const l = yoloLayout(info);
      return l === 'v8' ? s[1]! - 4 : s[2]! - 5;
    },
    check(info) {
      imageInput(info, name);
      const o = singleOutput(info, name);
      const l = yoloLayout(info);
      if (!l) throw modelError(`output tensor "${o.name}" has shape ${shapeStr(o.shape)}, which is not a YOLO head for this input size`);
      if (name === 'yolox' && l !== 'yolox') throw modelError(`output tensor "${o.name}" ${shapeStr(o.shape)} is a ${l} layout, not YOLOX's raw grid; use adapter=yolo`);
      if (name === 'yolo' && l === 'yolox') throw modelError(`output tensor "${o.name}" ${shapeStr(o.shape)} is YOLOX's raw grid layout; use adapter=yolox`);
    },
    decode(out, b, p): Decoded {
      const t = Object.values(out)[0]!;
      const layout: YoloLayout = name === 'yolox' ? 'yolox' : t.dims[2]! > t.dims[1]! ? 'v8' : 'v5';
      return { objects: nms(decodeRows(t, b, p, layout), p.nmsIou, p.classAware) };
    },
  };
}

export const yolox = make('yolox');
export const yolo = make('yolo');
