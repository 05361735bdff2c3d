// A pool of inference workers, each with its own ORT session. Fixed-batch models fill a GPU
// (or several CPU cores) only with concurrent sessions, so requests are spread over workers.
import { Worker } from 'node:worker_threads';
import { SluiceError, type ErrorCode, Err } from '../core/errors.ts';
import type { CallTiming, DecodeSpec, Ep, ModelInfo, PackedCopy, PrepSpec, TensorOut, WorkerRequest, WorkerResponse } from './protocol.ts';
import type { Decoded } from './adapters/types.ts';
import { siblingModule } from '../core/files.ts';
import { DeviceScheduler, type DeviceStats } from './scheduler.ts';

interface Pending { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void }

/** How long closing waits for a worker's run in progress (a slow CPU batch takes a second or two). */
const CLOSE_WAIT_MS = 30_000;

class SessionWorker {
  readonly worker: Worker;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the thread is gone: its pending and later requests fail at once instead of waiting forever. */
  dead: SluiceError | null = null;
  closing = false;
  constructor(init: { model: string; ep: Ep; gpuId: number; intraOpThreads: number }) {
    this.worker = new Worker(siblingModule(import.meta.url, 'worker'), { workerData: init });
    this.worker.on('message', (m: WorkerResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      // A worker's coded error keeps its code across the thread boundary.
      if (m.type === 'error') p.reject(m.code ? new SluiceError(m.code as ErrorCode, m.message) : new Error(m.message));
      else p.resolve(m);
    });
    this.worker.on('error', (e) => this.die(new Err.INFER(`inference worker crashed: ${e.message}`, { cause: e })));
    this.worker.on('exit', (code) => this.die(new Err.INFER(`inference worker exited (code ${code})${this.closing ? '' : ' while the pipeline still needed it'}`)));
  }
  private die(e: SluiceError) {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }
  request<T extends WorkerResponse>(msg: Omit<WorkerRequest, 'id'> & { type: WorkerRequest['type'] }): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: WorkerResponse) => void, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }
}

export interface PoolOptions {
  model: string; ep: Ep; gpuId: number; workers: number; intraOpThreads: number;
  /** Spread over these GPUs: `workers` sessions on each (default: gpuId alone). */
  gpuIds?: number[];
  /** A device failed; its calls go to the others from now on. */
  onDeviceFailure?: (device: number, e: unknown) => void;
}

export class SessionPool {
  private workers: SessionWorker[] = [];
  private opts: PoolOptions;
  private sched: DeviceScheduler<SessionWorker> | null = null;
  info: ModelInfo | null = null;
  constructor(opts: PoolOptions) { this.opts = opts; }

  /** `warm`: batch sizes each session runs once before it reports ready. */
  async open(warm: number[] = []): Promise<ModelInfo> {
    const devices = this.opts.ep === 'cpu' ? [this.opts.gpuId] : (this.opts.gpuIds?.length ? this.opts.gpuIds : [this.opts.gpuId]);
    const placed: { exec: SessionWorker; device: number }[] = [];
    // Interleaved (device 0, 1, 0, 1...) so equal costs spread calls over devices first.
    for (let i = 0; i < this.opts.workers; i++) {
      for (const d of devices) {
        const { model, ep, intraOpThreads } = this.opts;
        const w = new SessionWorker({ model, ep, intraOpThreads, gpuId: d });
        this.workers.push(w);
        placed.push({ exec: w, device: d });
      }
    }
    this.sched = new DeviceScheduler(placed, { usable: (w) => !w.dead, onFailure: this.opts.onDeviceFailure });
    try {
      const infos = await Promise.all(this.workers.map((w) => w.request<Extract<WorkerResponse, { type: 'opened' }>>({ type: 'open', warm } as never)));
      this.info = infos[0]!.info;
      return this.info;
    } catch (e) {
      await this.close();
      const msg = (e as Error).message;
      throw new Err.MODEL(`cannot load model ${this.opts.model} with ep=${this.opts.ep}: ${msg.split('\n')[0]}`, { cause: e });
    }
  }

  /** Run on the least busy worker. `pixels` holds n images of prep.width x prep.height x 3. */
  async run(inputName: string, pixels: SharedArrayBuffer, n: number, prep: PrepSpec, decode?: DecodeSpec, runAs?: number, copies?: PackedCopy[]): Promise<{ outputs: Record<string, TensorOut> | null; decoded: Decoded[] | null; timing: CallTiming }> {
    const sched = this.sched;
    if (!sched || !this.workers.length) throw new Err.INFER('the inference pool is closed');
    if (!sched.alive) throw this.workers.find((x) => x.dead)?.dead ?? new Err.INFER('no inference session is left');
    try {
      const r = await sched.run((w) => w.request<Extract<WorkerResponse, { type: 'result' }>>({ type: 'run', inputName, pixels, offset: 0, n, runAs, prep, decode, copies } as never), n);
      return { outputs: r.outputs, decoded: r.decoded, timing: r.timing };
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw new Err.INFER(`inference failed: ${(e as Error).message.split('\n')[0]}`, { cause: e });
    }
  }

  get size(): number { return this.workers.length; }

  /** Per-GPU calls, frames, time per call and state. */
  devices(): DeviceStats[] { return this.sched?.devices() ?? []; }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map(async (w) => {
      w.closing = true;
      // The close is answered once the runs queued before it are done. A thread terminated
      // inside onnxruntime's run aborts the whole process (a C++ exception thrown into a dying
      // environment: "terminate called after throwing an instance of 'Napi::Error'"), so the
      // run is waited for; only one stuck for CLOSE_WAIT_MS is cut off.
      // The timer is cleared once the close is answered (and unref'd meanwhile): a pending one
      // kept the process alive for 30 s after the pipeline had ended.
      let timer: NodeJS.Timeout | undefined;
      const cutOff = new Promise((r) => { timer = setTimeout(r, CLOSE_WAIT_MS); timer.unref(); });
      try { await Promise.race([w.request({ type: 'close' }), cutOff]); } catch { /* closing anyway */ } finally { clearTimeout(timer); }
      await w.worker.terminate();
    }));
  }
}
