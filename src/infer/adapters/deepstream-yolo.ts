// Models exported by DeepStream-Yolo (its utils/export_*.py end the network in a
// "DeepStreamOutput" layer), read as its parsers in libnvdsinfer_custom_impl_Yolo read them, so
// a DeepStream-Yolo config runs without that library:
//  - since late 2024 one output [B,N,6]: x1, y1, x2, y2, score, class in network-input pixels
//    (NvDsInferParseYolo, NvDsInferParseYoloCuda);
//  - before, three outputs boxes [B,N,4], scores [B,N,1], classes [B,N,1] (in that order), the
//    boxes cx, cy, w, h for NvDsInferParseYolo(Cuda) and x1, y1, x2, y2 for NvDsInferParseYoloE(Cuda).
// No NMS runs inside: threshold, then NMS here (nvinfer's cluster-mode=2).
import type { Adapter, Decoded } from './types.ts';
import { COCO80, imageInput, modelError, shapeStr } from './types.ts';
import type { ModelInfo, TensorMeta, TensorOut } from '../protocol.ts';
import { nms, type Det } from '../nms.ts';

export type DsLayout = { kind: 'one'; output: string } | { kind: 'three'; boxes: string; scores: string; classes: string };

/** Which of the two export layouts `outputs` (in session order) have, or why neither fits. */
export function dsYoloLayout(outputs: Pick<TensorMeta, 'name' | 'shape'>[]): DsLayout | string {
  const desc = outputs.map((o) => `${o.name} ${shapeStr(o.shape)}`).join(', ');
  if (outputs.length === 1) {
    const o = outputs[0]!;
    if (o.shape.length === 3 && o.shape[2] === 6) return { kind: 'one', output: o.name };
    return `expected one output [B,N,6] (x1,y1,x2,y2,score,class), the model has ${desc}`;
  }
  if (outputs.length === 3) {
    const by = (n: string) => outputs.find((o) => o.name === n);
    // Named as the export scripts name them, else in the order the parser takes them.
    const [b, s, c] = by('boxes') && by('scores') && by('classes') ? [by('boxes')!, by('scores')!, by('classes')!] : outputs as [TensorMeta, TensorMeta, TensorMeta];
    if (b.shape.at(-1) === 4 && s.shape.length >= 2 && c.shape.length >= 2) return { kind: 'three', boxes: b.name, scores: s.name, classes: c.name };
    return `expected outputs boxes [B,N,4], scores [B,N,1], classes [B,N,1], the model has ${desc}`;
  }
  return `expected one output [B,N,6] or three (boxes, scores, classes), the model has ${desc}`;
}

function make(name: string, corners: boolean): Adapter {
  return {
    name,
    task: 'detect',
    // The preprocessing of DeepStream-Yolo's configs for most models (YOLOv5/v8/11: RGB, 1/255,
    // centred letterbox); nvinfer pads with black. A config file sets its own.
    prep: { layout: 'nchw', order: 'rgb', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], letterbox: 'center', pad: 0 },
    threshold: 0.25,
    nmsIou: 0.45,
    labels: COCO80,
    numClasses: () => undefined,
    check(info: ModelInfo) {
      imageInput(info, name);
      const l = dsYoloLayout(info.outputs);
      if (typeof l === 'string') throw modelError(`${name} reads DeepStream-Yolo exports: ${l}`);
    },
    decode(out: Record<string, TensorOut>, b, p): Decoded {
      const l = dsYoloLayout(Object.entries(out).map(([n, t]) => ({ name: n, shape: t.dims })));
      if (typeof l === 'string') throw modelError(`${name}: ${l}`);
      const dets: Det[] = [];
      const push = (x1: number, y1: number, x2: number, y2: number, score: number, cls: number) => {
        // As the parser: boxes clamped to the network input, those under a pixel dropped.
        x1 = Math.max(0, x1); y1 = Math.max(0, y1); x2 = Math.min(p.inW, x2); y2 = Math.min(p.inH, y2);
        if (x2 - x1 < 1 || y2 - y1 < 1) return;
        dets.push({ class: cls, score, box: [x1, y1, x2, y2] });
      };
      if (l.kind === 'one') {
        const t = out[l.output]!, n = t.dims[1]!, d = t.data;
        for (let i = 0, o = b * n * 6; i < n; i++, o += 6) {
          const s = d[o + 4]!;
          if (s >= p.threshold) push(d[o]!, d[o + 1]!, d[o + 2]!, d[o + 3]!, s, Math.round(d[o + 5]!));
        }
      } else {
        const bx = out[l.boxes]!.data, sc = out[l.scores]!.data, cl = out[l.classes]!.data, n = out[l.scores]!.dims[1]!;
        for (let i = 0; i < n; i++) {
          const s = sc[b * n + i]!;
          if (s < p.threshold) continue;
          const o = (b * n + i) * 4;
          const [u, v, w, h] = [bx[o]!, bx[o + 1]!, bx[o + 2]!, bx[o + 3]!];
          if (corners) push(u, v, w, h, s, Math.round(cl[b * n + i]!));
          else push(u - w / 2, v - h / 2, u + w / 2, v + h / 2, s, Math.round(cl[b * n + i]!));
        }
      }
      return { objects: nms(dets, p.nmsIou, p.classAware) };
    },
  };
}

/** NvDsInferParseYolo / NvDsInferParseYoloCuda. */
export const deepstreamYolo = make('deepstream-yolo', false);
/** NvDsInferParseYoloE / NvDsInferParseYoloECuda (x1,y1,x2,y2 boxes in the three-output layout too). */
export const deepstreamYoloE = make('deepstream-yolo-e', true);
