// Small models built in code (the demo's colour segmenter, test models), serialised through
// onnx-proto like everything else the compiler writes.
import { DT, encodeModel, floatTensor, onnx, valueInfo } from './compile/onnx.ts';

export interface Tensor { name: string; dims: number[]; data: Float32Array }
export interface Node { op: string; inputs: string[]; outputs: string[]; name?: string; attrs?: Record<string, number | number[]> }
export interface IO { name: string; dims: (number | string)[] }

/** Serialise a single-graph float32 model (opset 13). */
export function onnxModel(g: { name: string; nodes: Node[]; initializers: Tensor[]; inputs: IO[]; outputs: IO[]; opset?: number }): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: g.name,
    node: g.nodes.map((n, i) => onnx.NodeProto.create({
      opType: n.op, name: n.name ?? `${n.op}_${i}`, input: n.inputs, output: n.outputs,
      attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => (Array.isArray(v) ? { name: k, type: 7, ints: v } : Number.isInteger(v) ? { name: k, type: 2, i: v } : { name: k, type: 1, f: v })),
    })),
    initializer: g.initializers.map((t) => floatTensor(t.name, t.dims, t.data)),
    input: g.inputs.map((i) => valueInfo(i.name, DT.FLOAT, i.dims)),
    output: g.outputs.map((o) => valueInfo(o.name, DT.FLOAT, o.dims)),
  });
  return encodeModel(onnx.ModelProto.create({ irVersion: 8, producerName: 'sluice', graph, opsetImport: [{ domain: '', version: g.opset ?? 13 }] }));
}
