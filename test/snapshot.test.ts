// snapshot and file .jpg (issue 27): JPEGs decoded by FFmpeg (ffprobe, ffmpeg), checked against
// testsrc's ground truth: one crop per track, the size of its best box, of the track's colour.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { TESTSRC_CLASSES } from '../src/elements/testsrc.ts';
import { ffprobe, tmp } from './helpers.ts';

const LABELS = TESTSRC_CLASSES.map((c) => c.name);

test('snapshot: one crop and one full frame per track, at its best box; track-end names it; one per trigger; each JPEG decodes', async () => {
  const dir = tmp(), ev = join(tmp(), 'events.jsonl');
  const p = launch(`testsrc pattern=objects num-frames=240 num-objects=3 seed=5 width=640 height=480 speed=2 ! track min-hits=1 ! snapshot location=${dir} on=track-start ! meta mode=events location=${ev}`);
  // Scores peak mid-run, so the best frame is not the first one.
  p.addProbe('testsrc0.src', (f) => {
    f.meta.objects = f.meta.truth!.filter((t) => t.visible >= 0.3).map((t) => ({ class: t.class, label: LABELS[t.class], score: 0.3 + 0.6 * t.visible * (1 - Math.abs(f.frame - 120) / 240), box: t.box, attributes: {} }));
  });
  await p.run();
  const events = readFileSync(ev, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const ends = events.filter((e) => e.type === 'track-end'), starts = events.filter((e) => e.type === 'track-start');
  assert.ok(ends.length >= 3 && ends.length === starts.length, `${ends.length} tracks`);
  const files = readdirSync(dir).sort();
  for (const e of ends) {
    const crop = `0-track-${e.track}-${e.label}.jpg`;
    assert.ok(files.includes(crop) && files.includes(crop.replace('.jpg', '-full.jpg')), files.join());
    assert.equal(e.snapshot, join(dir, crop));
    const box = e.best_box as number[];
    const pr = ffprobe(join(dir, crop));
    assert.equal(pr.codec, 'mjpeg');
    // The crop is the box (rounded out to even pixels), so it contains it.
    assert.ok(pr.width >= box[2]! - box[0]! && pr.width <= box[2]! - box[0]! + 4, `crop ${pr.width} for box width ${box[2]! - box[0]!}`);
    assert.ok(pr.height >= box[3]! - box[1]! && pr.height <= box[3]! - box[1]! + 4);
    // Its middle is the track's colour (testsrc's class colour), not the background.
    const rgb = execFileSync('ffmpeg', ['-v', 'error', '-i', join(dir, crop), '-vf', `crop=8:8:${Math.floor(pr.width / 2) - 4}:2`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
    const want = TESTSRC_CLASSES[e.class as number]!.rgb;
    const mean = [0, 1, 2].map((c) => { let s = 0; for (let i = c; i < rgb.length; i += 3) s += rgb[i]!; return s / (rgb.length / 3); });
    assert.ok(mean.every((v, c) => Math.abs(v - want[c]!) < 50), `crop colour ${mean.map(Math.round)} vs ${want}`);
    const full = ffprobe(join(dir, crop.replace('.jpg', '-full.jpg')));
    assert.deepEqual([full.width, full.height], [640, 480]);
  }
  // Crops: one per track, no more.
  assert.equal(files.filter((f) => /-track-\d+-\w+\.jpg$/.test(f)).length, ends.length);
  // on=track-start: one whole frame per frame where tracks started.
  const triggered = files.filter((f) => f.includes('-frame-'));
  assert.deepEqual(triggered, [...new Set(starts.map((e) => e.frame))].map((n) => `0-frame-${n}-track-start.jpg`).sort());
  assert.equal(ffprobe(join(dir, triggered[0]!)).width, 640);
});

test('file location=x.jpg writes one JPEG, x-%05d.jpg a sequence', async () => {
  const dir = tmp();
  await launch(`testsrc num-frames=5 width=320 height=240 ! file location=${join(dir, 'one.jpg')}`).run();
  await launch(`testsrc num-frames=5 width=320 height=240 ! file location=${join(dir, 'seq-%05d.jpg')}`).run();
  const files = readdirSync(dir).sort();
  assert.deepEqual(files, ['one.jpg', 'seq-00001.jpg', 'seq-00002.jpg', 'seq-00003.jpg', 'seq-00004.jpg', 'seq-00005.jpg']);
  for (const f of files) {
    const pr = ffprobe(join(dir, f));
    assert.deepEqual([pr.codec, pr.width, pr.height, pr.frames], ['mjpeg', 320, 240, 1]);
  }
});
