// Constant-velocity Kalman filter on a box as (cx, cy, w, h) with velocities: the SORT/ByteTrack
// motion model. Noise scales with box size, so small and large objects are treated alike.
//
// The motion (each coordinate moves by its own velocity), the measurement (the four coordinates)
// and every noise term are per coordinate, and the first covariance is diagonal, so the 8-state
// filter is exactly four independent 2-state filters (coordinate, velocity): a 2x2 covariance
// [[a, b], [b, c]] each. Same numbers as the 8x8 matrix form (test/track.test.ts checks it
// against that form), at a fraction of the work per track and frame.
import type { Box } from '../core/frame.ts';

const POS = 1 / 20;
const VEL = 1 / 160;

export class KalmanBox {
  /** cx, cy, w, h. */
  private readonly pos = new Float64Array(4);
  private readonly vel = new Float64Array(4);
  /** Covariance per coordinate: var(pos), cov(pos, vel), var(vel). */
  private readonly a = new Float64Array(4);
  private readonly b = new Float64Array(4);
  private readonly c = new Float64Array(4);

  constructor(box: Box) {
    const z = toCxcywh(box);
    const w = z[2], h = z[3];
    for (let i = 0; i < 4; i++) {
      const size = i % 2 === 0 ? w : h;
      this.pos[i] = z[i]!;
      this.a[i] = (2 * POS * size) ** 2;
      this.c[i] = (10 * VEL * size) ** 2;
    }
  }

  predict(): void {
    const w = Math.max(1, this.pos[2]!), h = Math.max(1, this.pos[3]!);
    for (let i = 0; i < 4; i++) {
      const size = i % 2 === 0 ? w : h;
      const a = this.a[i]!, b = this.b[i]!, c = this.c[i]!;
      this.pos[i] = this.pos[i]! + this.vel[i]!;
      // F P F^T + Q with F = [[1, 1], [0, 1]].
      this.a[i] = a + 2 * b + c + (POS * size) ** 2;
      this.b[i] = b + c;
      this.c[i] = c + (VEL * size) ** 2;
    }
  }

  update(box: Box): void {
    const z = toCxcywh(box);
    const w = Math.max(1, this.pos[2]!), h = Math.max(1, this.pos[3]!);
    for (let i = 0; i < 4; i++) {
      const size = i % 2 === 0 ? w : h;
      const a = this.a[i]!, b = this.b[i]!, c = this.c[i]!;
      const s = a + (POS * size) ** 2;
      const k1 = a / s, k2 = b / s;
      const y = z[i]! - this.pos[i]!;
      this.pos[i] = this.pos[i]! + k1 * y;
      this.vel[i] = this.vel[i]! + k2 * y;
      // (I - K H) P.
      this.a[i] = (1 - k1) * a;
      this.b[i] = (1 - k1) * b;
      this.c[i] = c - k2 * b;
    }
  }

  /** The state as the 8x8 form has it: x = [cx, cy, w, h, vcx, vcy, vw, vh] and the block-diagonal covariance. */
  state(): { x: number[]; P: number[] } {
    const P = new Array<number>(64).fill(0);
    for (let i = 0; i < 4; i++) {
      P[i * 8 + i] = this.a[i]!;
      P[i * 8 + i + 4] = P[(i + 4) * 8 + i] = this.b[i]!;
      P[(i + 4) * 8 + i + 4] = this.c[i]!;
    }
    return { x: [...this.pos, ...this.vel], P };
  }

  box(): Box {
    const cx = this.pos[0]!, cy = this.pos[1]!, w = Math.max(1, this.pos[2]!), h = Math.max(1, this.pos[3]!);
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }
}

function toCxcywh(b: Box): [number, number, number, number] {
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]];
}
