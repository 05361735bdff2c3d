// Views (core/views.ts): an element asks for a picture of its own size with requestView; the
// sources whose frames reach it unchanged make it as they decode, once per frame, next to (or
// instead of) the full frame. Checked against scaling the full frame with the same scaler.
import test from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineElement, launch, registry, sinkPad, srcPad, viewOf, hasFullPixels, OwnedPixels, type Frame, type ViewRequest } from '../src/index.ts';
import { placement } from '../src/media/scale.ts';
import { avOf } from '../src/media/av.ts';
import { SharedPixels } from '../src/media/shared-pixels.ts';
import { media } from './helpers.ts';

const video = media('one-by-one-person-detection.mp4');
const clips = ['car-detection.mp4', 'bottle-detection.mp4', 'one-by-one-person-detection.mp4', 'car-detection.mp4'].map(media);

/** What a plugin's view-probe saw: frame 12's view bytes, frames with and without a view, full frames. */
const seen = new Map<string, { at12: Uint8Array | null; size: string; withView: number; without: number; whole: number }>();

// A plugin element that reads pixels at a size of its own, as a third-party element would.
registry().register(defineElement({
  name: 'view-probe',
  summary: 'test: asks its sources for a view and records it',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  props: z.object({ width: z.coerce.number(), height: z.coerce.number(), format: z.enum(['rgb24', 'bgr24', 'yuv420p']), letterbox: z.coerce.boolean().default(false) }),
  pixels: () => 'view',
  passesPixels: () => true,
  create(o, ctx) {
    let req: ViewRequest | null = null;
    const rec = { at12: null as Uint8Array | null, size: '', withView: 0, without: 0, whole: 0 };
    seen.set(ctx.name, rec);
    return {
      start() { req = ctx.requestView({ width: o.width, height: o.height, format: o.format, letterbox: o.letterbox, placement: 'center', method: 'bilinear' }); },
      async process(f: Frame) {
        const v = viewOf(f, req);
        if (v) { rec.withView++; rec.size = `${v.width}x${v.height}`; if (f.frame === 12) rec.at12 = Uint8Array.from(v.data); } else rec.without++;
        if (hasFullPixels(f)) rec.whole++;
        await ctx.push(f);
      },
    };
  },
}));

/** Frame 12 of `desc`'s uri0, as packed planes the decoding thread made (uri scaling to a size). */
async function frame12(desc: string): Promise<Uint8Array> {
  let b: Uint8Array | null = null;
  const p = launch(desc);
  p.addProbe('uri0.src', (f) => { if (f.frame === 12 && f.pixels instanceof SharedPixels && f.pixels.packed) b = Uint8Array.from(f.pixels.packed); });
  await p.run();
  assert.ok(b, `frame 12 of ${desc}`);
  return b as Uint8Array;
}

test('two consumers of different sizes get their views from one decode, each the bytes the same scaler makes of the full frame; the frames keep only the views; every slot comes back', { timeout: 120_000 }, async () => {
  seen.clear();
  const live0 = OwnedPixels.live;
  const p = launch(`uri location=${video} num-frames=30 threaded=true ! view-probe name=a width=320 height=180 format=yuv420p ! view-probe name=b width=200 height=200 format=rgb24 letterbox=true ! fakesink`);
  const r = await p.run();
  const a = seen.get('a')!, b = seen.get('b')!;
  const lb = placement(768, 432, { width: 200, height: 200, letterbox: true, placement: 'center' });
  assert.equal(a.size, '320x180');
  assert.equal(b.size, `${lb.iw}x${lb.ih}`, 'a letterboxed view is the image alone, sized as placement() says');
  assert.equal(a.withView, 30, 'every frame had the first view');
  assert.equal(b.withView, 30, 'and the second');
  assert.equal(a.whole, 0, 'nothing after them reads full frames: the source kept the views alone');
  assert.equal(r.elements.uri0!.resolved!.view, `320x180 yuv420p, ${lb.iw}x${lb.ih} rgb24 only`);
  // The same swscale (bilinear) from the same decoded frame: bit-exact.
  const refA = await frame12(`uri location=${video} num-frames=13 threaded=true width=320 height=180 format=yuv420p ! fakesink`);
  const refB = await frame12(`uri location=${video} num-frames=13 threaded=true width=${lb.iw} height=${lb.ih} format=rgb24 ! fakesink`);
  assert.equal(Buffer.compare(Buffer.from(a.at12!), Buffer.from(refA)), 0, 'the yuv420p view is the uri\'s own 320x180 scaling');
  assert.equal(Buffer.compare(Buffer.from(b.at12!), Buffer.from(refB)), 0, 'the rgb24 view is the uri\'s own letterboxed-size scaling');
  assert.equal(OwnedPixels.live, live0, 'every frame (and its views) released');
});

test('a request does not cross an element that edits or replaces pixels (osd, mux width=): the asker scales the edited frame itself', { timeout: 120_000 }, async () => {
  seen.clear();
  const r1 = await launch(`uri location=${video} num-frames=10 threaded=true ! osd ! view-probe name=c width=320 height=180 format=yuv420p ! fakesink`).run();
  assert.equal(seen.get('c')!.withView, 0, 'osd draws on the frame: a view made while decoding would not show it');
  assert.equal(r1.elements.uri0!.resolved!.view, undefined);
  const r2 = await launch(`uri location=${video} num-frames=10 threaded=true ! m. mux name=m width=640 height=360 ! view-probe name=d width=320 height=180 format=yuv420p ! fakesink`).run();
  assert.equal(seen.get('d')!.withView, 0);
  assert.equal(r2.elements.uri0!.resolved!.view, undefined);
  // Through elements that pass pixels on (mux without a size, queue, tee), it does.
  const r3 = await launch(`uri location=${video} num-frames=10 threaded=true ! m. mux name=m ! queue ! tee name=t t. ! view-probe name=e width=320 height=180 format=yuv420p ! fakesink t. ! fakesink`).run();
  assert.equal(seen.get('e')!.withView, 10);
  assert.equal(r3.elements.uri0!.resolved!.view, '320x180 yuv420p only');
});

/** Luma/chroma PSNR of two composites of the same size. */
function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i]! - b[i]!; se += d * d; }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

/** The tiled composites of 4 real clips (packed yuv420p, one per round), and tile's report. */
async function tiles(env: Record<string, string>): Promise<{ frames: Uint8Array[]; tile: Record<string, unknown> }> {
  const old = { ...process.env };
  Object.assign(process.env, env);
  try {
    const srcs = clips.map((c, i) => `uri location=${c} threaded=true num-frames=60 ! m.sink_${i}`).join(' ');
    const p = launch(`${srcs} mux name=m ! tile width=1280 height=720 ! fakesink`);
    const frames: Uint8Array[] = [];
    p.addProbe('tile0.src', (f) => {
      const av = avOf(f.pixels, 'test');
      const out = new Uint8Array(1280 * 720 * 3 / 2);
      let o = 0;
      for (let pl = 0; pl < 3; pl++) {
        const w = pl ? 640 : 1280, h = pl ? 360 : 720, ls = av.linesize[pl]!, d = av.data![pl]!;
        for (let y = 0; y < h; y++, o += w) out.set(d.subarray(y * ls, y * ls + w), o);
      }
      frames.push(out);
    });
    const r = await p.run();
    return { frames, tile: r.elements.tile0!.resolved as Record<string, unknown> };
  } finally {
    for (const k of Object.keys(env)) { if (old[k] === undefined) delete process.env[k]; else process.env[k] = old[k]; }
  }
}

test('tile composes from cell-sized views the decoding threads made: the same composites as scaling full frames (PSNR >= 40 dB)', { timeout: 180_000 }, async () => {
  const views = await tiles({});
  const full = await tiles({ SLUICE_VIEWS: '0' });
  assert.equal(views.frames.length, 60, 'one composite per round');
  assert.equal(full.frames.length, 60);
  assert.ok(Number(views.tile.cellsFromViews) >= 60, `cells copied from views: ${JSON.stringify(views.tile)}`);
  assert.equal(full.tile.cellsFromViews, 0, 'SLUICE_VIEWS=0 scales every cell from the full frame');
  let worst = Infinity;
  for (let i = 0; i < 60; i++) worst = Math.min(worst, psnr(views.frames[i]!, full.frames[i]!));
  assert.ok(worst >= 40, `worst composite PSNR ${worst.toFixed(1)} dB`);
});
