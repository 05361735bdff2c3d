import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, type Box } from '../src/index.ts';
import { AVPixels } from '../src/media/av.ts';
import { rgbToYuv } from '../src/draw/planes.ts';

function luma(av: AVPixels, w: number, h: number): Uint8Array {
  const y = av.av.data![0]!, ls = av.av.linesize[0]!;
  const out = new Uint8Array(w * h);
  for (let r = 0; r < h; r++) out.set(y.subarray(r * ls, r * ls + w), r * w);
  return out;
}

test('osd draws box edges exactly where the boxes are, labels above them, and leaves the rest alone', async () => {
  // Boxes in source pixels on a 640x480 source scaled to 320x240: osd must map them (xform).
  const boxes: Box[] = [[100, 100, 300, 260], [400, 200, 560, 440]];
  const p = launch('testsrc pattern=black num-frames=3 width=640 height=480 ! scale width=320 height=240 ! tee name=t t. ! queue ! osd thickness=2 trails=0 name=o ! fakesink name=a t. ! queue ! fakesink name=b');
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = boxes.map((box, i) => ({ class: i, label: 'thing', score: 0.5, box, track: 7 + i, attributes: {} }));
  });
  let drawn: Uint8Array | null = null, clean: Uint8Array | null = null;
  p.addProbe('a.sink_0', (f) => { drawn = luma(f.pixels as AVPixels, 320, 240); });
  p.addProbe('b.sink_0', (f) => { clean = luma(f.pixels as AVPixels, 320, 240); });
  await p.run();
  const at = (img: Uint8Array, x: number, y: number) => img[y * 320 + x]!;
  const palette = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128]];
  boxes.forEach((b, i) => {
    const [x1, y1, x2, y2] = b.map((v) => v / 2) as Box;
    const want = rgbToYuv(...(palette[(7 + i) % 10] as [number, number, number]))[0];
    // Edges (2 px thick) carry the track's colour; just inside and just outside do not.
    for (const [x, y] of [[(x1 + x2) / 2, y2 - 1], [x1, (y1 + y2) / 2], [x1 + 1, (y1 + y2) / 2], [x2 - 1, (y1 + y2) / 2]]) assert.equal(at(drawn!, x!, y!), want, `box ${i} edge at ${x},${y}`);
    assert.equal(at(drawn!, (x1 + x2) / 2, (y1 + y2) / 2), 16, 'inside untouched');
    assert.equal(at(drawn!, x2 + 2, (y1 + y2) / 2), 16, 'outside untouched');
    // The label sits above the box on the track's colour, its glyphs in the contrasting shade
    // (dark on these light colours: yellow, pink).
    let bg = 0, glyph = 0;
    for (let y = Math.max(0, y1 - 16); y < y1; y++) for (let x = x1; x < x1 + 60; x++) {
      const v = at(drawn!, x, y);
      if (Math.abs(v - want) <= 2) bg++;
      else if (v < want - 100) glyph++;
    }
    assert.ok(bg > 200 && glyph > 20, `label above box ${i}: ${bg} background and ${glyph} dark glyph pixels`);
  });
  // The other tee branch shares nothing drawn.
  assert.ok(clean!.every((v) => v === 16), 'the un-annotated branch stays black');
});

test('osd blends segmentation masks natively: object pixels tinted, background untouched', async () => {
  const { writeColourModel } = await import('../src/infer/colour-model.ts');
  const { model, labels } = writeColourModel(160, 120);
  const p = launch(`testsrc pattern=objects num-frames=3 width=320 height=240 ! infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none ! tee name=t t. ! queue ! osd labels=false trails=0 ! fakesink name=a t. ! queue ! fakesink name=b`);
  let drawn: Uint8Array | null = null, clean: Uint8Array | null = null;
  let truth: { box: number[]; visible: number }[] = [];
  p.addProbe('a.sink_0', (f) => { drawn = luma(f.pixels as AVPixels, 320, 240); truth = f.meta.truth!; });
  p.addProbe('b.sink_0', (f) => { clean = luma(f.pixels as AVPixels, 320, 240); });
  await p.run();
  const at = (img: Uint8Array, x: number, y: number) => img[y * 320 + x]!;
  // Background far from every object: unchanged.
  assert.equal(at(drawn!, 2, 2), at(clean!, 2, 2));
  // Centre of a fully visible object: its luma moved toward the overlay colour.
  const t = truth.find((x) => x.visible === 1)!;
  const cx = Math.round((t.box[0]! + t.box[2]!) / 2), cy = Math.round((t.box[1]! + t.box[3]!) / 2);
  assert.notEqual(at(drawn!, cx, cy), at(clean!, cx, cy), 'object pixels are tinted');
});

test('a label at the frame edge is moved inside it, and badges (fps, labels) never overlap', async () => {
  const p = launch('testsrc pattern=black num-frames=2 width=320 height=240 ! osd trails=0 fps=true ! fakesink name=a');
  p.addProbe('testsrc0.src', (f) => {
    // Top-right corner: the label would be cut at x=320 and sit under the fps badge.
    f.meta.objects = [{ class: 0, label: 'thing', score: 0.5, box: [300, 2, 318, 60], track: 7, attributes: {} }];
  });
  let drawn: Uint8Array | null = null;
  p.addProbe('a.sink_0', (f) => { drawn = luma(f.pixels as AVPixels, 320, 240); });
  await p.run();
  const want = rgbToYuv(210, 245, 60)[0];
  const dark = rgbToYuv(20, 20, 20)[0];
  const rows = (pred: (v: number) => boolean) => {
    const out: number[] = [];
    for (let y = 0; y < 60; y++) { let n = 0; for (let x = 150; x < 320; x++) if (pred(drawn![y * 320 + x]!)) n++; out.push(n); }
    return out;
  };
  const label = rows((v) => Math.abs(v - want) <= 2);
  const fps = rows((v) => Math.abs(v - dark) <= 2);
  // The label badge ("thing #7 0.50", ~100 px) is whole: shifted left of x=300, not clipped to 20 px.
  assert.ok(Math.max(...label) > 80, `widest label row ${Math.max(...label)} px`);
  // No row holds both badges: the label moved below the fps badge.
  const both = label.findIndex((n, y) => n > 40 && fps[y]! > 40);
  assert.equal(both, -1, `row ${both} has both badges`);
});

test('labels in any script are drawn with their own glyphs (not "?"), rasterised once', async () => {
  const { font, glyphOf, textWidth } = await import('../src/draw/glyphs.ts');
  const f = font(16);
  const q = glyphOf(f, '?');
  for (const ch of ['é', 'Ж', 'Δ', 'ß', '—']) {
    const g = glyphOf(f, ch);
    assert.notDeepEqual(g.alpha, q.alpha, `${ch} has a glyph of its own`);
    assert.ok(g.alpha.some((a) => a > 128), `${ch} has ink`);
    assert.equal(glyphOf(f, ch), g, 'cached');
  }
  assert.ok(textWidth(f, 'Москва') > textWidth(f, 'M'));
  // Drawn: a label with accents puts ink where the ASCII-only rasteriser put "?".
  const p = launch('testsrc pattern=black num-frames=1 width=320 height=120 ! osd trails=0 text="Ärger Москва" ! fakesink name=a');
  let drawn: Uint8Array | null = null;
  p.addProbe('a.sink_0', (fr) => { drawn = luma(fr.pixels as AVPixels, 320, 120); });
  await p.run();
  let ink = 0;
  for (let y = 4; y < 24; y++) for (let x = 4; x < 200; x++) if (drawn![y * 320 + x]! > 200) ink++;
  assert.ok(ink > 150, `${ink} text pixels`);
});

test('after tile, a label near a cell edge stays inside its own cell', async () => {
  const p = launch('testsrc pattern=black num-frames=2 width=320 height=180 seed=1 ! t. testsrc pattern=black num-frames=2 width=320 height=180 seed=2 ! t. tile name=t labels=false ! osd trails=0 ! fakesink name=a');
  // Stream 0 only: its label would run from x=250 past the cell's right edge at 320.
  p.addProbe('testsrc0.src', (f) => { f.meta.objects = [{ class: 0, label: 'a-rather-long-label', score: 0.9, box: [250, 40, 318, 120], track: 3, attributes: {} }]; });
  let drawn: Uint8Array | null = null;
  p.addProbe('a.sink_0', (f) => { drawn = luma(f.pixels as AVPixels, 640, 180); });
  await p.run();
  const want = rgbToYuv(245, 130, 48)[0];
  let left = 0, right = 0;
  for (let y = 0; y < 40; y++) for (let x = 0; x < 640; x++) if (Math.abs(drawn![y * 640 + x]! - want) <= 2) { if (x < 320) left++; else right++; }
  assert.ok(left > 500, `${left} label pixels in the cell`);
  assert.equal(right, 0, 'nothing spills into the next cell');
});
