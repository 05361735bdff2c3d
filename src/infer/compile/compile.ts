// Model compilation (what DeepStream gets from TensorRT plus its batched GPU post-processing):
// the input becomes uint8 NHWC as the pre-processor writes it (cast, channel order and
// mean/std in the graph), the batch dimension becomes dynamic, detectors end in box decode and
// per-image top-k, and the body may run in fp16. The result says what was done and why not.
import * as ort from 'onnxruntime-node';
import { Builder, DT, decodeModel, encodeModel, onnx, opsetOf, tensorElemType, tensorShape, valueInfo } from './onnx.ts';
import type { Model, ValueInfo } from './onnx.ts';
import { TARGET_OPSET, freeBatch, removeInitializerInputs, toHalf, upgradeOpset } from './passes.ts';
import { POST, PostError, topK } from './post.ts';
import type { ModelInfo, Normalisation } from '../protocol.ts';
import { adapters, detectAdapter } from '../adapters/index.ts';
import { imageInput } from '../adapters/types.ts';

/** Bump when the compiled graph changes, so cached models are rebuilt. */
export const COMPILER_VERSION = 2;
export const COMPILED_INPUT = 'sluice_input';
const META_KEY = 'sluice.compiled';

/** The normalisation (order, scale, mean, std) is folded into the graph. */
export interface CompileOptions extends Normalisation {
  /** Adapter name, or auto (detected from the outputs). */
  adapter: string;
  precision: 'fp32' | 'fp16';
  /** Candidates per image kept by the in-graph top-k. */
  topK: number;
  /** Check that batch N gives the rows of N runs of batch 1 (onnxruntime on the CPU). */
  verify?: boolean;
}

export interface CompiledInfo {
  version: number;
  adapter: string;
  precision: 'fp32' | 'fp16';
  /** 'dynamic', or the fixed batch the compiled model keeps. */
  batch: 'dynamic' | number;
  width: number;
  height: number;
  order: 'rgb' | 'bgr';
  /**
   * What the graph does to the uint8 pixels before the body (value = (x * scale - mean) / std),
   * and the source model's own input (name, layout): a compiled file says what it is, so infer
   * runs it as compiled without being told. Absent in files of compiler version 1.
   */
  scale?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  input?: { name: string; layout: 'nchw' | 'nhwc' };
  /** Classes the source model outputs, when its shapes say (checked against a labels file). */
  classes?: number;
  /** Outputs are sluice_boxes/scores[/classes/landmarks] candidates (false: the model's own outputs). */
  post: boolean;
  topK: number;
  /** Whether class-aware NMS applies (false for one-class heads). */
  classAware: boolean;
  /** Why batch or post-processing was not made dynamic/fused, when it was not. */
  notes: string[];
}

export interface CompileResult { bytes: Uint8Array; info: CompiledInfo; warnings: string[] }

const typeName = (t: number) => (t === DT.FLOAT ? 'float32' : t === DT.UINT8 ? 'uint8' : t === DT.FLOAT16 ? 'float16' : t === DT.INT64 ? 'int64' : `type${t}`);

/** Inputs/outputs of a model as onnxruntime would report them (initializer inputs excluded). */
export function modelInfoOf(m: Model): ModelInfo {
  const g = m.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const meta = (v: ValueInfo) => ({ name: v.name!, type: typeName(tensorElemType(v)), shape: tensorShape(v).map((d) => (typeof d === 'number' ? d : -1)) });
  return { inputs: (g.input ?? []).filter((i) => !inits.has(i.name)).map(meta), outputs: (g.output ?? []).map(meta) };
}

/** The compile record a compiled model carries, or null for any other model. */
export function compiledInfoOf(m: Model): CompiledInfo | null {
  const e = m.metadataProps?.find((p) => p.key === META_KEY);
  return e?.value ? (JSON.parse(e.value) as CompiledInfo) : null;
}

interface Built { model: Model; info: CompiledInfo }

/** One build; `dynamic` and `post` choose what to attempt. Throws PassError/PostError naming the part that failed. */
function build(bytes: Uint8Array, o: CompileOptions, dynamic: boolean, post: boolean): Built {
  const m = decodeModel(bytes);
  const g = m.graph!;
  const info = modelInfoOf(m);
  const adapter = o.adapter === 'auto' ? detectAdapter(info) : adapters[o.adapter]!;
  adapter.check(info);
  const inp = imageInput(info, adapter.name);
  const opset = opsetOf(m);
  const notes: string[] = [];
  removeInitializerInputs(g);
  upgradeOpset(g, opset);
  const useOpset = Math.max(opset, TARGET_OPSET);
  m.opsetImport = [...m.opsetImport.filter((x) => x.domain && x.domain !== 'ai.onnx'), onnx.OperatorSetIdProto.create({ domain: '', version: useOpset })];
  if (Number(m.irVersion) < 7) m.irVersion = 7;
  // Shapes of intermediate values are inferred again by the runtime; stale ones (batch 1, float32) would mislead it.
  g.valueInfo = [];

  const outShapes = new Map(info.outputs.map((x) => [x.name, x.shape]));
  // Outputs without a leading batch dimension (YuNet's [N,14]) pin the batch at 1.
  // An unnamed unknown first dimension counts as "no batch" too; a named one ("batch_size") is the batch.
  const unbatched = (g.output ?? []).filter((v) => { const s = tensorShape(v); return s.length < 2 || (s[0] !== 1 && (typeof s[0] !== 'string' || s[0] === '?')); }).map((v) => ({ name: v.name! }));
  let batch: 'dynamic' | number = inp.batch > 0 ? inp.batch : 'dynamic';
  if (dynamic && inp.batch === 1) {
    if (unbatched.length) {
      notes.push(`batch stays 1: output "${unbatched[0]!.name}" has no batch dimension`);
    } else {
      const rewritten = freeBatch(g);
      batch = 'dynamic';
      if (rewritten.length) notes.push(`batch freed in ${rewritten.join(', ')}`);
    }
  }
  const B: number | string = batch === 'dynamic' ? 'batch' : batch;

  const b = new Builder(useOpset);
  // Pre-processing in the graph: uint8 [B,H,W,3] in the model's channel order -> float, normalised, in its layout.
  const a = [0, 1, 2].map((c) => o.scale / o.std[c]!), c0 = [0, 1, 2].map((c) => -o.mean[c]! / o.std[c]!);
  let x = COMPILED_INPUT;
  const nchw = inp.layout === 'nchw';
  if (nchw) x = b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  x = b.cast(x, DT.FLOAT);
  const cshape = nchw ? [1, 3, 1, 1] : [1, 1, 1, 3];
  if (a.some((v) => v !== 1)) x = b.op('Mul', [x, b.f(a, cshape)]);
  const half = o.precision === 'fp16';
  const bodyIn = inp.name;
  if (c0.some((v) => v !== 0)) x = b.op('Add', [x, b.f(c0, cshape)]);
  b.op(half ? 'Cast' : 'Identity', [x], half ? { to: DT.FLOAT16 } : {}, bodyIn);
  const pre = b.nodes.splice(0);
  const preInits = b.inits.splice(0);

  if (half) toHalf(g);
  // The body's outputs, back in float32 for the post-processing.
  const body = new Map<string, string>();
  for (const out of info.outputs) {
    if (!half) { body.set(out.name, out.name); continue; }
    const renamed = `sluice/body/${out.name}`;
    for (const n of g.node!) n.output = n.output!.map((v) => (v === out.name ? renamed : v));
    for (const n of g.node!) n.input = n.input!.map((v) => (v === out.name ? renamed : v));
    b.op('Cast', [renamed], { to: DT.FLOAT }, out.name);
    body.set(out.name, out.name);
  }

  let outputs: { name: string; dims: (number | string)[] }[];
  let classAware = true;
  const postFn = POST[adapter.name];
  if (post && postFn) {
    const cand = postFn(b, { outputs: outShapes, width: inp.width, height: inp.height });
    classAware = cand.classAware;
    outputs = topK(b, cand, o.topK);
    outputs = outputs.map((v) => ({ ...v, dims: [B, ...v.dims.slice(1)] }));
  } else {
    if (post && !postFn) notes.push(`${adapter.name} outputs come back as they are (no in-graph post-processing for it)`);
    post = false;
    outputs = info.outputs.map((v) => ({ name: v.name, dims: v.shape.map((d, i) => (i === 0 && batch === 'dynamic' && !unbatched.length ? 'batch' : d < 0 ? `d${i}` : d)) }));
  }

  g.node = [...pre, ...g.node!, ...b.nodes];
  g.initializer = [...preInits, ...g.initializer!, ...b.inits];
  g.input = [valueInfo(COMPILED_INPUT, DT.UINT8, [B, inp.height, inp.width, 3])];
  g.output = outputs.map((v) => valueInfo(v.name, DT.FLOAT, v.dims));
  const ci: CompiledInfo = {
    version: COMPILER_VERSION, adapter: adapter.name, precision: o.precision, batch, width: inp.width, height: inp.height, order: o.order,
    scale: o.scale, mean: [...o.mean], std: [...o.std], input: { name: inp.name, layout: inp.layout }, classes: adapter.numClasses(info),
    post, topK: o.topK, classAware, notes,
  };
  m.metadataProps = [...(m.metadataProps ?? []).filter((p) => p.key !== META_KEY), onnx.StringStringEntryProto.create({ key: META_KEY, value: JSON.stringify(ci) })];
  m.producerName = `${m.producerName || 'unknown'}+sluice`;
  return { model: m, info: ci };
}

/** Deterministic noise images (distinct per image, so scores do not tie). */
function noise(n: number, w: number, h: number): Uint8Array {
  const px = new Uint8Array(n * w * h * 3);
  let s = 12345;
  for (let i = 0; i < px.length; i++) { s = (s * 1103515245 + 12345) >>> 0; px[i] = (s >>> 16) & 0xff; }
  return px;
}

/** Run batch 2 and two runs of batch 1 on the CPU; null when the rows agree, else what differs. */
async function batchMismatch(bytes: Uint8Array, w: number, h: number): Promise<string | null> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    const px = noise(2, w, h);
    const run = async (data: Uint8Array, n: number) => {
      const r = await s.run({ [COMPILED_INPUT]: new ort.Tensor('uint8', data, [n, h, w, 3]) });
      const o: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
      for (const [k, v] of Object.entries(r)) o[k] = { data: v.data as Float32Array, dims: v.dims };
      return o;
    };
    const both = await run(px, 2);
    const img = w * h * 3;
    for (let i = 0; i < 2; i++) {
      const one = await run(px.subarray(i * img, (i + 1) * img), 1);
      for (const [k, v] of Object.entries(one)) {
        const row = v.data.length;
        const got = both[k]!.data.subarray(i * row, (i + 1) * row);
        if (both[k]!.dims[0] !== 2) return `output "${k}" has ${both[k]!.dims[0]} rows for a batch of 2`;
        let worst = 0;
        for (let j = 0; j < row; j++) worst = Math.max(worst, Math.abs(got[j]! - v.data[j]!) / (1 + Math.abs(v.data[j]!)));
        if (worst > 1e-3) return `output "${k}" row ${i} differs from batch 1 by ${worst.toExponential(2)}`;
      }
    }
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  } finally {
    await s.release();
  }
}

/**
 * Compile a model. What cannot be done is given up piece by piece, each with a warning that
 * names the node: dynamic batch first, then the in-graph post-processing; a model that cannot
 * even take uint8 input throws (the caller runs it as it is).
 */
export async function compileModel(bytes: Uint8Array, o: CompileOptions): Promise<CompileResult> {
  const warnings: string[] = [];
  if (o.precision === 'fp16') {
    const q = decodeModel(bytes).graph?.node?.find((n) => /Quantize|QLinear|Integer/.test(n.opType ?? ''));
    if (q) {
      // Its int8 arithmetic is already cheaper than fp16, and its quantise nodes take float32 only.
      warnings.push(`precision=fp16 does not apply to a quantised model (node ${q.name || q.output?.[0]} is ${q.opType}); compiled in fp32`);
      o = { ...o, precision: 'fp32' };
    }
  }
  let built: Built;
  try {
    built = build(bytes, o, true, true);
  } catch (e) {
    if (!(e instanceof PostError)) throw e;
    warnings.push(`post-processing stays in the worker: ${e.message}`);
    built = build(bytes, o, true, false);
  }
  if (built.info.batch === 'dynamic' && o.verify !== false) {
    // Check in fp32 (the CPU has no fp16 kernels for most ops); the same rewrites hold in fp16.
    const check = o.precision === 'fp16' ? build(bytes, { ...o, precision: 'fp32' }, true, built.info.post) : built;
    const bad = await batchMismatch(encodeModel(check.model), built.info.width, built.info.height);
    if (bad) {
      warnings.push(`batch stays 1: with a dynamic batch ${bad}${built.info.notes.length ? ` (${built.info.notes.join('; ')})` : ''}`);
      built = build(bytes, o, false, built.info.post);
      built.info.notes.push('dynamic batch failed its check');
    }
  }
  for (const n of built.info.notes) if (n.startsWith('batch stays')) warnings.push(n);
  return { bytes: encodeModel(built.model), info: built.info, warnings };
}

