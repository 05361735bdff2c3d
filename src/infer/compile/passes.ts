// Graph rewrites the compiler applies to a model's own nodes: lift old opsets to 12 (so the
// added post-processing can use GatherND with batch_dims), free the batch dimension, and turn
// the body into fp16.
import { Builder, DT, attrOf, floatTensor, floatsOf, int64Tensor, intsOf, num } from './onnx.ts';
import type { Graph, NodeP, TensorP } from './onnx.ts';

/** A rewrite that cannot be done; the message names the node. */
export class PassError extends Error {}

export const TARGET_OPSET = 12;

// Ops whose meaning does not change between opset 9 and 12 (checked against the ONNX changelog).
const STABLE = new Set(['Conv', 'ConvTranspose', 'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Softplus',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Concat', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Exp', 'Log', 'Sqrt', 'Neg', 'Abs',
  'Floor', 'Ceil', 'Reciprocal', 'Erf', 'Transpose', 'Reshape', 'Flatten', 'Gemm', 'MatMul', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze',
  'Constant', 'Identity', 'Cast', 'Softmax', 'LogSoftmax', 'InstanceNormalization', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSum',
  'ArgMax', 'ArgMin', 'Split', 'Tile', 'Expand', 'Equal', 'Greater', 'Less', 'Not', 'And', 'Or', 'Where', 'Min', 'Max', 'Sum', 'Mean',
  'ConstantOfShape', 'LRN', 'DepthToSpace', 'SpaceToDepth', 'Sin', 'Cos', 'NonZero', 'Range', 'Size', 'QuantizeLinear', 'DequantizeLinear',
  'QLinearConv', 'QLinearMatMul', 'MatMulInteger', 'ConvInteger']);

/** Rewrite the few ops whose inputs/attributes changed before opset 12; refuse the rest by name. */
export function upgradeOpset(g: Graph, from: number): void {
  if (from >= TARGET_OPSET) return;
  const b = new Builder(TARGET_OPSET, 'sluice/upgrade');
  const nodes: NodeP[] = [];
  const drop = (n: NodeP, names: string[]) => { n.attribute = (n.attribute ?? []).filter((a) => !names.includes(a.name ?? '')); };
  for (const n of g.node ?? []) {
    const op = n.opType ?? '';
    const label = `node ${n.name || n.output?.[0]} (${op})`;
    if (n.domain && n.domain !== 'ai.onnx') throw new PassError(`${label} is in domain ${n.domain}`);
    if (op === 'Slice' && from < 10) {
      const ints = (k: string) => (attrOf(n, k)?.ints ?? []).map(num);
      const starts = ints('starts'), ends = ints('ends'), axes = attrOf(n, 'axes') ? ints('axes') : starts.map((_, i) => i);
      n.input = [n.input![0]!, b.i64(starts), b.i64(ends.map((e) => Math.min(e, 2 ** 53))), b.i64(axes)];
      drop(n, ['starts', 'ends', 'axes']);
    } else if (op === 'Clip' && from < 11) {
      const lo = attrOf(n, 'min')?.f ?? -3.4028234663852886e38, hi = attrOf(n, 'max')?.f ?? 3.4028234663852886e38;
      n.input = [n.input![0]!, b.f([lo], []), b.f([hi], [])];
      drop(n, ['min', 'max']);
    } else if (op === 'Pad' && from < 11) {
      const pads = (attrOf(n, 'pads')?.ints ?? []).map(num), value = attrOf(n, 'value')?.f ?? 0;
      n.input = [n.input![0]!, b.i64(pads), b.f([value], [])];
      drop(n, ['pads', 'value']);
    } else if (op === 'TopK' && from < 10) {
      n.input = [n.input![0]!, b.i64([num(attrOf(n, 'k')?.i)])];
      drop(n, ['k']);
    } else if (op === 'Upsample' || (op === 'Resize' && from < 11)) {
      // Upsample/Resize-10 scale with asymmetric coordinates and floor rounding.
      const scales = n.input?.[1] ?? b.f((attrOf(n, 'scales')?.floats ?? []) as number[]);
      const mode = attrOf(n, 'mode')?.s ? new TextDecoder().decode(attrOf(n, 'mode')!.s!) : 'nearest';
      n.opType = 'Resize';
      // Resize-11/12 require the roi input (an empty tensor when unused).
      n.input = [n.input![0]!, b.f([], [0]), scales];
      n.attribute = [
        { name: 'mode', type: 3, s: new TextEncoder().encode(mode) },
        { name: 'coordinate_transformation_mode', type: 3, s: new TextEncoder().encode('asymmetric') },
        { name: 'nearest_mode', type: 3, s: new TextEncoder().encode('floor') },
      ];
    } else if (op === 'Dropout') {
      if ((n.output?.length ?? 0) > 1 && n.output![1]) throw new PassError(`${label} uses its mask output`);
      n.opType = 'Identity';
      n.attribute = [];
      n.input = [n.input![0]!];
    } else if (op === 'BatchNormalization') {
      if (from < 7) throw new PassError(`${label} is from opset ${from}`);
      drop(n, ['spatial', 'is_test', 'consumed_inputs']);
    } else if (!STABLE.has(op) && !(op === 'Resize' || op === 'Slice' || op === 'Clip' || op === 'Pad' || op === 'TopK')) {
      throw new PassError(`${label} is not known to keep its meaning from opset ${from} to ${TARGET_OPSET}`);
    }
    nodes.push(n);
  }
  g.node = nodes;
  g.initializer = [...(g.initializer ?? []), ...b.inits];
}

/** Constant values a node input takes, from an initializer or a Constant node. */
function constants(g: Graph): Map<string, TensorP> {
  const m = new Map<string, TensorP>();
  for (const t of g.initializer ?? []) m.set(t.name!, t);
  for (const n of g.node ?? []) if (n.opType === 'Constant') { const t = attrOf(n, 'value')?.t; if (t) m.set(n.output![0]!, t); }
  return m;
}

/**
 * Free the batch dimension: Reshape targets that bake in batch 1 get 0 ("copy from input") in
 * that place. Returns the names of the nodes rewritten (for the warning when it does not hold).
 */
export function freeBatch(g: Graph): string[] {
  const consts = constants(g);
  const changed: string[] = [];
  for (const n of g.node ?? []) {
    if (n.opType !== 'Reshape') continue;
    const t = consts.get(n.input?.[1] ?? '');
    if (!t) continue;
    const shape = intsOf(t);
    if (shape.length < 2 || shape[0] !== 1) continue;
    const name = `sluice/batch_${changed.length}`;
    g.initializer!.push(int64Tensor(name, [shape.length], [0, ...shape.slice(1)]));
    n.input![1] = name;
    changed.push(n.name || n.output![0]!);
  }
  return changed;
}

// Inputs that stay float32 whatever the body's precision (ONNX types them tensor(float)).
const FLOAT_ONLY: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };

/**
 * Half precision for the body: float weights and constants become fp16, Casts to float cast to
 * fp16; inputs ONNX types as float32 only (Resize scales) keep theirs. The caller casts the body
 * input to fp16 and its outputs back to float32, so the post-processing (exp, grid maths) stays
 * in float32 where fp16 loses accuracy.
 */
export function toHalf(g: Graph): void {
  const keep = new Set<string>();
  for (const n of g.node ?? []) for (const i of FLOAT_ONLY[n.opType ?? ''] ?? []) if (n.input?.[i]) keep.add(n.input[i]!);
  const half = (t: TensorP): TensorP => floatTensor(t.name!, (t.dims ?? []).map(num), floatsOf(t), true);
  g.initializer = (g.initializer ?? []).map((t) => (t.dataType === DT.FLOAT && !keep.has(t.name!) ? half(t) : t));
  for (const n of g.node ?? []) {
    if (n.opType === 'Constant') {
      const a = attrOf(n, 'value');
      if (a?.t && a.t.dataType === DT.FLOAT && !keep.has(n.output![0]!)) a.t = half(a.t);
    } else if (n.opType === 'Cast') {
      const a = attrOf(n, 'to');
      if (a && num(a.i) === DT.FLOAT) a.i = DT.FLOAT16;
    } else if (n.opType === 'ConstantOfShape') {
      const a = attrOf(n, 'value');
      if (a?.t && a.t.dataType === DT.FLOAT) a.t = half(a.t);
    }
  }
}

export function removeInitializerInputs(g: Graph): void {
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  g.input = (g.input ?? []).filter((i) => !inits.has(i.name));
}

