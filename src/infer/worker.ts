// Inference worker: owns one onnxruntime session. ORT's run() is synchronous in Node and
// would block the event loop for the whole inference, so it lives here. Input pixels arrive
// in a SharedArrayBuffer slot (no copy across threads); outputs go back as transferred buffers.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { WorkerInit, WorkerRequest, WorkerResponse, TensorOut, ModelInfo } from './protocol.ts';
import { toTensor } from './tensor.ts';
import { adapters } from './adapters/index.ts';
import type { Decoded } from './adapters/types.ts';
import { decodeCandidates } from './adapters/candidates.ts';
import { copyBytes, fillBytes } from '../core/bytes.ts';

const init = workerData as WorkerInit;
let session: ort.InferenceSession;

async function open(warm: number[]): Promise<ModelInfo> {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: init.ep === 'cpu' ? ['cpu'] : init.ep === 'cuda' ? [{ name: 'cuda', deviceId: init.gpuId }] : [init.ep],
    logSeverityLevel: 3,
    graphOptimizationLevel: 'all',
    // Spinning intra-op threads steal the cores that decode and pre-processing need while the
    // pipeline runs them side by side; block instead.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  if (init.intraOpThreads > 0) opts.intraOpNumThreads = init.intraOpThreads;
  session = await ort.InferenceSession.create(init.model, opts);
  const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
    list.map((m) => ({ name: m.name, type: m.isTensor ? String(m.type) : 'non-tensor', shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' ? d : -1)) : [] }));
  const info = { inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) };
  for (const n of warm.length ? warm : [1]) await warmUp(info, n);
  return info;
}

/**
 * One inference on zeros before the pipeline plays: CUDA's first run picks convolution
 * algorithms and allocates its arena (seconds), which would otherwise stall the first frames.
 */
async function warmUp(info: ModelInfo, batch: number): Promise<void> {
  const type = info.inputs[0]?.type;
  if (info.inputs.length !== 1 || (type !== 'float32' && type !== 'uint8')) return;
  const dims = info.inputs[0]!.shape.map((d, i) => (d > 0 ? d : i === 0 ? batch : 1));
  const size = dims.reduce((a, b) => a * b, 1);
  const t = type === 'uint8' ? new ort.Tensor('uint8', new Uint8Array(size), dims) : new ort.Tensor('float32', new Float32Array(size), dims);
  try {
    const out = await session.run({ [info.inputs[0]!.name]: t });
    for (const v of Object.values(out)) v.dispose();
  } catch {
    // A model that cannot run on zeros reports its real error on the first frame.
    return;
  }
  if (type === 'uint8' && sharedInput === null) {
    // Node 20's N-API cannot hand onnxruntime a view of a SharedArrayBuffer ("Invalid
    // argument"); newer Nodes can. Found out once here: without it, staged pixels are copied.
    try {
      const out = await session.run({ [info.inputs[0]!.name]: new ort.Tensor('uint8', new Uint8Array(new SharedArrayBuffer(size)), dims) });
      for (const v of Object.values(out)) v.dispose();
      sharedInput = true;
    } catch {
      sharedInput = false;
    }
  }
}

/** Whether a tensor may be a view of the shared staging memory (null: not found out yet). */
let sharedInput: boolean | null = null;

async function run(req: Extract<WorkerRequest, { type: 'run' }>): Promise<{ res: WorkerResponse; transfer: ArrayBuffer[] }> {
  const t0 = performance.now();
  // Rows past n are stale pixels of an earlier call: they pad the batch to a warmed-up size and are not decoded.
  const rows = Math.max(req.n, req.runAs ?? 0);
  const px = new Uint8Array(req.pixels, req.offset, rows * 3 * req.prep.width * req.prep.height);
  for (const c of req.copies ?? []) {
    fillBytes(px, c.pad, c.start, c.dst);
    copyBytes(px, c.dst, new Uint8Array(c.src, c.srcOffset, c.bytes));
    fillBytes(px, c.pad, c.dst + c.bytes, c.end);
  }
  const dims = req.prep.layout === 'nchw' ? [rows, 3, req.prep.height, req.prep.width] : [rows, req.prep.height, req.prep.width, 3];
  // A compiled model reads the shared staging pixels directly: no float tensor on the host.
  const input = req.prep.uint8 ? new ort.Tensor('uint8', sharedInput === false ? px.slice() : px, dims) : new ort.Tensor('float32', toTensor(px, rows, req.prep), dims);
  const t1 = performance.now();
  const feeds: Record<string, ort.Tensor> = { [req.inputName]: input };
  const result = await session.run(feeds);
  const t2 = performance.now();
  const transfer: ArrayBuffer[] = [];
  if (req.decode) {
    // Decode here, off the main thread; raw outputs (1.2 MB for YOLOX) never cross threads.
    const raw: Record<string, TensorOut> = {};
    for (const [name, t] of Object.entries(result)) raw[name] = { data: t.data as Float32Array, dims: [...t.dims] };
    const adapter = adapters[req.decode.adapter]!;
    const cand = req.decode.candidates;
    const decoded: Decoded[] = [];
    for (let b = 0; b < req.n; b++) {
      const d = cand ? decodeCandidates(raw, b, req.decode.params, cand.classAware) : adapter.decode(raw, b, req.decode.params);
      if (d.mask) transfer.push(d.mask.data.buffer as ArrayBuffer);
      if (d.embedding) transfer.push(d.embedding.buffer as ArrayBuffer);
      decoded.push(d);
    }
    for (const t of Object.values(result)) t.dispose();
    return { res: { type: 'result', id: req.id, outputs: null, decoded, timing: { prep: t1 - t0, run: t2 - t1, decode: performance.now() - t2 } }, transfer };
  }
  const outputs: Record<string, TensorOut> = {};
  for (const [name, t] of Object.entries(result)) {
    // Copy out of ORT's buffer so it can be transferred.
    const copy = new Float32Array(t.data as Float32Array);
    outputs[name] = { data: copy, dims: [...t.dims] };
    transfer.push(copy.buffer);
    t.dispose();
  }
  return { res: { type: 'result', id: req.id, outputs, decoded: null, timing: { prep: t1 - t0, run: t2 - t1, decode: performance.now() - t2 } }, transfer };
}

// One request at a time: ORT's run() is async and the staging tensor is reused, so a second
// request must not start converting while the first is still being read by the session.
let chain: Promise<void> = Promise.resolve();
parentPort!.on('message', (msg: WorkerRequest) => {
  chain = chain.then(() => handle(msg));
});

async function handle(msg: WorkerRequest): Promise<void> {
  try {
    if (msg.type === 'open') {
      const info = await open(msg.warm);
      parentPort!.postMessage({ type: 'opened', id: msg.id, info } satisfies WorkerResponse);
    } else if (msg.type === 'run') {
      const { res, transfer } = await run(msg);
      parentPort!.postMessage(res, transfer);
    } else if (msg.type === 'close') {
      await session?.release();
      parentPort!.postMessage({ type: 'closed', id: msg.id } satisfies WorkerResponse);
    }
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    parentPort!.postMessage({ type: 'error', id: msg.id, message: (e as Error)?.message ?? String(e), ...(typeof code === 'string' && code.startsWith('SLUICE_ERR_') ? { code } : {}) } satisfies WorkerResponse);
  }
}
