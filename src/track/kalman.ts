// Constant-velocity Kalman filter on a box as (cx, cy, w, h) with velocities: the SORT/ByteTrack
// motion model. Noise scales with box size, so small and large objects are treated alike.
import type { Box } from '../core/frame.ts';

const N = 8;
type Mat = Float64Array<ArrayBuffer>; // row-major N x N

function matMul(a: Mat, b: Mat, n = N, m = N, k = N): Mat {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
    let s = 0;
    for (let t = 0; t < m; t++) s += a[i * m + t]! * b[t * k + j]!;
    out[i * k + j] = s;
  }
  return out;
}
function transpose(a: Mat, n: number, m: number): Mat {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j]!;
  return out;
}
/** Inverse of a 4x4 symmetric positive matrix (Gauss-Jordan). */
function inv4(a: Mat): Mat {
  const m = Array.from({ length: 4 }, (_, i) => [...Array.from(a.subarray(i * 4, i * 4 + 4)), ...[0, 0, 0, 0].map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < 4; c++) {
    let piv = c;
    for (let r = c + 1; r < 4; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[piv]![c]!)) piv = r;
    [m[c], m[piv]] = [m[piv]!, m[c]!];
    const d = m[c]![c]!;
    for (let j = 0; j < 8; j++) m[c]![j] = m[c]![j]! / d;
    for (let r = 0; r < 4; r++) if (r !== c) { const f = m[r]![c]!; for (let j = 0; j < 8; j++) m[r]![j] = m[r]![j]! - f * m[c]![j]!; }
  }
  return Float64Array.from(m.flatMap((row) => row.slice(4)));
}

const F = (() => { const f = new Float64Array(N * N); for (let i = 0; i < N; i++) f[i * N + i] = 1; for (let i = 0; i < 4; i++) f[i * N + i + 4] = 1; return f; })();
const FT = transpose(F, N, N);
const H = (() => { const h = new Float64Array(4 * N); for (let i = 0; i < 4; i++) h[i * N + i] = 1; return h; })();
const HT = transpose(H, 4, N);

export class KalmanBox {
  x: Mat = new Float64Array(N);
  P: Mat = new Float64Array(N * N);
  private static readonly POS = 1 / 20;
  private static readonly VEL = 1 / 160;

  constructor(box: Box) {
    const [cx, cy, w, h] = toCxcywh(box);
    this.x.set([cx, cy, w, h, 0, 0, 0, 0]);
    const std = [2 * KalmanBox.POS * w, 2 * KalmanBox.POS * h, 2 * KalmanBox.POS * w, 2 * KalmanBox.POS * h, 10 * KalmanBox.VEL * w, 10 * KalmanBox.VEL * h, 10 * KalmanBox.VEL * w, 10 * KalmanBox.VEL * h];
    for (let i = 0; i < N; i++) this.P[i * N + i] = std[i]! ** 2;
  }

  predict(): void {
    const w = Math.max(1, this.x[2]!), h = Math.max(1, this.x[3]!);
    const std = [KalmanBox.POS * w, KalmanBox.POS * h, KalmanBox.POS * w, KalmanBox.POS * h, KalmanBox.VEL * w, KalmanBox.VEL * h, KalmanBox.VEL * w, KalmanBox.VEL * h];
    this.x = matMul(F, this.x, N, N, 1);
    const P = matMul(matMul(F, this.P), FT);
    for (let i = 0; i < N; i++) P[i * N + i] = P[i * N + i]! + std[i]! ** 2;
    this.P = P;
  }

  update(box: Box): void {
    const z = toCxcywh(box);
    const w = Math.max(1, this.x[2]!), h = Math.max(1, this.x[3]!);
    const r = [KalmanBox.POS * w, KalmanBox.POS * h, KalmanBox.POS * w, KalmanBox.POS * h];
    const PHt = matMul(this.P, HT, N, N, 4);
    const S = matMul(H, PHt, 4, N, 4);
    for (let i = 0; i < 4; i++) S[i * 4 + i] = S[i * 4 + i]! + r[i]! ** 2;
    const K = matMul(PHt, inv4(S), N, 4, 4);
    const y = new Float64Array(4);
    for (let i = 0; i < 4; i++) y[i] = z[i]! - this.x[i]!;
    const Ky = matMul(K, y, N, 4, 1);
    for (let i = 0; i < N; i++) this.x[i] = this.x[i]! + Ky[i]!;
    const KH = matMul(K, H, N, 4, N);
    const I_KH = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) I_KH[i * N + j] = (i === j ? 1 : 0) - KH[i * N + j]!;
    this.P = matMul(I_KH, this.P);
  }

  box(): Box {
    const [cx, cy, w, h] = [this.x[0]!, this.x[1]!, Math.max(1, this.x[2]!), Math.max(1, this.x[3]!)];
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }
}

function toCxcywh(b: Box): [number, number, number, number] {
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]];
}
