// Optimal assignment (Hungarian / Kuhn-Munkres, O(n³)) on a rectangular cost matrix.
// Returns, for each row, the assigned column or -1.

export function assign(cost: number[][]): number[] {
  const rows = cost.length;
  if (rows === 0) return [];
  const cols = cost[0]!.length;
  if (cols === 0) return new Array(rows).fill(-1);
  const n = Math.max(rows, cols);
  const BIG = 1e9;
  const a = (i: number, j: number) => (i < rows && j < cols ? cost[i]![j]! : BIG / 10);
  // Potentials-based implementation over a square padded matrix (1-based arrays).
  const u = new Float64Array(n + 1), v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1), way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) { minv[j] = cur; way[j] = j0; }
        if (minv[j]! < delta) { delta = minv[j]!; j1 = j; }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) { u[p[j]!] = u[p[j]!]! + delta; v[j] = v[j]! - delta; }
        else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do { const j1 = way[j0]!; p[j0] = p[j1]!; j0 = j1; } while (j0);
  }
  const res = new Array(rows).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j]! - 1 < rows && j - 1 < cols) res[p[j]! - 1] = j - 1;
  return res;
}

/**
 * Maximum-total-score assignment that only uses pairs scoring at least `min` (lapjv's cost
 * limit): the pairs split into connected groups (tracks and detections that overlap), each
 * solved on its own. A crowded frame of n boxes that mostly do not overlap costs about n small
 * problems instead of one n³ one. Returns, for each row, the column or -1.
 */
export function assignGated(score: number[][], min: number): number[] {
  const rows = score.length;
  const res = new Array<number>(rows).fill(-1);
  if (rows === 0) return res;
  const cols = score[0]!.length;
  // Union-find over rows (0..rows-1) and columns (rows..rows+cols-1).
  const parent = Int32Array.from({ length: rows + cols }, (_, i) => i);
  const find = (x: number): number => { while (parent[x] !== x) { parent[x] = parent[parent[x]!]!; x = parent[x]!; } return x; };
  let edges = 0;
  for (let i = 0; i < rows; i++) {
    const r = score[i]!;
    for (let j = 0; j < cols; j++) if (r[j]! >= min) { edges++; parent[find(i)] = find(rows + j); }
  }
  if (edges === 0) return res;
  const groups = new Map<number, { r: number[]; c: number[] }>();
  const group = (x: number) => { const k = find(x); let g = groups.get(k); if (!g) groups.set(k, (g = { r: [], c: [] })); return g; };
  for (let i = 0; i < rows; i++) if (score[i]!.some((v) => v >= min)) group(i).r.push(i);
  for (let j = 0; j < cols; j++) if (score.some((r) => r[j]! >= min)) group(rows + j).c.push(j);
  for (const { r, c } of groups.values()) {
    if (r.length === 1 && c.length === 1) { res[r[0]!] = c[0]!; continue; }
    // Pairs under the limit cost more than any real pair, so they are taken only when nothing else is left.
    const a = assign(r.map((i) => c.map((j) => (score[i]![j]! >= min ? 1 - score[i]![j]! : 2))));
    a.forEach((k, x) => { if (k >= 0 && score[r[x]!]![c[k]!]! >= min) res[r[x]!] = c[k]!; });
  }
  return res;
}
