// Live sources: when a frame was captured, and the latency budget that bounds how old a frame
// may be when it reaches a sink. The engine drops frames older than the budget (counted per
// stream and reason); frames without a capture time (files, unpaced sources) are never dropped.

/** Pipeline-wide default of max-latency, in ms (DESIGN: "max-latency (default 500 ms)"). */
export const DEFAULT_MAX_LATENCY = 500;

/**
 * Capture times of a network stream's frames. A frame's arrival is its capture time only when
 * nothing held it up; once a pipeline falls behind, frames wait in sockets and decoders and
 * arrive late in a burst. The stream's own clock does not wait: a camera stamps frames as it
 * takes them. So capture = pts + the smallest (arrival - pts) seen on this connection (the
 * frame that was held up least), which follows backlog and tolerates a camera clock running a
 * little fast or slow (the offset is re-learnt whenever a frame arrives earlier than predicted).
 * An RTSP camera that sends RTCP sender reports has its own capture clock, which uri prefers
 * where it is plausible on ours (it sees the camera's encode and send time too).
 */
export class CaptureClock {
  private offset = Infinity;
  /** ms since the offset was last lowered: a camera clock that runs slow is re-learnt from arrivals. */
  private since = 0;
  /** Capture time (performance.now() ms) of a frame at `ptsSeconds` that arrived at `arrivalMs`. */
  stamp(ptsSeconds: number, arrivalMs: number): number {
    const o = arrivalMs - ptsSeconds * 1000;
    // A clock that runs slower than ours makes every frame look later; after 10 s without a
    // lower offset, let it rise by at most 1 ms per frame so the estimate follows the drift.
    if (o < this.offset) { this.offset = o; this.since = arrivalMs; }
    else if (arrivalMs - this.since > 10_000) this.offset = Math.min(o, this.offset + 1);
    return Math.min(arrivalMs, ptsSeconds * 1000 + this.offset);
  }
  /** A new connection: its timestamps start elsewhere. */
  reset(): void { this.offset = Infinity; this.since = 0; }
}

/** Drop counts of one stream, by reason. */
export type DropReasons = Record<string, number>;

/** Counts drops per stream and reason, and which element made them. */
export class DropLedger {
  readonly byStream = new Map<number, DropReasons>();
  readonly byElement = new Map<string, number>();
  /** Drops of each stream, all reasons. */
  readonly byStreamTotal = new Map<number, number>();
  total = 0;
  add(stream: number, reason: string, element: string, k = 1): void {
    this.byStreamTotal.set(stream, (this.byStreamTotal.get(stream) ?? 0) + k);
    let r = this.byStream.get(stream);
    if (!r) this.byStream.set(stream, r = {});
    r[reason] = (r[reason] ?? 0) + k;
    this.byElement.set(element, (this.byElement.get(element) ?? 0) + k);
    this.total += k;
  }
  /** { "0": { late: 12 } }, for the report. */
  toJSON(): Record<string, DropReasons> {
    return Object.fromEntries([...this.byStream].sort((a, b) => a[0] - b[0]).map(([s, r]) => [String(s), { ...r }]));
  }
}
