// What to try when infer is the bottleneck: the hint text of the verdict, from how it runs and
// what the machine has. No I/O of its own: the machine's facts that cost a look (the NVIDIA
// driver, the GPUs) are asked for only on the branch that names them.
import type { Ep } from './protocol.ts';

/** How infer runs (ep=auto resolved, sessions defaulted): its report's `running`. */
export interface Running { ep: Ep; workers: number; fixedBatch: number; batch: number; compiled: string; precision: string; why: string }

export interface MachineFacts {
  cores: number;
  nvidiaDriver: () => boolean;
  /** GPUs on the machine. */
  gpus: () => number;
  /** GPUs this infer runs on (gpu-id=). */
  gpusUsed: () => number;
}

/** The hint (GPU advice only where there is a GPU). */
export function advice(r: Running, m: MachineFacts): string {
  const more = `workers=${r.workers * 2} (${r.workers} session(s) now; fixed-batch models need calls in flight)`;
  // On the CPU more sessions than cores only compete for them (one session on 16 cores 116 fps, 8 sessions 62).
  const cpuMore = r.workers < m.cores ? `${more}, ` : '';
  if (r.ep === 'cpu') return m.nvidiaDriver() ? `try ep=cuda, ${cpuMore}or interval=N (infers every Nth frame)` : `try ${cpuMore}a smaller model, interval=N (infers every Nth frame), or fewer streams per process`;
  // Measured: YOLOX-nano on an H100 161/267/426 fps with 1/2/4 CUDA sessions.
  const prec = r.compiled !== 'no' && r.precision === 'fp32' ? ', precision=fp16' : '';
  const comp = r.compiled === 'no' ? `; it runs uncompiled (${r.why || 'no compile'}), so float tensors are built on the host` : '';
  if (r.fixedBatch) return `try ${more}${prec}, or interval=N${comp}`;
  if (r.batch < 64) return `try batch-size=${Math.min(64, Math.max(8, r.batch * 2))} (dynamic batch; mux several streams)${prec} or ${more}${comp}`;
  // H200, compiled YOLOX-nano at batch 64 (BENCHMARKS.md): 3 sessions 0.84x of 2, 4 at batch
  // 32 0.99x; larger batches not measured. Past that the GPU calls are the work itself.
  const n = m.gpus();
  const others = n > 1 && m.gpusUsed() < n ? ', or every GPU (gpu-id=all)' : '';
  return `try interval=N (infers every Nth frame)${prec}, a lighter model${others}${comp}`;
}

/** Per GPU when calls are spread over several: its share of the time busy, for the hint. */
export function perGpu(ds: readonly { device: number; busy: number; failed: boolean }[]): string {
  const per = ds.map((d) => `GPU ${d.device} ${Math.round(d.busy * 100)}% busy${d.failed ? ' (failed)' : ''}`);
  return per.length ? ` [${per.join(', ')}]` : '';
}
