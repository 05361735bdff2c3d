// blur: anonymise regions of chosen classes (faces, people, plates) by pixelating or blurring
// them in place. Work is bounded by the regions' area, never the whole frame.
import { z } from 'zod';
import { PLANAR_YUV, RAW, defineElement, sinkPad, srcPad } from '../core/element.ts';
import { p } from '../core/props.ts';
import { avOf } from '../media/av.ts';
import { writableCanvas } from '../draw/planes.ts';

const props = z.object({
  classes: p.str('', 'classes to hide: comma-separated labels or ids; empty hides every object'),
  mode: p.enum(['pixelate', 'blur'], 'pixelate', 'pixelate: coarse blocks; blur: a strong box blur'),
  block: p.int(16, 'pixelate block size / blur radius in pixels', { min: 2, max: 256 }),
  expand: p.num(0.1, 'grow each box by this fraction of its size on every side', { min: 0, max: 2 }),
});

/** Replace each block x block cell of the rectangle by its mean. */
export function pixelate(buf: Uint8Array, stride: number, x1: number, y1: number, x2: number, y2: number, block: number): void {
  for (let by = y1; by < y2; by += block) {
    const ey = Math.min(y2, by + block);
    for (let bx = x1; bx < x2; bx += block) {
      const ex = Math.min(x2, bx + block);
      let sum = 0;
      for (let y = by; y < ey; y++) for (let x = bx, o = y * stride + bx; x < ex; x++, o++) sum += buf[o]!;
      const mean = Math.round(sum / ((ey - by) * (ex - bx)));
      for (let y = by; y < ey; y++) buf.fill(mean, y * stride + bx, y * stride + ex);
    }
  }
}

/** Box blur of the rectangle (horizontal then vertical running sums), three passes ≈ Gaussian. */
export function boxBlur(buf: Uint8Array, stride: number, x1: number, y1: number, x2: number, y2: number, r: number): void {
  const w = x2 - x1, h = y2 - y1;
  if (w <= 0 || h <= 0) return;
  const tmp = new Float32Array(Math.max(w, h));
  for (let pass = 0; pass < 3; pass++) {
    for (let y = y1; y < y2; y++) line(buf, y * stride + x1, 1, w, r, tmp);
    for (let x = x1; x < x2; x++) line(buf, y1 * stride + x, stride, h, r, tmp);
  }
}

function line(buf: Uint8Array, start: number, step: number, n: number, r: number, tmp: Float32Array): void {
  for (let i = 0; i < n; i++) tmp[i] = buf[start + i * step]!;
  let acc = 0;
  const at = (i: number) => tmp[i < 0 ? 0 : i >= n ? n - 1 : i]!;
  for (let i = -r; i <= r; i++) acc += at(i);
  for (let i = 0; i < n; i++) {
    buf[start + i * step] = Math.round(acc / (2 * r + 1));
    acc += at(i + r + 1) - at(i - r);
  }
}

export default defineElement({
  name: 'blur',
  summary: 'Pixelate or blur the regions of chosen object classes (anonymisation)',
  kind: 'filter',
  pads: [sinkPad([RAW], PLANAR_YUV), srcPad()],
  props,
  create(o, ctx) {
    const wanted = o.classes ? new Set(o.classes.split(',').map((s) => s.trim())) : null;
    return {
      async process(frame) {
        const objs = frame.meta.objects.filter((ob) => !wanted || wanted.has(ob.label ?? '') || wanted.has(String(ob.class)));
        if (objs.length > 0) {
          const c = writableCanvas(avOf(frame.pixels, ctx.name), frame.format, frame.width, frame.height, ctx.name);
          const x = frame.xform;
          for (const ob of objs) {
            const [bx1, by1, bx2, by2] = ob.box;
            const ex = (bx2 - bx1) * o.expand, ey = (by2 - by1) * o.expand;
            const fx1 = Math.max(0, Math.floor((bx1 - ex) * x.sx + x.dx)), fy1 = Math.max(0, Math.floor((by1 - ey) * x.sy + x.dy));
            const fx2 = Math.min(frame.width, Math.ceil((bx2 + ex) * x.sx + x.dx)), fy2 = Math.min(frame.height, Math.ceil((by2 + ey) * x.sy + x.dy));
            if (fx2 <= fx1 || fy2 <= fy1) continue;
            for (const [buf, stride, sx, sy] of c.planes) {
              const a = [fx1 >> sx, fy1 >> sy, (fx2 + (1 << sx) - 1) >> sx, (fy2 + (1 << sy) - 1) >> sy] as const;
              const size = Math.max(1, o.block >> sx);
              if (o.mode === 'pixelate') pixelate(buf, stride, a[0], a[1], a[2], a[3], size);
              else boxBlur(buf, stride, a[0], a[1], a[2], a[3], size);
            }
          }
        }
        await ctx.push(frame);
      },
    };
  },
});
