// How infer runs, decided from the model's facts and the machine's, with no I/O: the execution
// provider, whether to compile and in what precision, how many sessions with how many threads,
// frames per call and the shape every call is padded to. infer's start() gathers the facts
// (files, backends, cores) and carries out the plan; these functions are tested on their own.
import { Err } from '../core/errors.ts';
import type { Backends } from './backends.ts';
import type { Ep } from './protocol.ts';

export type AskedEp = Ep | 'auto';

/**
 * The provider to start with. ep=auto takes cuda where it is usable, else the cpu: with a
 * warning saying why where there is an NVIDIA driver, as a plain note on a machine without one.
 */
export function chooseProvider(asked: AskedEp, backends: Backends, nvidiaDriver: boolean, name: string): { ep: Ep; warning?: string; note?: string } {
  if (asked === 'auto' && !backends.cuda.usable) {
    return nvidiaDriver
      ? { ep: 'cpu', warning: `ep=auto: running on cpu because cuda is not usable: ${backends.cuda.why}` }
      : { ep: 'cpu', note: 'ep=auto: no NVIDIA GPU here, running on cpu' };
  }
  const ep: Ep = asked === 'auto' ? 'cuda' : asked;
  if (ep !== 'cpu' && !backends[ep].usable) throw new Err.EP(`${name}: execution provider ${ep} is not available here: ${backends[ep].why}`);
  return { ep };
}

/** Whether to compile the model and in which precision (a compiled file runs as it is). */
export function compilePlan(o: { compile: 'auto' | 'off'; precision: 'fp32' | 'fp16' }, precompiled: boolean, ep: Ep): { compile: boolean; precision: 'fp32' | 'fp16'; why?: string; warning?: string } {
  if (precompiled) return { compile: false, precision: o.precision };
  if (o.compile !== 'auto') return { compile: false, precision: o.precision, why: 'compile=off' };
  if (o.precision === 'fp16' && ep === 'cpu') {
    return { compile: true, precision: 'fp32', warning: 'precision=fp16: the cpu provider has no fp16 kernels for most ops (it would cast every node back); compiling fp32' };
  }
  return { compile: true, precision: o.precision };
}

/**
 * Sessions (worker threads). Two keep a CPU busy while the other waits on pre-/post-processing
 * (measured: 2x1 threads 42.6 fps vs 1x2 threads 30.5 on 2 cores, BENCHMARKS.md); on a GPU two
 * sessions overlap transfers and kernels.
 */
export function sessionsPlan(asked: number, ep: Ep, cores: number): { workers: number; warning?: string } {
  const workers = asked || (ep === 'cpu' && cores < 2 ? 1 : 2);
  if (ep === 'webgpu' && workers > 1) {
    // Measured on an H100: two WebGPU sessions in one process (separate worker threads)
    // crash onnxruntime ("Command encoding already finished"). One session it is.
    return { workers: 1, ...(asked > 1 ? { warning: `ep=webgpu supports one session per process; using workers=1 (asked ${asked})` } : {}) };
  }
  return { workers };
}

/** Intra-op threads per session: on the CPU the cores split among the sessions unless threads= says. */
export function intraOpThreads(ep: Ep, threads: number, workers: number, cores: number): number {
  return ep === 'cpu' ? threads || Math.max(1, Math.floor(cores / workers)) : threads || 1;
}

/** The model that will really run: compiled or not, its batch dimension (0: dynamic), the compiled file's size. */
export interface RunModel { compiled: boolean; fixedBatch: number; compiledBytes?: number | null }

/**
 * The default batch of a compiled dynamic-batch model on a GPU. H200, 16 x 1080p end to end
 * (BENCHMARKS.md): YOLOX-nano (1.9 MB compiled in fp16) 3,534 fps at 32 and 3,924 at 64, where a
 * light network's call is mostly fixed per-call cost; SSD300-VGG16 (35.6 M parameters, ~70 MB in
 * fp16) gains 3 % model-only at 64 (2,406 vs 2,336 img/s) and was slower end to end at 64 with 16
 * slots per stream (1,400 vs 1,723 fps; not measured with 32), so heavier models keep 32.
 */
export function gpuBatch(compiledBytes: number | null | undefined): number {
  return compiledBytes != null && compiledBytes < 20 << 20 ? 64 : 32;
}

/**
 * Frames per call and the shape calls are padded to. On a GPU every call runs the full batch
 * (partial ones padded): one shape, warmed up at start, since each new shape costs CUDA an
 * exhaustive convolution search (seconds); whether padding is the better trade is not measured
 * yet (BENCHMARKS.md, gpu-detect). On the CPU, where shapes are cheap, a call runs exactly n.
 */
export function batchPlan(m: RunModel, ep: Ep, batchSize: number): { fixed: number; batch: number; padTo: number; capped: boolean } {
  const fixed = m.fixedBatch > 0 ? m.fixedBatch : 0;
  const want = batchSize || (m.compiled && fixed === 0 && ep !== 'cpu' ? gpuBatch(m.compiledBytes) : 1);
  const batch = fixed > 0 ? Math.min(fixed, want) : want;
  return { fixed, batch, padTo: ep === 'cpu' ? 0 : batch, capped: fixed > 0 && batchSize > fixed };
}

/** Calls in flight (and queue room) for a number of sessions: two each keep every session fed. */
export function inflightFor(sessions: number): { inflight: number; slots: number } {
  const inflight = sessions * 2;
  return { inflight, slots: inflight + 1 };
}
