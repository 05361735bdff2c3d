// Progress as ffmpeg prints it: frame, fps over the last second, position / duration, speed
// (x real time) and ETA. In place on a terminal, a plain line every few seconds otherwise (CI
// logs), and with --progress FILE|- key=value blocks as ffmpeg's -progress writes them.
import type { Pipeline } from '../core/pipeline.ts';

export interface ProgressState { frame: number; fps: number; position: number; duration: number; speed: number; eta: number }

const clock = (s: number) => {
  if (!Number.isFinite(s) || s < 0) return 'N/A';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${sec.toFixed(2).padStart(5, '0')}`;
};

export class Progress {
  private last: { t: number; frames: number } | null = null;
  private t0 = performance.now();
  private pipeline: Pipeline;
  constructor(pipeline: Pipeline) { this.pipeline = pipeline; }

  /** Where the run is now (call about once a second). */
  sample(): ProgressState {
    const sources = this.pipeline.nodes.filter((n) => n.isSource);
    let frame = 0;
    for (const n of sources) frame += n.stats.framesOut;
    // The slowest source decides where the run is; the longest file how long it is.
    const position = sources.length ? Math.min(...sources.map((n) => n.stats.lastPts)) : 0;
    const durations = sources.map((n) => Number(n.impl?.describe?.().durationSeconds ?? NaN));
    const duration = durations.length && durations.every(Number.isFinite) ? Math.max(...durations) : NaN;
    const t = performance.now();
    const prev = this.last ?? { t: this.t0, frames: 0 };
    const dt = (t - prev.t) / 1000;
    const fps = dt > 0 ? (frame - prev.frames) / dt : 0;
    const speed = (t - this.t0) > 0 ? position / ((t - this.t0) / 1000) : 0;
    this.last = { t, frames: frame };
    const eta = Number.isFinite(duration) && speed > 0 ? Math.max(0, (duration - position) / speed) : NaN;
    return { frame, fps, position, duration, speed, eta };
  }

  static line(p: ProgressState): string {
    return `frame=${String(p.frame).padStart(6)} fps=${p.fps.toFixed(1).padStart(6)} time=${clock(p.position)}${Number.isFinite(p.duration) ? `/${clock(p.duration)}` : ''} speed=${p.speed.toFixed(2)}x${Number.isFinite(p.eta) ? ` eta=${clock(p.eta)}` : ''}`;
  }

  /** One ffmpeg -progress block. */
  static block(p: ProgressState, end: boolean): string {
    const us = (s: number) => (Number.isFinite(s) ? String(Math.round(s * 1e6)) : 'N/A');
    return [
      `frame=${p.frame}`, `fps=${p.fps.toFixed(2)}`, `out_time_us=${us(p.position)}`, `out_time=${clock(p.position)}`,
      `duration_us=${us(p.duration)}`, `speed=${p.speed.toFixed(3)}x`, `eta_s=${Number.isFinite(p.eta) ? p.eta.toFixed(1) : 'N/A'}`,
      `progress=${end ? 'end' : 'continue'}`,
    ].join('\n') + '\n';
  }
}
