import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, SluiceError, type Frame } from '../src/index.ts';
import { TESTSRC_BACKGROUND, TESTSRC_CLASSES } from '../src/elements/testsrc.ts';
import { ffmpegFrameRgb, ffprobe, media, tmp } from './helpers.ts';

test('uri ! scale ! file: 1189 frames of 320x180 that FFmpeg reads back', async () => {
  const out = join(tmp(), 'o.mp4');
  const r = await launch(`uri location=${media('bottle-detection.mp4')} ! scale width=320 height=180 ! file location=${out}`).run();
  assert.equal(r.frames, 1189);
  const p = ffprobe(out);
  assert.deepEqual([p.frames, p.width, p.height, p.codec], [1189, 320, 180, 'h264']);
  assert.ok(Math.abs(p.duration - 39.85) < 0.1, `duration ${p.duration}`);
});

test('encode ! file: H.264 into mkv and MJPEG into avi round-trip', async () => {
  const dir = tmp();
  await launch(`testsrc num-frames=40 width=160 height=120 ! encode ! file location=${dir}/a.mkv`).run();
  await launch(`testsrc num-frames=40 width=160 height=120 ! encode codec=mjpeg ! file location=${dir}/b.avi`).run();
  await launch(`testsrc num-frames=40 width=160 height=120 ! file codec=mjpeg location=${dir}/c.mp4`).run();
  assert.deepEqual([ffprobe(`${dir}/a.mkv`).frames, ffprobe(`${dir}/a.mkv`).codec], [40, 'h264']);
  assert.deepEqual([ffprobe(`${dir}/b.avi`).frames, ffprobe(`${dir}/b.avi`).codec], [40, 'mjpeg']);
  assert.deepEqual([ffprobe(`${dir}/c.mp4`).frames, ffprobe(`${dir}/c.mp4`).codec], [40, 'mjpeg']);
});

test('testsrc ! meta: one JSON line per frame with ground truth', async () => {
  const out = join(tmp(), 'm.jsonl');
  await launch(`testsrc pattern=objects num-frames=60 ! meta location=${out}`).run();
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 60);
  lines.forEach((l, i) => {
    assert.equal(l.frame, i);
    assert.equal(l.stream, 0);
    assert.ok(Math.abs(l.pts - i / 30) < 1e-6);
    assert.deepEqual([l.width, l.height], [640, 480]);
    assert.deepEqual(l.objects, []);
    assert.deepEqual(l.events, []);
    assert.equal(l.truth.length, 4);
    for (const t of l.truth) {
      assert.ok(t.box[0] >= 0 && t.box[1] >= 0 && t.box[2] <= 640 && t.box[3] <= 480 && t.box[2] > t.box[0] && t.box[3] > t.box[1]);
      assert.ok(t.visible >= 0 && t.visible <= 1);
    }
  });
  // Objects move: the first object's box changes over time.
  assert.notDeepEqual(lines[0].truth[0].box, lines[59].truth[0].box);
});

test('testsrc truth matches the pixels: each visible object has its class colour inside its box', async () => {
  const dir = tmp();
  await launch(`testsrc pattern=objects num-frames=90 num-objects=5 width=320 height=240 ! tee name=t t. ! queue ! file codec=mjpeg quality=2 location=${dir}/v.avi t. ! queue ! meta location=${dir}/m.jsonl`).run();
  const lines = readFileSync(`${dir}/m.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  let crossings = 0;
  let occluded = 0;
  for (const n of [0, 30, 89]) {
    const rgb = ffmpegFrameRgb(`${dir}/v.avi`, n, 320, 240);
    const truth = lines[n].truth as { id: number; class: number; box: number[]; visible: number }[];
    for (const t of truth) {
      if (t.visible < 1) continue;
      const cx = Math.floor((t.box[0]! + t.box[2]!) / 2);
      const cy = Math.floor((t.box[1]! + t.box[3]!) / 2);
      const px = [...rgb.subarray((cy * 320 + cx) * 3, (cy * 320 + cx) * 3 + 3)];
      // Nearest colour among the classes and the background must be the object's class.
      const palette = [TESTSRC_BACKGROUND, ...TESTSRC_CLASSES.map((c) => c.rgb)];
      const d = palette.map((c) => (c[0]! - px[0]!) ** 2 + (c[1]! - px[1]!) ** 2 + (c[2]! - px[2]!) ** 2);
      assert.equal(d.indexOf(Math.min(...d)), t.class + 1, `frame ${n} object ${t.id}: pixel ${px} is not nearest to class ${t.class}`);
    }
  }
  // The scenario really has occlusion and crossings (objects overlapping at some point).
  for (const l of lines) {
    for (const t of l.truth) if (t.visible < 1) occluded++;
    const b = l.truth.map((t: { box: number[] }) => t.box);
    for (let i = 0; i < b.length; i++) for (let j = i + 1; j < b.length; j++) {
      if (b[i][0] < b[j][2] && b[j][0] < b[i][2] && b[i][1] < b[j][3] && b[j][1] < b[i][3]) crossings++;
    }
  }
  assert.ok(occluded > 0 && crossings > 0, `occluded ${occluded}, crossings ${crossings}`);
});

test('scale keeps meta in source pixels and records the mapping (letterbox)', async () => {
  const p = launch('testsrc num-frames=3 width=640 height=360 ! scale width=320 height=320 letterbox=true ! fakesink');
  const seen: Frame[] = [];
  p.addProbe('scale0.src', (f) => { seen.push({ ...f, pixels: null }); });
  await p.run();
  const f = seen[0]!;
  assert.deepEqual([f.width, f.height, f.source.width, f.source.height], [320, 320, 640, 360]);
  assert.ok(Math.abs(f.xform.sx - 0.5) < 1e-9 && Math.abs(f.xform.sy - 0.5) < 1e-9);
  assert.equal(f.xform.dx, 0);
  assert.equal(f.xform.dy, 70);
  assert.equal(f.format, 'yuv420p');
});

test('uri loop=true continues past the end with increasing timestamps', async () => {
  const p = launch(`uri location=${media('face-demographics-walking-and-pause.mp4')} loop=true num-frames=100 ! fakesink`);
  const pts: number[] = [];
  p.addProbe('uri0.src', (f) => { pts.push(f.pts); });
  const r = await p.run();
  assert.equal(r.frames, 100);
  for (let i = 1; i < pts.length; i++) assert.ok(pts[i]! > pts[i - 1]!, `pts ${pts[i - 1]} -> ${pts[i]} at ${i}`);
  assert.ok(Math.abs(pts[41]! - 41 / 12) < 0.02, `the second pass starts right after the first: ${pts[41]}`);
});

test('a missing input file fails before start, naming the path', async () => {
  await assert.rejects(launch('uri location=/no/such/video.mp4 ! fakesink').run(), (e: SluiceError) =>
    e.code === 'SLUICE_ERR_FILE_NOT_FOUND' && e.message.includes('/no/such/video.mp4'));
  await assert.rejects(launch(`uri location=${media('SOURCES.md')} ! fakesink`).run(), (e: SluiceError) => e.code === 'SLUICE_ERR_MEDIA_OPEN');
});

test('rate drops frames to the asked rate on timestamps', async () => {
  const p = launch('testsrc num-frames=90 fps=30 width=64 height=48 ! rate fps=10 ! fakesink');
  const pts: number[] = [];
  p.addProbe('rate0.src', (f) => { pts.push(f.pts); });
  const r = await p.run();
  assert.equal(pts.length, 30);
  pts.forEach((t, i) => assert.ok(Math.abs(t - i / 10) < 1e-6));
  assert.equal(r.elements.rate0!.dropped, 60);
});
