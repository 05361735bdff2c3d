// Copies and fills of frame-sized byte ranges that may live in SharedArrayBuffers. V8 copies and
// fills a shared Uint8Array one byte at a time (relaxed atomics): ~3 GB/s on the 2-core EPYC box,
// against ~20 GB/s through a Uint32Array view of the same bytes (scratch measurement, recorded in
// BENCHMARKS.md). Decoding-thread slots, infer's staging batches and their copies are all shared.

const WIDE = 256;

const isShared = (a: Uint8Array) => a.buffer instanceof SharedArrayBuffer;

/** dst[at..] = src[from..to), four bytes at a time when either side is shared memory. */
export function copyBytes(dst: Uint8Array, at: number, src: Uint8Array, from = 0, to = src.length): void {
  const n = to - from;
  const s0 = src.byteOffset + from, d0 = dst.byteOffset + at;
  // Word copies need the two ranges equally placed within a word; else (and for small or
  // unshared ranges, where V8 is fast) the plain copy.
  const overlap = dst.buffer === src.buffer && s0 < d0 + n && d0 < s0 + n;
  if (n < WIDE || overlap || (!isShared(dst) && !isShared(src)) || (s0 & 3) !== (d0 & 3)) { dst.set(src.subarray(from, to), at); return; }
  const head = (4 - (s0 & 3)) & 3;
  const words = (n - head) >> 2;
  for (let i = 0; i < head; i++) dst[at + i] = src[from + i]!;
  new Uint32Array(dst.buffer, d0 + head, words).set(new Uint32Array(src.buffer, s0 + head, words));
  for (let i = head + words * 4; i < n; i++) dst[at + i] = src[from + i]!;
}

/** dst[start..end) = value, four bytes at a time in shared memory. */
export function fillBytes(dst: Uint8Array, value: number, start: number, end: number): void {
  const n = end - start;
  if (n < WIDE || !isShared(dst)) { dst.fill(value, start, end); return; }
  const a = dst.byteOffset + start;
  const head = (4 - (a & 3)) & 3;
  const words = (n - head) >> 2;
  if (head) dst.fill(value, start, start + head);
  new Uint32Array(dst.buffer, a + head, words).fill(((value & 0xff) * 0x01010101) >>> 0);
  const tail = start + head + words * 4;
  if (tail < end) dst.fill(value, tail, end);
}
