// u8 pixels -> float input tensor, in the worker. The image is already at model size (FFmpeg
// did the scaling), so this is one linear pass: value = x * scale/std - mean/std per channel.
import type { PrepSpec } from './protocol.ts';

let staging: Float32Array = new Float32Array(0);

/** Convert n images; returns a reused buffer (valid until the next call). */
export function toTensor(px: Uint8Array, n: number, p: PrepSpec): Float32Array {
  const hw = p.width * p.height;
  const size = n * 3 * hw;
  if (staging.length !== size) staging = new Float32Array(size);
  const input = staging;
  const a = [0, 0, 0];
  const b = [0, 0, 0];
  for (let c = 0; c < 3; c++) { a[c] = p.scale / p.std[c]!; b[c] = -p.mean[c]! / p.std[c]!; }
  for (let i = 0; i < n; i++) {
    const src = i * 3 * hw;
    if (p.layout === 'nchw') {
      // Packed pixels, already in the model's channel order: one plane per channel.
      for (let c = 0; c < 3; c++) {
        const d = src + c * hw;
        const ac = a[c]!, bc = b[c]!;
        for (let k = 0, s = src + c; k < hw; k++, s += 3) input[d + k] = px[s]! * ac + bc;
      }
    } else {
      // Interleaved rgb24/bgr24, already in the model's order.
      const a0 = a[0]!, a1 = a[1]!, a2 = a[2]!, b0 = b[0]!, b1 = b[1]!, b2 = b[2]!;
      for (let k = src, end = src + 3 * hw; k < end; k += 3) {
        input[k] = px[k]! * a0 + b0;
        input[k + 1] = px[k + 1]! * a1 + b1;
        input[k + 2] = px[k + 2]! * a2 + b2;
      }
    }
  }
  return input;
}
