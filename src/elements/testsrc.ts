// testsrc: synthetic video with exact ground truth. pattern=objects draws coloured boxes that
// move, cross and occlude each other; every frame carries their true boxes and ids in
// meta.truth, so detection, tracking and blur can be checked exactly without a camera.
import { randomFillSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import { RAW, defineElement, srcPad } from '../core/element.ts';
import { newFrame, type Box, type TruthObject } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { SluiceError, Err } from '../core/errors.ts';
import { AVPixels, allocVideoFrame, toPts, writePlanes } from '../media/av.ts';
import { TESTSRC_CLASSES, TESTSRC_BACKGROUND } from '../meta/testsrc-classes.ts';

// The class table is metadata's (the colour model reads it too); re-exported for testsrc's users.
export { TESTSRC_CLASSES, TESTSRC_BACKGROUND };

const props = z.object({
  pattern: p.enum(['objects', 'bars', 'noise', 'black'], 'objects', 'what to draw: moving objects with ground truth, colour bars, noise or black'),
  width: p.int(640, 'frame width in pixels (even)', { min: 16, max: 8192 }),
  height: p.int(480, 'frame height in pixels (even)', { min: 16, max: 8192 }),
  fps: p.num(30, 'frames per second (sets pts; with live=true also the pace)', { min: 0.1, max: 1000 }),
  numFrames: p.int(-1, 'frames to produce, -1 for endless', { min: -1 }),
  live: p.bool(false, 'pace output to real time as a camera would'),
  numObjects: p.int(4, 'objects to draw with pattern=objects', { min: 0, max: 256 }),
  seed: p.int(1, 'seed of the object layout and motion (same seed, same video)'),
  speed: p.num(1, 'object speed multiplier', { min: 0, max: 100 }),
  code: p.bool(false, 'draw the frame number and the capture time (wall clock, ms) as two rows of 32 black/white cells along the bottom, to read back from any output (glass-to-glass latency, which frame a tile shows)'),
  maxLatency: p.int(-1, 'live=true: most milliseconds from capture to a sink\'s hand-off before frames are dropped (counted); -1: the pipeline\'s, 0: never drop', { min: -1 }),
});

/** Cell size of testsrc's code strip for a frame `width` wide (two rows of 32 cells at the bottom). */
export function codeCell(width: number): number {
  return Math.max(4, Math.floor(width / 32) & ~1);
}

/**
 * Read testsrc's code strip from a luma plane: { frame, clock } (clock: the low 32 bits of the
 * capture's wall-clock ms). x0/y0/cell locate the strip (its top-left and cell size) wherever a
 * scaler or tile put it.
 */
export function readCode(luma: Uint8Array, stride: number, x0: number, y0: number, cell: number): { frame: number; clock: number } {
  const row = (r: number) => {
    let v = 0;
    for (let i = 0; i < 32; i++) {
      const x = Math.round(x0 + (i + 0.5) * cell), y = Math.round(y0 + (r + 0.5) * cell);
      v = v * 2 + (luma[y * stride + x]! > 128 ? 1 : 0);
    }
    return v;
  };
  return { frame: row(0), clock: row(1) };
}

interface Obj { id: number; cls: number; x: number; y: number; w: number; h: number; yuv: [number, number, number]; tint: [number, number, number] }

/** Small seeded PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rgbToYuv([r, g, b]: readonly number[]): [number, number, number] {
  return [
    Math.round(16 + 0.257 * r! + 0.504 * g! + 0.098 * b!),
    Math.round(128 - 0.148 * r! - 0.291 * g! + 0.439 * b!),
    Math.round(128 + 0.439 * r! - 0.368 * g! - 0.071 * b!),
  ];
}

/** Object boxes for frame n: pure function of (seed, n), so truth is reproducible. */
export function objectsAt(opts: { width: number; height: number; numObjects: number; seed: number; speed: number }, n: number): Obj[] {
  const rnd = mulberry32(opts.seed);
  const { width: W, height: H } = opts;
  const objs: Obj[] = [];
  for (let i = 0; i < opts.numObjects; i++) {
    const w = Math.round(W * (0.08 + rnd() * 0.1));
    const h = Math.round(H * (0.1 + rnd() * 0.14));
    const x0 = rnd() * (W - w);
    const y0 = rnd() * (H - h);
    const ang = rnd() * Math.PI * 2;
    const v = (0.004 + rnd() * 0.008) * W * opts.speed;
    const cls = i % TESTSRC_CLASSES.length;
    objs.push({ id: i + 1, cls, x: bounce(x0 + Math.cos(ang) * v * n, W - w), y: bounce(y0 + Math.sin(ang) * v * n, H - h), w, h, yuv: rgbToYuv(TESTSRC_CLASSES[cls]!.rgb), tint: rgbToYuv(TESTSRC_CLASSES[cls]!.rgb.map((v) => Math.round(v * 0.6 + 255 * 0.4))) });
  }
  return objs;
}

/** Position on a segment [0, max] reflected at the ends (a bouncing motion in closed form). */
function bounce(pos: number, max: number): number {
  if (max <= 0) return 0;
  const period = 2 * max;
  let m = pos % period;
  if (m < 0) m += period;
  return m <= max ? m : period - m;
}

/** Fraction of each object's box not covered by objects drawn after it. */
function visibility(boxes: Box[]): number[] {
  const S = 16;
  return boxes.map((b, i) => {
    let seen = 0;
    for (let sy = 0; sy < S; sy++) {
      for (let sx = 0; sx < S; sx++) {
        const x = b[0] + ((sx + 0.5) / S) * (b[2] - b[0]);
        const y = b[1] + ((sy + 0.5) / S) * (b[3] - b[1]);
        let hidden = false;
        for (let j = i + 1; j < boxes.length && !hidden; j++) {
          const o = boxes[j]!;
          hidden = x >= o[0] && x < o[2] && y >= o[1] && y < o[3];
        }
        if (!hidden) seen++;
      }
    }
    return seen / (S * S);
  });
}

function fillRect(plane: Buffer, stride: number, x1: number, y1: number, x2: number, y2: number, v: number) {
  for (let y = y1; y < y2; y++) plane.fill(v, y * stride + x1, y * stride + x2);
}

export default defineElement({
  name: 'testsrc',
  summary: 'Synthetic video: moving objects with ground truth, bars or noise',
  kind: 'source',
  pads: [srcPad([RAW], ['yuv420p'])],
  live: (o) => o.live || o.numFrames < 0,
  props,
  doc: `Objects are coloured boxes (class 0 red, 1 green, 2 blue, 3 yellow; with lighter stripes of
the same hue) that move in straight
lines, bounce off the edges, cross and occlude each other; the highest id is drawn on top.
meta.truth lists every object in the frame: {id, class, box:[x1,y1,x2,y2], visible} where
visible is the fraction of the box not hidden by others.`,
  create(o, ctx) {
    if (o.width % 2 || o.height % 2) {
      throw new Err.PROPERTY(`testsrc width and height must be even (got ${o.width}x${o.height})`);
    }
    const W = o.width;
    const H = o.height;
    const ySize = W * H;
    const cSize = (W / 2) * (H / 2);
    const bg = Buffer.alloc(ySize + 2 * cSize);
    const scratch = Buffer.alloc(bg.length);
    let n = 0;
    let t0 = 0;
    const paint = () => {
      if (o.pattern === 'bars') {
        const bars = [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191]];
        bars.forEach((rgb, i) => {
          const [Y, U, V] = rgbToYuv(rgb);
          const x1 = Math.floor((i * W) / 7) & ~1;
          const x2 = Math.floor(((i + 1) * W) / 7) & ~1;
          fillRect(bg, W, x1, 0, i === 6 ? W : x2, H, Y);
          fillRect(bg.subarray(ySize), W / 2, x1 / 2, 0, (i === 6 ? W : x2) / 2, H / 2, U);
          fillRect(bg.subarray(ySize + cSize), W / 2, x1 / 2, 0, (i === 6 ? W : x2) / 2, H / 2, V);
        });
      } else if (o.pattern === 'objects') {
        const [Y] = rgbToYuv(TESTSRC_BACKGROUND);
        bg.fill(Y, 0, ySize);
        bg.fill(128, ySize);
      } else {
        bg.fill(16, 0, ySize);
        bg.fill(128, ySize);
      }
    };
    paint();
    // Its length, for file's fragmented=auto (a long recording is written as fragments).
    if (!o.live && o.numFrames >= 0 && o.fps > 0) ctx.negotiation.set(`duration:${ctx.streamId}`, o.numFrames / o.fps);
    return {
      async produce() {
        if (o.numFrames >= 0 && n >= o.numFrames) return null;
        if (o.live) {
          if (n === 0) t0 = performance.now();
          const due = t0 + (n * 1000) / o.fps;
          const wait = due - performance.now();
          if (wait > 0) { await sleep(wait, undefined, { signal: ctx.signal }).catch(() => {}); ctx.waited(wait); }
        }
        bg.copy(scratch);
        let truth: TruthObject[] | undefined;
        if (o.pattern === 'noise') {
          randomFillSync(scratch, 0, ySize);
        } else if (o.pattern === 'objects') {
          const objs = objectsAt(o, n);
          const boxes: Box[] = [];
          for (const ob of objs) {
            const x1 = Math.round(ob.x) & ~1;
            const y1 = Math.round(ob.y) & ~1;
            const x2 = Math.min(W, x1 + (ob.w & ~1));
            const y2 = Math.min(H, y1 + (ob.h & ~1));
            fillRect(scratch, W, x1, y1, x2, y2, ob.yuv[0]);
            fillRect(scratch.subarray(ySize), W / 2, x1 / 2, y1 / 2, x2 / 2, y2 / 2, ob.yuv[1]);
            fillRect(scratch.subarray(ySize + cSize), W / 2, x1 / 2, y1 / 2, x2 / 2, y2 / 2, ob.yuv[2]);
            // Lighter stripes (still nearest to the class colour) give blur something to hide.
            for (let y = y1 + 4; y + 4 <= y2; y += 12) {
              fillRect(scratch, W, x1, y, x2, y + 4, ob.tint[0]);
              fillRect(scratch.subarray(ySize), W / 2, x1 / 2, y / 2, x2 / 2, y / 2 + 2, ob.tint[1]);
              fillRect(scratch.subarray(ySize + cSize), W / 2, x1 / 2, y / 2, x2 / 2, y / 2 + 2, ob.tint[2]);
            }
            boxes.push([x1, y1, x2, y2]);
          }
          const vis = visibility(boxes);
          truth = objs.map((ob, i) => ({ id: ob.id, class: ob.cls, box: boxes[i]!, visible: vis[i]! }));
        }
        const due = o.live ? t0 + (n * 1000) / o.fps : performance.now();
        if (o.code) {
          // Bits MSB first; bright cells are 1. Chroma stays neutral so the code survives any colour conversion.
          const c = codeCell(W), y0 = H - 2 * c;
          const clock = Math.floor(performance.timeOrigin + due) % 2 ** 32;
          for (let r = 0; r < 2; r++) {
            const v = r === 0 ? n : clock;
            for (let i = 0; i < 32 && (i + 1) * c <= W; i++) {
              const bit = Math.floor(v / 2 ** (31 - i)) % 2;
              fillRect(scratch, W, i * c, y0 + r * c, (i + 1) * c, y0 + (r + 1) * c, bit ? 235 : 16);
              fillRect(scratch.subarray(ySize), W / 2, (i * c) / 2, (y0 + r * c) / 2, ((i + 1) * c) / 2, (y0 + (r + 1) * c) / 2, 128);
              fillRect(scratch.subarray(ySize + cSize), W / 2, (i * c) / 2, (y0 + r * c) / 2, ((i + 1) * c) / 2, (y0 + (r + 1) * c) / 2, 128);
            }
          }
        }
        const pts = n / o.fps;
        const av = allocVideoFrame(W, H, AV_PIX_FMT_YUV420P, toPts(pts));
        writePlanes(av, scratch, [H, H / 2, H / 2], [W, W / 2, W / 2]);
        const f = newFrame({ stream: ctx.streamId, frame: n, pts, rate: o.fps, width: W, height: H, format: 'yuv420p', pixels: new AVPixels(av) });
        if (truth) f.meta.truth = truth;
        // A paced source is a camera: the frame was captured when it was due.
        if (o.live) f.captured = due;
        n++;
        return f;
      },
    };
  },
});
