// uri threaded=true: decoding in a worker thread hands out the same frames (pixels, times,
// sizes) as decoding on the main thread, infer takes a model-sized bgr24 frame from shared
// memory without scaling it and finds the same boxes, every element that needs a native frame
// still gets one, and a stream's slots come back (no leak, bounded memory) however frames end.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { addBranch, launch } from '../src/index.ts';
import { avOf } from '../src/media/av.ts';
import { SharedPixels } from '../src/media/shared-pixels.ts';
import { OwnedPixels, type ObjectMeta } from '../src/core/frame.ts';
import { ASSETS, ffprobe, media, tmp } from './helpers.ts';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';

const video = media('one-by-one-person-detection.mp4');
const model = `${ASSETS}/models/yolox/yolox_nano.onnx`;

/** Hash of each frame's planes, read through avOf as any element would. */
async function frames(extra: string, n = 60, location = video) {
  const got: { pts: number; size: string; format: string; hash: string }[] = [];
  const p = launch(`uri location=${location} num-frames=${n} ${extra} ! fakesink`);
  p.addProbe('uri0.src', (f) => {
    const av = avOf(f.pixels, 'test');
    const h = createHash('sha1');
    const rows = [f.height, f.height >> 1, f.height >> 1];
    const widths = f.format === 'bgr24' ? [f.width * 3] : [f.width, f.width >> 1, f.width >> 1];
    for (let pl = 0; pl < widths.length; pl++) for (let y = 0; y < rows[pl]!; y++) h.update(av.data![pl]!.subarray(y * av.linesize[pl]!, y * av.linesize[pl]! + widths[pl]!));
    got.push({ pts: f.pts, size: `${f.width}x${f.height} of ${f.source.width}x${f.source.height}`, format: f.format, hash: h.digest('hex') });
  });
  await p.run();
  return got;
}

test('threaded decoding gives the same frames as decoding on the main thread', { timeout: 120_000 }, async () => {
  const seen: Record<string, string[]> = {};
  for (const extra of ['', 'width=416 format=bgr24', 'width=416 format=bgr24 method=fast_bilinear decode-threads=1']) {
    const main = await frames(extra);
    const threaded = await frames(`${extra} threaded=true`);
    assert.equal(main.length, 60);
    assert.deepEqual(threaded, main, `uri ${extra}`);
    seen[extra] = main.map((f) => f.hash);
  }
  // The method reaches both scalers: the same frames, other pixels.
  const [, bilinear, fast] = Object.values(seen);
  assert.ok(fast!.every((h, i) => h !== bilinear![i]), 'fast_bilinear scales differently from bilinear');
  assert.equal(OwnedPixels.live, 0, 'every frame and slot was released');
});

test('blocking and libuv decoding in the decoding thread (SLUICE_SYNC_DECODE=0) give the same frames and times, across loop passes', { timeout: 120_000 }, async () => {
  const clip = join(tmp(), 'short.mp4');
  await launch(`testsrc pattern=objects num-frames=30 width=320 height=240 ! encode gop=10 ! file location=${clip}`).run();
  const extra = 'loop=true width=160 format=bgr24';
  const main = await frames(extra, 75, clip);
  assert.equal(main.length, 75);
  assert.ok(main[74]!.pts > main[29]!.pts * 2, 'times go on across passes');
  assert.deepEqual(await frames(`${extra} threaded=true`, 75, clip), main, 'blocking (the default)');
  process.env.SLUICE_SYNC_DECODE = '0';
  try {
    assert.deepEqual(await frames(`${extra} threaded=true`, 75, clip), main, 'libuv jobs');
  } finally {
    delete process.env.SLUICE_SYNC_DECODE;
  }
  assert.equal(OwnedPixels.live, 0, 'every frame and slot was released');
});

/** The bytes of the first view a decoding thread made of a frame (whoever asked for it). */
function firstView(px: SharedPixels): Uint8Array | null {
  const v = px.views[0];
  return v ? px.view({ id: v.ids[0]!, spec: null as never, by: 'test' })?.data ?? null : null;
}

/** YOLOX on every 3rd of 90 frames of `uri <extra>`, then `tail`: boxes per inferred frame, the last frame size seen after infer, reports. */
async function detect(extra: string, tail = 'fakesink') {
  const got = new Map<number, ObjectMeta[]>();
  let size = '';
  const withView: number[] = [];
  const p = launch(`uri location=${video} num-frames=90 ${extra} ! infer model=${model} ep=cpu interval=3 ! ${tail}`);
  p.addProbe('uri0.src', (f) => { if (f.pixels instanceof SharedPixels && f.pixels.views.length) withView.push(f.frame); });
  p.addProbe('infer0.src', (f) => { size = `${f.width}x${f.height}`; if (f.meta.inferred) got.set(f.frame, structuredClone(f.meta.objects)); });
  const r = await p.run();
  return { got, size, withView, infer: r.elements.infer0!.resolved as Record<string, unknown>, uri: r.elements.uri0!.resolved as Record<string, unknown> };
}

/** Same boxes (classes, within half a pixel, scores within 0.01) on every inferred frame; at least 20 of them. */
function sameBoxes(ref: Map<number, ObjectMeta[]>, got: Map<number, ObjectMeta[]>): void {
  let boxes = 0;
  for (const [f, objs] of ref) {
    const other = got.get(f)!;
    assert.equal(other.length, objs.length, `frame ${f}`);
    for (const [i, o] of objs.entries()) {
      boxes++;
      assert.equal(other[i]!.class, o.class);
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(other[i]!.box[k]! - o.box[k]!) < 0.5, `frame ${f} box ${i}: ${other[i]!.box} vs ${o.box}`);
      assert.ok(Math.abs(other[i]!.score - o.score) < 0.01);
    }
  }
  assert.ok(boxes >= 20, `the reference found ${boxes} boxes`);
}

test('infer takes model-sized bgr24 frames from a decoding thread as they are and finds the same people', { timeout: 180_000 }, async () => {
  const ref = await detect('width=416 format=bgr24');
  const fast = await detect('width=416 format=bgr24 threaded=true');
  assert.equal(ref.infer.framesCopiedAsDecoded, undefined, 'native frames go through the scaler');
  assert.equal(fast.infer.framesCopiedAsDecoded, 30, 'every inferred frame was copied as decoded');
  assert.equal(fast.infer.framesFromDecodedViews, undefined, 'decoded to the model\'s size already: no second picture');
  sameBoxes(ref.got, fast.got);
});

test('infer asks threaded sources for its picture of each full frame: same boxes, full frames go on to osd', { timeout: 180_000 }, async () => {
  const ref = await detect('', 'osd ! fakesink');
  const viewed = await detect('threaded=true', 'osd ! fakesink');
  assert.equal(ref.infer.framesFromDecodedViews, undefined);
  assert.equal(viewed.uri.view, '416x234 bgr24', 'the uri made the model\'s letterboxed picture (768x432 -> 416x234)');
  assert.ok(Number(viewed.infer.framesFromDecodedViews) >= 25, `views used for ${viewed.infer.framesFromDecodedViews} of 30 inferred frames`);
  assert.equal(viewed.size, '768x432', 'the full frames go on to osd');
  sameBoxes(ref.got, viewed.got);
  assert.equal(OwnedPixels.live, 0);
});

test('with nothing after infer that reads pixels (track, fakesink), a threaded source keeps only the model\'s picture: same boxes; a tee to osd keeps full frames', { timeout: 180_000 }, async () => {
  const ref = await detect('', 'track ! fakesink');
  const only = await detect('threaded=true', 'track ! fakesink');
  assert.equal(only.uri.view, '416x234 bgr24 only');
  // The first frames may be decoded before the decoding thread has the request: those are whole.
  assert.ok(Number(only.uri.framesViewOnly) >= 75, `${only.uri.framesViewOnly} of 90 frames came as the view alone`);
  assert.ok(Number(only.infer.framesFromDecodedViews) >= 25, `views used for ${only.infer.framesFromDecodedViews} of 30 inferred frames`);
  assert.equal(only.size, '768x432', 'frames keep their size: boxes are in the full frame\'s pixels');
  // The picture is made only for the frames infer runs on (interval=3): the same frames ref inferred.
  assert.ok(only.withView.length >= 25 && only.withView.every((f) => f % 3 === 0), `views on frames ${only.withView.join(',')}`);
  sameBoxes(ref.got, only.got);
  assert.deepEqual([...only.got.keys()], [...ref.got.keys()], 'the same frames inferred');
  const teed = await detect('threaded=true', 'tee name=t ! queue ! fakesink  t. ! queue ! osd ! fakesink');
  assert.equal(teed.uri.view, '416x234 bgr24', 'osd on a branch reads full pixels');
  assert.equal(teed.uri.framesViewOnly, undefined);
  sameBoxes(ref.got, teed.got);
  // Something the pipeline cannot see (a probe) asking for the pixels of a view-only frame gets a coded error.
  let err: unknown = null;
  const p = launch(`uri location=${video} num-frames=20 threaded=true ! infer model=${model} ep=cpu ! fakesink`);
  p.addProbe('infer0.src', (f) => { if (f.frame === 19) { try { avOf(f.pixels, 'probe'); } catch (e) { err = e; } } });
  await p.run();
  assert.match(String((err as Error | null)?.message), /decoded only as views \(416x234\)/);
  assert.equal((err as { code?: string }).code, 'SLUICE_ERR_FORMAT');
  // Frames dropped between the source and infer (rate) put the two counts out of step: infer
  // then runs on the frames that came with its picture, and nothing asks for missing pixels.
  const q = launch(`uri location=${video} num-frames=90 threaded=true ! rate fps=7 ! infer model=${model} ep=cpu interval=3 ! fakesink`);
  let inferred = 0, passed = 0;
  q.addProbe('infer0.src', (f) => { passed++; if (f.meta.inferred) inferred++; });
  const qr = await q.run();
  assert.equal(qr.elements.uri0!.resolved!.view, '416x234 bgr24 only');
  assert.ok(passed >= 15 && inferred >= 3 && inferred < passed, `${inferred} of ${passed} frames after rate inferred`);
  assert.equal(OwnedPixels.live, 0);
});

test('infer method= is the interpolation of the picture a threaded uri makes for it: the same bytes as the uri scaling with that method', { timeout: 120_000 }, async () => {
  const grab = async (desc: string, view: boolean) => {
    let b: Uint8Array | null = null;
    const p = launch(desc);
    p.addProbe('uri0.src', (f) => { if (f.frame === 30 && f.pixels instanceof SharedPixels) { const px = view ? firstView(f.pixels) : f.pixels.packed; if (px) b = Uint8Array.from(px); } });
    await p.run();
    assert.ok(b, `frame 30 had ${view ? 'a view' : 'pixels'}: ${desc}`);
    return b as Uint8Array;
  };
  const fast = await grab(`uri location=${video} num-frames=40 threaded=true ! infer model=${model} ep=cpu method=fast_bilinear ! fakesink`, true);
  const bilinear = await grab(`uri location=${video} num-frames=40 threaded=true ! infer model=${model} ep=cpu ! fakesink`, true);
  const ref = await grab(`uri location=${video} num-frames=40 threaded=true width=416 height=234 format=bgr24 method=fast_bilinear ! fakesink`, false);
  assert.equal(fast.length, 416 * 234 * 3);
  assert.ok(Buffer.compare(Buffer.from(fast), Buffer.from(ref)) === 0, 'fast_bilinear view == uri fast_bilinear scaling');
  assert.ok(Buffer.compare(Buffer.from(fast), Buffer.from(bilinear)) !== 0, 'and differs from the bilinear view');
});

test('a threaded source added to a running pipeline (sluice serve) gets the picture of the infer it feeds; full frames stay (a branch may read them later)', { timeout: 120_000 }, async () => {
  const p = launch(`mux name=m ! infer model=${model} ep=cpu ! fakesink`, { dynamic: true });
  let viewed = 0, whole = 0, inferred = 0;
  p.addProbe('infer0.src', (f) => { if (f.meta.inferred) inferred++; });
  p.addProbe('m.src', (f) => { if (f.pixels instanceof SharedPixels) { if (f.pixels.views.length) viewed++; if (f.pixels.whole) whole++; } });
  await p.setState('playing');
  const b = await addBranch(p, `uri location=${video} num-frames=30 threaded=true ! m.`, 'cam');
  await b.done;
  p.sendEosRequest();
  await p.wait();
  const r = p.report();
  await p.setState('null');
  assert.ok(viewed >= 20, `${viewed} of 30 frames came with infer's picture`);
  assert.equal(whole, 30, 'every frame kept whole in a dynamic pipeline');
  assert.equal(inferred, 30);
  assert.ok(Number(r.elements.infer0!.resolved!.framesFromDecodedViews) >= 20, JSON.stringify(r.elements.infer0!.resolved));
  assert.equal(OwnedPixels.live, 0);
});

test('threaded frames feed elements that need native frames (osd, tee, encode) and the file plays', { timeout: 120_000 }, async () => {
  const dir = tmp();
  const out = join(dir, 'out.mp4');
  const p = launch(`uri location=${video} num-frames=50 threaded=true ! tee name=t ! queue ! osd ! encode ! file location=${out}  t. ! queue max-size=2 ! fakesink`);
  await p.run();
  const probe = ffprobe(out);
  assert.equal(probe.frames, 50);
  assert.equal(probe.width, 768);
  assert.equal(OwnedPixels.live, 0);
});

test('decode-threads=-1 (the default) shares the cores among the threaded streams; 0 is FFmpeg\'s choice', { timeout: 60_000 }, async () => {
  const cores = availableParallelism();
  const run = async (n: number, extra = '') => {
    const r = await launch(Array.from({ length: n }, (_, i) => `uri location=${video} num-frames=5 threaded=true hw=none ${extra} name=s${i} ! m.`).join('  ') + '  mux name=m ! fakesink').run();
    return Array.from({ length: n }, (_, i) => (r.elements[`s${i}`]!.resolved as { decodeThreads: number }).decodeThreads);
  };
  assert.deepEqual(await run(1), [cores]);
  assert.deepEqual(await run(2 * cores), Array(2 * cores).fill(1));
  assert.deepEqual(await run(2, 'decode-threads=0'), [0, 0]);
  const main = await launch(`uri location=${video} num-frames=5 hw=none ! fakesink`).run();
  assert.equal((main.elements.uri0!.resolved as { decodeThreads: number }).decodeThreads, 0, 'decoding on the main thread: FFmpeg\'s choice');
});

test('several threaded streams through mux, a missing file fails before start with its name', { timeout: 120_000 }, async () => {
  const srcs = Array.from({ length: 6 }, (_, i) => `uri location=${video} num-frames=40 threaded=true width=320 name=s${i} ! m.`).join('  ');
  const counts = new Map<number, number>();
  const p = launch(`${srcs}  mux name=m ! queue max-size=4 ! fakesink`);
  p.addProbe('m.src', (f) => { counts.set(f.stream, (counts.get(f.stream) ?? 0) + 1); });
  await p.run();
  assert.deepEqual([...counts.values()], [40, 40, 40, 40, 40, 40]);
  assert.equal(OwnedPixels.live, 0);
  await assert.rejects(launch(`uri location=${join(tmp(), 'nope.mp4')} threaded=true ! fakesink`).run(), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_FILE_NOT_FOUND' && /nope\.mp4/.test(e.message));
});

test('a file corrupted in the middle: blocking decoding in a thread gets the frames the main thread gets, and ends', { timeout: 120_000 }, async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const clip = join(tmp(), 'corrupt.mp4');
  await launch(`testsrc pattern=objects num-frames=60 width=320 height=240 ! encode gop=10 ! file location=${clip}`).run();
  const bytes = readFileSync(clip);
  // Junk over a stretch of the media data (the moov box, and so the index, stays whole).
  for (let i = Math.floor(bytes.length * 0.3); i < Math.floor(bytes.length * 0.45); i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(clip, bytes);
  const main = await frames('width=160 format=bgr24', 60, clip);
  const threaded = await frames('width=160 format=bgr24 threaded=true', 60, clip);
  assert.ok(main.length > 0 && main.length < 60, `the junk cost frames: main thread decoded ${main.length}`);
  assert.deepEqual(threaded.map((f) => f.pts), main.map((f) => f.pts));
  assert.equal(OwnedPixels.live, 0);
});

test('a stream may have 32 model-sized frames out at once, but only 16 full 1080p ones (slots within 56 MB)', { timeout: 120_000 }, async () => {
  const { ThreadedSource } = await import('../src/media/threaded.ts');
  const { getLogger } = await import('../src/core/log.ts');
  const big = join(tmp(), 'big.mp4');
  await launch(`testsrc pattern=objects num-frames=40 width=1920 height=1080 ! encode gop=10 ! file location=${big}`).run();
  /** Frames the source hands out while none is released, then whether one more comes once one is. */
  const held = async (extra: { size?: { width: number; height: number }; format?: string }) => {
    const src = new ThreadedSource({ location: big, hw: 'none', loop: true, log: getLogger('test'), ...extra });
    await src.open();
    const out: { pixels: { release(): void } }[] = [];
    // A wait that timed out stays pending and is the one the next frame answers.
    let pending: ReturnType<typeof src.nextFrame> | null = null;
    const nextWithin = async (ms: number) => {
      pending ??= src.nextFrame();
      const f = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
      if (f) pending = null;
      return f;
    };
    for (;;) {
      const f = await nextWithin(3000);
      if (!f) break;
      out.push(f);
      assert.ok(out.length <= 64, 'the slots are bounded');
    }
    const n = out.length;
    out.shift()!.pixels.release();
    const more = await nextWithin(10_000);
    assert.ok(more, 'a released slot is decoded into again');
    more.pixels.release();
    for (const f of out) f.pixels.release();
    await src.close();
    return n;
  };
  assert.equal(await held({ size: { width: 416, height: 234 }, format: 'bgr24' }), 32, '416x234 bgr24 (292 KB a slot)');
  assert.equal(await held({ format: 'bgr24' }), 16, '1920x1080 bgr24 (6.2 MB a slot)');
  assert.equal(OwnedPixels.live, 0, 'every frame and slot was released');
});
