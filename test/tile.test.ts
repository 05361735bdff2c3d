import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, type Frame } from '../src/index.ts';
import { TESTSRC_BACKGROUND, TESTSRC_CLASSES } from '../src/elements/testsrc.ts';
import { AVPixels } from '../src/media/av.ts';

const YUV = (rgb: readonly number[]) => Math.round(16 + 0.257 * rgb[0]! + 0.504 * rgb[1]! + 0.098 * rgb[2]!);

test('tile composites streams into a grid and maps every object into its cell', async () => {
  const p = launch('testsrc num-frames=20 width=320 height=240 seed=1 ! t. testsrc num-frames=20 width=640 height=360 seed=2 ! t. testsrc num-frames=20 width=320 height=240 seed=3 ! t. tile name=t width=640 height=480 labels=false ! fakesink');
  for (const s of [0, 1, 2]) {
    p.addProbe(`testsrc${s}.src`, (f) => {
      f.meta.objects = f.meta.truth!.filter((t) => t.visible === 1).map((t) => ({ class: t.class, label: TESTSRC_CLASSES[t.class]!.name, score: 1, box: t.box, attributes: {} }));
    });
  }
  const out: { frame: Frame; luma: Buffer; ls: number }[] = [];
  p.addProbe('t.src', (f) => {
    const av = (f.pixels as AVPixels).av;
    out.push({ frame: { ...f, pixels: null }, luma: Buffer.from(av.data![0]!), ls: av.linesize[0]! });
  });
  await p.run();
  assert.equal(out.length, 20);
  const palette = [TESTSRC_BACKGROUND, ...TESTSRC_CLASSES.map((c) => c.rgb)].map(YUV);
  let checked = 0;
  for (const { frame, luma, ls } of out) {
    assert.deepEqual([frame.width, frame.height], [640, 480]);
    const streams = new Set(frame.meta.objects.map((o) => o.attributes.stream));
    assert.deepEqual([...streams].sort(), [0, 1, 2]);
    for (const o of frame.meta.objects) {
      const cx = Math.round((o.box[0] + o.box[2]) / 2), cy = Math.round((o.box[1] + o.box[3]) / 2);
      // Stream 1 (640x360) lands letterboxed in the top-right cell: x >= 320, 30 <= y < 210.
      if (o.attributes.stream === 1) assert.ok(cx >= 320 && cy >= 30 && cy < 210, `stream 1 object at ${cx},${cy}`);
      if (o.attributes.stream === 2) assert.ok(cx < 320 && cy >= 240, `stream 2 object at ${cx},${cy}`);
      // The pixel there is the object's colour (luma nearest to its class, stripes aside).
      const y = luma[cy * ls + cx]!;
      const d = palette.map((v) => Math.abs(v - y));
      const tint = YUV(TESTSRC_CLASSES[o.class]!.rgb.map((v) => v * 0.6 + 102));
      assert.ok(d.indexOf(Math.min(...d)) === o.class + 1 || Math.abs(y - tint) < 12, `object of class ${o.class} at ${cx},${cy}: luma ${y}`);
      checked++;
    }
  }
  assert.ok(checked > 100);
});

test('tile writes each tile\'s name in its corner', async () => {
  const p = launch('testsrc pattern=black num-frames=2 width=320 height=240 ! t. testsrc pattern=black num-frames=2 width=320 height=240 ! t. tile name=t width=640 height=240 names=door,hall ! fakesink');
  let white: number[] = [];
  p.addProbe('t.src', (f) => {
    const av = (f.pixels as AVPixels).av, y = av.data![0]!, ls = av.linesize[0]!;
    // Count near-white (glyph) pixels in each cell's label corner and elsewhere.
    const count = (x0: number, y0: number, w: number, h: number) => { let n = 0; for (let yy = y0; yy < y0 + h; yy++) for (let xx = x0; xx < x0 + w; xx++) if (y[yy * ls + xx]! > 180) n++; return n; };
    white = [count(0, 0, 60, 18), count(320, 0, 60, 18), count(100, 100, 100, 100)];
  });
  await p.run();
  assert.ok(white[0]! > 15 && white[1]! > 15, `label pixels: ${white}`);
  assert.equal(white[2], 0, 'nothing drawn away from the labels');
});

test('tile without a size lays two 16:9 streams side by side at their size, with no black band; the grid follows count and aspect', async () => {
  const p = launch('testsrc pattern=objects num-frames=5 width=640 height=360 seed=1 ! t. testsrc pattern=objects num-frames=5 width=640 height=360 seed=2 ! t. tile name=t labels=false ! fakesink');
  let size = '';
  let black = -1;
  p.addProbe('t.src', (f) => {
    size = `${f.width}x${f.height}`;
    const av = (f.pixels as AVPixels).av;
    // testsrc's background is never the tile's black (luma 16): count black pixels on the middle row and column.
    black = 0;
    for (let x = 0; x < f.width; x++) if (av.data![0]![(f.height >> 1) * av.linesize[0]! + x] === 16) black++;
    for (let y = 0; y < f.height; y++) if (av.data![0]![y * av.linesize[0]! + (f.width >> 2)] === 16) black++;
  });
  await p.run();
  assert.equal(size, '1280x360');
  assert.equal(black, 0, 'no letterbox band');
  const { chooseGrid } = await import('../src/elements/tile.ts');
  const auto = { width: 0, height: 0, rows: 0, cols: 0 };
  assert.deepEqual(chooseGrid(4, 1920, 1080, auto), { cols: 2, rows: 2, width: 1920, height: 1080 });
  assert.deepEqual(chooseGrid(5, 1280, 720, auto), { cols: 3, rows: 2, width: 1920, height: 720 });
  assert.deepEqual(chooseGrid(3, 480, 640, auto), { cols: 3, rows: 1, width: 1440, height: 640 }, 'portrait streams go side by side');
  assert.deepEqual(chooseGrid(2, 640, 360, { ...auto, width: 1920 }), { cols: 2, rows: 1, width: 1920, height: 540 });
  assert.deepEqual(chooseGrid(4, 640, 360, { ...auto, rows: 1 }), { cols: 4, rows: 1, width: 1920, height: 270 }, 'DeepStream rows= is kept');
  assert.deepEqual(chooseGrid(3, 320, 240, { ...auto, width: 640, height: 480 }), { cols: 2, rows: 2, width: 640, height: 480 }, 'a given canvas is kept');
});

test('a stream that never delivers does not stop the others, even decoded in a decoding thread (whose frames tile holds while it waits)', { timeout: 60_000 }, async () => {
  const { media } = await import('./helpers.ts');
  const p = launch(`uri location=${media('bottle-detection.mp4')} num-frames=60 threaded=true ! t.  uri location=rtsp://127.0.0.1:9/none reconnect-attempts=2 reconnect-interval=200 timeout=300 ! t.  tile name=t labels=false ! fakesink`);
  const r = await Promise.race([p.run(), new Promise<null>((res) => setTimeout(() => res(null), 30_000))]);
  if (!r) { p.sendEosRequest(); assert.fail('the pipeline stalled'); }
  assert.equal(r.elements.t!.framesOut, 60, 'one composite per frame of the stream that plays');
});
