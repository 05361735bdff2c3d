// Placement of inference calls over devices (infer gpu-id=all or gpu-id=0,1): each call goes
// to the session whose device would finish it first, from what each device has queued and how
// long its calls have been taking (a slower GPU gets fewer), and a call that fails because its
// device failed is run again on another one, with a coded warning that names the device. Pure
// bookkeeping: the sessions themselves are SessionPool's workers (or fakes, in tests).
import { SluiceError, Err } from '../core/errors.ts';

export interface Executor<R> {
  /** Device index (CUDA ordinal) this executor runs on. */
  device: number;
  run(): Promise<R>;
}

/** Per-device counters, for infer's report, --metrics and the verdict. */
export interface DeviceStats { device: number; calls: number; frames: number; busyMs: number; msPerCall: number; failed: boolean; inflight: number }

interface Slot<T> { exec: T; device: number; inflight: number }

/** An error that means the device (not the model or the input) failed: CUDA errors, a dead session thread. */
export function isDeviceFailure(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /CUDA|cudaError|CUBLAS|CUDNN|device|out of memory|worker (crashed|exited)/i.test(m) && !(e instanceof SluiceError && e.code === 'SLUICE_ERR_MODEL');
}

export class DeviceScheduler<T> {
  private slots: Slot<T>[];
  private stats = new Map<number, DeviceStats>();
  private onFailure: (device: number, e: unknown) => void;
  private usable: (exec: T) => boolean;
  constructor(execs: { exec: T; device: number }[], opts: { onFailure?: (device: number, e: unknown) => void; usable?: (exec: T) => boolean } = {}) {
    this.slots = execs.map((x) => ({ ...x, inflight: 0 }));
    this.usable = opts.usable ?? (() => true);
    for (const x of execs) if (!this.stats.has(x.device)) this.stats.set(x.device, { device: x.device, calls: 0, frames: 0, busyMs: 0, msPerCall: 0, failed: false, inflight: 0 });
    this.onFailure = opts.onFailure ?? (() => {});
  }

  /** Whether any session can still take a call. */
  get alive(): boolean { return this.slots.some((s) => !this.stats.get(s.device)!.failed && this.usable(s.exec)); }

  /** Devices in use (failed ones included, marked). */
  devices(): DeviceStats[] { return [...this.stats.values()].map((s) => ({ ...s, busyMs: Math.round(s.busyMs), msPerCall: Math.round(s.msPerCall * 100) / 100 })); }

  /** The alive slot expected to finish a new call first: (queued + 1) x its device's time per call. */
  private pick(exclude: ReadonlySet<number>): Slot<T> | null {
    let best: Slot<T> | null = null;
    let bestCost = Infinity;
    for (const s of this.slots) {
      const d = this.stats.get(s.device)!;
      if (d.failed || exclude.has(s.device) || !this.usable(s.exec)) continue;
      // Unmeasured devices look as fast as the fastest measured one, so each gets tried.
      const per = d.msPerCall || this.fastest() || 1;
      const cost = (s.inflight + 1) * per;
      if (cost < bestCost) { bestCost = cost; best = s; }
    }
    return best;
  }

  private fastest(): number {
    let m = 0;
    for (const d of this.stats.values()) if (!d.failed && d.msPerCall > 0 && (m === 0 || d.msPerCall < m)) m = d.msPerCall;
    return m;
  }

  /**
   * Run `job` on the best executor; on a device failure, mark that device failed (its other
   * sessions too), warn, and run it again on another device. Other errors are the caller's.
   */
  async run<R>(job: (exec: T) => Promise<R>, frames = 1): Promise<R> {
    const tried = new Set<number>();
    let last: unknown = null;
    for (;;) {
      const s = this.pick(tried);
      if (!s) {
        if (last) throw new Err.INFER(`every GPU failed (${[...tried].map((d) => `GPU ${d}`).join(', ')}): ${(last as Error).message.split('\n')[0]}`, { cause: last });
        throw new Err.INFER('no GPU is left to run on: every device has failed');
      }
      const d = this.stats.get(s.device)!;
      s.inflight++;
      d.inflight++;
      const t0 = performance.now();
      try {
        const r = await job(s.exec);
        const ms = performance.now() - t0;
        d.calls++;
        d.frames += frames;
        d.busyMs += ms;
        // Time per call as the device is loaded now (queued calls included): a moving average.
        d.msPerCall = d.msPerCall ? d.msPerCall * 0.8 + (ms / Math.max(1, s.inflight)) * 0.2 : ms / Math.max(1, s.inflight);
        return r;
      } catch (e) {
        if (!isDeviceFailure(e) || this.slots.every((x) => x.device === s.device)) throw e;
        tried.add(s.device);
        last = e;
        if (!d.failed) {
          d.failed = true;
          this.onFailure(s.device, e);
        }
      } finally {
        s.inflight--;
        d.inflight--;
      }
    }
  }
}
