// Photographic negative of 8-bit planes (NVSS's "dummy" model). Full-range planes flip as
// 255 - v, four bytes at a time; limited-range (video) YUV flips inside its own range so that
// the result is the RGB negative, not a negative with lifted blacks.

/** 255 - v over the whole buffer, in place. */
export function invertFull(buf: Uint8Array): void {
  let i = 0;
  const n = buf.length;
  // Bytes up to a 4-byte boundary, then 32-bit words, then the tail.
  while (i < n && (buf.byteOffset + i) % 4 !== 0) { buf[i] = 255 - buf[i]!; i++; }
  const words = (n - i) >> 2;
  const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
  for (let k = 0; k < words; k++) w[k] = ~w[k]!;
  for (i += words * 4; i < n; i++) buf[i] = 255 - buf[i]!;
}

// Limited range: luma 16..235 -> 235..16 (251 - y), chroma 16..240 around 128 -> 256 - c.
const LUMA = Uint8Array.from({ length: 256 }, (_, v) => Math.min(255, Math.max(0, 251 - v)));
const CHROMA = Uint8Array.from({ length: 256 }, (_, v) => Math.min(255, 256 - v));

export function invertLimited(buf: Uint8Array, luma: boolean): void {
  const t = luma ? LUMA : CHROMA;
  for (let i = 0; i < buf.length; i++) buf[i] = t[buf[i]!]!;
}
