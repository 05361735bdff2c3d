// Per-element counters and a bounded latency histogram (log buckets, ~2% resolution), so
// stats cost O(1) memory however long the pipeline runs.

// 1.02^1100 spans 1 µs to ~3 hours.
const BUCKETS = 1100;
const BASE = 1.02;
const MIN_MS = 0.001;

export class LatencyHistogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  add(ms: number): void {
    const v = ms < MIN_MS ? MIN_MS : ms;
    let i = Math.floor(Math.log(v / MIN_MS) / Math.log(BASE));
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = q * this.count;
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      acc += this.counts[i]!;
      if (acc >= target) return Math.min(this.max, MIN_MS * BASE ** (i + 0.5));
    }
    return this.max;
  }
}

export class ElementStats {
  framesIn = 0;
  framesOut = 0;
  dropped = 0;
  /** ms spent working (excludes waiting for input and for downstream space). */
  busyMs = 0;
  latency = new LatencyHistogram();
  queueCapacity = 0;
  queueHighWater = 0;
  queueLevel = 0;
  /** Sources: pts (seconds) of the last frame produced, for progress lines. */
  lastPts = 0;
}

export interface ElementReport {
  type: string;
  framesIn: number;
  framesOut: number;
  fps: number;
  busy: number;
  latencyMs: { p50: number; p99: number };
  dropped: number;
  queue: { capacity: number; highWater: number };
  /**
   * Sinks: latency to the hand-off (after the sink's work), from capture for live frames, else
   * from the source's output.
   */
  endToEndMs?: { p50: number; p99: number };
  /** Age since capture of the live frames arriving here. */
  sinceCaptureMs?: { p50: number; p99: number };
  /** Live frames dropped here because they would reach a sink later than max-latency. */
  droppedLate?: number;
  /** What the element resolved at start (ElementImpl.describe). */
  resolved?: Record<string, string | number | boolean>;
}

export interface StatsSnapshot {
  wallSeconds: number;
  elements: Record<string, ElementReport>;
  /** Main thread's event loop busy fraction (performance.eventLoopUtilization) over the run. */
  loopBusy?: number;
}

/** At this event-loop use the main thread, not one element, is what limits the pipeline. */
export const LOOP_SATURATED = 0.9;

export interface Verdict {
  element: string;
  busy: number;
  text: string;
}

/** The one-line bottleneck verdict: the busiest element limits the pipeline. */
export function verdict(snap: StatsSnapshot, order: string[], hintFor: (name: string) => string = () => ''): Verdict | null {
  let best: string | null = null;
  let bestBusy = -1;
  for (const name of order) {
    const e = snap.elements[name];
    if (e && e.busy > bestBusy) { best = name; bestBusy = e.busy; }
  }
  if (best === null) return null;
  const e = snap.elements[best]!;
  // Elements share one thread: when it is saturated and no one element explains it (the
  // busiest under 3/4 of it), a busy share of each is time spent waiting for the thread as much
  // as working, so name the thread and the largest shares of it.
  if (snap.loopBusy !== undefined && snap.loopBusy >= LOOP_SATURATED && e.busy < 0.75 * snap.loopBusy) {
    const top = order.map((name) => [name, snap.elements[name]] as const)
      .filter(([, r]) => r && r.type !== 'uri' && r.busy >= 0.05)
      .sort((a, b) => b[1]!.busy - a[1]!.busy).slice(0, 4)
      .map(([name, r]) => `${name} ${Math.round(r!.busy * 100)}%`);
    const text = `the main thread is saturated (event loop ${Math.round(snap.loopBusy * 100)}% busy)${top.length ? `; the elements sharing it: ${top.join(', ')}` : ''}; run fewer streams per process (sluice serve or a cluster spreads them), decode in threads (uri threaded=true), or lighten the busiest element's per-frame work`;
    return { element: 'main-thread', busy: snap.loopBusy, text };
  }
  const queueFull = e.queue.capacity > 0 && e.queue.highWater >= e.queue.capacity;
  const pct = Math.round(e.busy * 100);
  let text = `${best} is the bottleneck: ${pct}% busy`;
  if (queueFull) text += ', its input queue filled up';
  if (e.busy < 0.5) text = `no element is saturated (busiest: ${best} at ${pct}%); the pipeline is limited by its source rate or waiting`;
  else {
    // The running element knows what to try, given how it really runs (see ElementImpl.hint).
    const hint = hintFor(best);
    if (hint) text += `; ${hint}`;
  }
  return { element: best, busy: e.busy, text };
}
