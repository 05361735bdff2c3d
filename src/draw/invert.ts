// Photographic negative of 8-bit planes (NVSS's "dummy" model). Full-range planes flip as
// 255 - v, four bytes at a time; limited-range (video) YUV flips inside its own range so that
// the result is the RGB negative, not a negative with lifted blacks.

/** 255 - v of every byte of `src` into `dst` (in place when they are the same buffer). */
export function invertFull(src: Uint8Array, dst: Uint8Array = src): void {
  const n = Math.min(src.length, dst.length);
  let i = 0;
  // 32-bit words when both buffers share an alignment, bytes before and after.
  if ((src.byteOffset - dst.byteOffset) % 4 === 0) {
    while (i < n && (src.byteOffset + i) % 4 !== 0) { dst[i] = 255 - src[i]!; i++; }
    const words = (n - i) >> 2;
    const a = new Uint32Array(src.buffer, src.byteOffset + i, words), b = new Uint32Array(dst.buffer, dst.byteOffset + i, words);
    for (let k = 0; k < words; k++) b[k] = ~a[k]!;
    i += words * 4;
  }
  for (; i < n; i++) dst[i] = 255 - src[i]!;
}

// Limited range: luma 16..235 -> 235..16 (251 - y), chroma 16..240 around 128 -> 256 - c.
const LUMA = Uint8Array.from({ length: 256 }, (_, v) => Math.min(255, Math.max(0, 251 - v)));
const CHROMA = Uint8Array.from({ length: 256 }, (_, v) => Math.min(255, 256 - v));

export function invertLimited(buf: Uint8Array, luma: boolean): void {
  const t = luma ? LUMA : CHROMA;
  for (let i = 0; i < buf.length; i++) buf[i] = t[buf[i]!]!;
}
