// ONNX graphs in TypeScript over onnx-proto (protobufjs code generated from the official
// onnx.proto): read a model, add nodes and constants, write it back. The compiler builds on it.
import pkg from 'onnx-proto';
import type { onnx as OnnxNs } from 'onnx-proto';
import { Err } from '../../core/errors.ts';

export const onnx = (pkg as unknown as { onnx: typeof OnnxNs }).onnx;
export type Model = OnnxNs.ModelProto;
export type Graph = OnnxNs.IGraphProto;
export type NodeP = OnnxNs.INodeProto;
export type TensorP = OnnxNs.ITensorProto;
export type ValueInfo = OnnxNs.IValueInfoProto;
export type Attr = OnnxNs.IAttributeProto;

export const DT = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, FLOAT16: 10 } as const;
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, INTS: 7 } as const;

type Long = { toNumber(): number };
export const num = (x: number | Long | null | undefined): number => (x == null ? 0 : typeof x === 'number' ? x : x.toNumber());

export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}
export function encodeModel(m: Model): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

/** The opset of the default (ai.onnx) domain. */
export function opsetOf(m: Model): number {
  const o = m.opsetImport.find((x) => !x.domain || x.domain === 'ai.onnx');
  return num(o?.version);
}

/** A copy of raw bytes at a fresh, aligned offset (protobufjs hands out views into the file). */
function rawCopy(r: Uint8Array): ArrayBuffer {
  const c = new Uint8Array(r.byteLength);
  c.set(r);
  return c.buffer;
}

/** A tensor's values as float32 (FLOAT, FLOAT16 or DOUBLE tensors). */
export function floatsOf(t: TensorP): Float32Array {
  if (t.dataType === DT.FLOAT) {
    if (t.rawData?.length) return new Float32Array(rawCopy(t.rawData));
    return Float32Array.from(t.floatData ?? []);
  }
  if (t.dataType === DT.FLOAT16) {
    const bits = t.rawData?.length ? new Uint16Array(rawCopy(t.rawData)) : Uint16Array.from(t.int32Data ?? []);
    return Float32Array.from(bits, halfToFloat);
  }
  throw new Err.MODEL(`tensor ${t.name} is not a float tensor (type ${t.dataType})`);
}

/** A tensor's values as numbers (INT64 / INT32 shape-like tensors). */
export function intsOf(t: TensorP): number[] {
  if (t.dataType === DT.INT64) {
    if (t.rawData?.length) return Array.from(new BigInt64Array(rawCopy(t.rawData)), Number);
    return (t.int64Data ?? []).map(num);
  }
  if (t.dataType === DT.INT32) {
    if (t.rawData?.length) return Array.from(new Int32Array(rawCopy(t.rawData)));
    return [...(t.int32Data ?? [])];
  }
  throw new Err.MODEL(`tensor ${t.name} is not an integer tensor (type ${t.dataType})`);
}

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>, half = false): TensorP {
  const f = Float32Array.from(data);
  if (half) {
    const h = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) h[i] = floatToHalf(f[i]!);
    return onnx.TensorProto.create({ name, dims, dataType: DT.FLOAT16, rawData: new Uint8Array(h.buffer) });
  }
  return onnx.TensorProto.create({ name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(f.buffer) });
}

export function int64Tensor(name: string, dims: number[], data: number[]): TensorP {
  return onnx.TensorProto.create({ name, dims, dataType: DT.INT64, rawData: new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer) });
}

export function tensorShape(v: ValueInfo): (number | string)[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : '?'));
}
export function tensorElemType(v: ValueInfo): number {
  return v.type?.tensorType?.elemType ?? 0;
}
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

export function attrOf(n: NodeP, name: string): Attr | undefined {
  return n.attribute?.find((a) => a.name === name);
}

export type AttrValue = number | number[] | string | TensorP;
function makeAttr(name: string, v: AttrValue): Attr {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  return { name, type: AT.TENSOR, t: v };
}

/**
 * Adds nodes and constants to a graph under unique "sluice/" names, writing each op in the
 * form of the model's opset (Unsqueeze/ReduceMax changed their signatures over time).
 */
export class Builder {
  readonly nodes: NodeP[] = [];
  readonly inits: TensorP[] = [];
  private n = 0;
  readonly opset: number;
  private prefix: string;
  /** `prefix` keeps the names of two builders on one graph apart. */
  constructor(opset: number, prefix = 'sluice') { this.opset = opset; this.prefix = prefix; }

  fresh(base: string): string { return `${this.prefix}/${base}_${this.n++}`; }

  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, names?: string[]): string[] {
    const outs = names ?? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase()));
    this.nodes.push(onnx.NodeProto.create({
      opType: op, name: this.fresh(op), input: inputs, output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
    }));
    return outs;
  }
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(op, inputs, attrs, 1, name ? [name] : undefined)[0]!;
  }
  f(data: ArrayLike<number>, dims: number[] = [data.length], half = false): string {
    const name = this.fresh('const');
    this.inits.push(floatTensor(name, dims, data, half));
    return name;
  }
  i64(data: number[], dims: number[] = [data.length]): string {
    const name = this.fresh('shape');
    this.inits.push(int64Tensor(name, dims, data));
    return name;
  }

  /** x[..., from:to] along `axis` (opset 10+ Slice takes inputs; 9 and older attributes). */
  slice(x: string, axis: number, from: number, to: number): string {
    if (this.opset < 10) return this.op('Slice', [x], { axes: [axis], starts: [from], ends: [to] });
    return this.op('Slice', [x, this.i64([from]), this.i64([to]), this.i64([axis])]);
  }
  unsqueeze(x: string, axes: number[]): string {
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.i64(axes)]) : this.op('Unsqueeze', [x], { axes });
  }
  reduceMax(x: string, axis: number, keepdims = 0): string {
    return this.opset >= 18 ? this.op('ReduceMax', [x, this.i64([axis])], { keepdims }) : this.op('ReduceMax', [x], { axes: [axis], keepdims });
  }
  reshape(x: string, shape: number[]): string { return this.op('Reshape', [x, this.i64(shape)]); }
  cast(x: string, to: number): string { return this.op('Cast', [x], { to }); }
}

// IEEE 754 half <-> single, with round-to-nearest-even; enough for weights and constants.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
