// Progress as ffmpeg prints it: frames, fps averaged over the last few seconds, position /
// duration, speed (x real time) and ETA. In place on a terminal, a plain line every few seconds
// otherwise (CI logs), a final line with the run's totals, and with --progress FILE|- key=value
// blocks as ffmpeg's -progress writes them.
//
// Frames: `frame=N` with one stream; with several, `frames=N streams=S`, N counting every
// stream's frames (what the sources made, as report.frames). Live inputs (cameras, paced
// sources) run at their own rate, so no speed or ETA is printed for them.
import type { Pipeline } from '../core/pipeline.ts';

export interface ProgressState { frame: number; streams: number; fps: number; position: number; duration: number; speed: number; eta: number; live: boolean }

const clock = (s: number) => {
  if (!Number.isFinite(s) || s < 0) return 'N/A';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${sec.toFixed(2).padStart(5, '0')}`;
};

/**
 * Frames per second over the last `windowMs` (ffmpeg's fps is an average, not the last
 * second's count): a batched stage delivers in bursts, and a one-second rate swung 4-55 fps.
 */
export class RateWindow {
  private samples: { t: number; frames: number }[] = [];
  private windowMs: number;
  constructor(t0: number, windowMs = 5000) { this.windowMs = windowMs; this.samples.push({ t: t0, frames: 0 }); }
  add(t: number, frames: number): number {
    this.samples.push({ t, frames });
    // Keep one sample at or before the window's start, so the window is always full once it can be.
    while (this.samples.length > 2 && this.samples[1]!.t <= t - this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    return dt > 0 ? (frames - first.frames) / dt : 0;
  }
}

export class Progress {
  private t0 = performance.now();
  private rate = new RateWindow(this.t0);
  private pipeline: Pipeline;
  constructor(pipeline: Pipeline) { this.pipeline = pipeline; }

  /** Where the run is now (call about once a second); `final`: the whole run's average rate. */
  sample(final = false): ProgressState {
    const sources = this.pipeline.nodes.filter((n) => n.isSource);
    let frame = 0;
    for (const n of sources) frame += n.stats.framesOut;
    // The slowest source decides where the run is; the longest file how long it is.
    const position = sources.length ? Math.min(...sources.map((n) => n.stats.lastPts)) : 0;
    const durations = sources.map((n) => Number(n.impl?.describe?.().durationSeconds ?? NaN));
    const duration = durations.length && durations.every(Number.isFinite) ? Math.max(...durations) : NaN;
    const live = sources.some((n) => n.def.live?.(n.props as never) ?? false);
    const t = performance.now();
    const windowed = this.rate.add(t, frame);
    const elapsed = (t - this.t0) / 1000;
    const fps = final ? (elapsed > 0 ? frame / elapsed : 0) : windowed;
    const speed = elapsed > 0 ? position / elapsed : 0;
    const eta = !final && Number.isFinite(duration) && speed > 0 ? Math.max(0, (duration - position) / speed) : NaN;
    return { frame, streams: sources.length, fps, position, duration, speed, eta, live };
  }

  static line(p: ProgressState): string {
    const frames = p.streams > 1 ? `frames=${String(p.frame).padStart(7)} streams=${p.streams}` : `frame=${String(p.frame).padStart(6)}`;
    const pace = p.live ? '' : ` speed=${p.speed.toFixed(2)}x${Number.isFinite(p.eta) ? ` eta=${clock(p.eta)}` : ''}`;
    return `${frames} fps=${p.fps.toFixed(1).padStart(6)} time=${clock(p.position)}${Number.isFinite(p.duration) ? `/${clock(p.duration)}` : ''}${pace}`;
  }

  /** One ffmpeg -progress block (`frame` counts every stream's frames; speed N/A for live inputs). */
  static block(p: ProgressState, end: boolean): string {
    const us = (s: number) => (Number.isFinite(s) ? String(Math.round(s * 1e6)) : 'N/A');
    return [
      `frame=${p.frame}`, `streams=${p.streams}`, `fps=${p.fps.toFixed(2)}`, `out_time_us=${us(p.position)}`, `out_time=${clock(p.position)}`,
      `duration_us=${us(p.duration)}`, `speed=${p.live ? 'N/A' : `${p.speed.toFixed(3)}x`}`, `eta_s=${!p.live && Number.isFinite(p.eta) ? p.eta.toFixed(1) : 'N/A'}`,
      `progress=${end ? 'end' : 'continue'}`,
    ].join('\n') + '\n';
  }
}
