// The benchmarks' realistic clip (issue 25): made from a real video, checked with FFmpeg's own
// tools (ffprobe for what the file is, ffmpeg for its pixels), not with Sluice's decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CLIP_CODE_CELL, realisticClip } from '../src/cli/bench.ts';
import { readCode } from '../src/elements/testsrc.ts';
import { ASSETS, tmp } from './helpers.ts';

const video = join(ASSETS, 'media', 'one-by-one-person-detection.mp4');

test('realistic clip: 1080p30 H.264 from a real video, GOP 30, a camera\'s bitrate, temporal noise, each frame\'s number readable; cached by content', { timeout: 180_000 }, async () => {
  const dir = tmp();
  const FRAMES = 32;
  const t0 = performance.now();
  const c = await realisticClip({ video, frames: FRAMES, dir });
  const firstMs = performance.now() - t0;
  assert.equal(c.cached, false);
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames:format=bit_rate', '-of', 'json', c.path], { encoding: 'utf8' }));
  const s = probe.streams[0];
  assert.deepEqual([s.codec_name, s.width, s.height, s.r_frame_rate, Number(s.nb_read_frames)], ['h264', 1920, 1080, '30/1', FRAMES]);
  // The reported bitrate is ffprobe's; a short clip carries its keyframes' weight, so a wide band.
  assert.equal(c.bitrateFrom, 'ffprobe');
  assert.equal(c.bitrate, Number(probe.format.bit_rate));
  assert.ok(c.bitrate > 2.5e6 && c.bitrate < 8e6, `bitrate ${c.bitrate}`);
  assert.match(c.label, /^real scene 1080p \d\.\d Mbit\/s$/);
  const keys = (JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=key_frame', '-of', 'json', c.path], { encoding: 'utf8' })).frames as { key_frame: number }[]).map((f) => f.key_frame);
  assert.deepEqual(keys.flatMap((k, i) => (k ? [i] : [])), [0, 30], 'keyframes every 30 frames, none elsewhere');
  // Pixels: every frame's code reads back as its number (and its complement row agrees).
  const W = 1920, H = 1080;
  const luma = execFileSync('ffmpeg', ['-v', 'error', '-i', c.path, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 28 });
  assert.equal(luma.length, W * H * FRAMES);
  const frame = (i: number) => luma.subarray(i * W * H, (i + 1) * W * H);
  for (let i = 0; i < FRAMES; i++) {
    const code = readCode(frame(i), W, 0, H - 2 * CLIP_CODE_CELL, CLIP_CODE_CELL);
    assert.equal(code.frame, i, `frame ${i} reads ${code.frame}`);
    assert.equal(code.clock, ~i >>> 0, `frame ${i}: the complement row`);
  }
  // The scene is 10 fps: frames 30 and 31 show the same picture, so what differs is the noise
  // alone (0.00 without noise). A sensor's noise changes every frame, and x264 at a camera's
  // bitrate keeps it (from the second GOP on: the first runs at a high QP while VBV fills).
  let diff = 0, n = 0;
  const a = frame(30), b = frame(31);
  for (let y = 100; y < 600; y += 2) for (let x = 400; x < 1500; x += 2) { diff += Math.abs(a[y * W + x]! - b[y * W + x]!); n++; }
  assert.ok(diff / n > 1, `mean |frame 31 - frame 30| ${(diff / n).toFixed(2)}: no temporal noise`);

  // The same recipe again: the cached file, at once; another recipe: another file.
  const t1 = performance.now();
  const again = await realisticClip({ video, frames: FRAMES, dir });
  assert.equal(again.cached, true);
  assert.equal(again.path, c.path);
  assert.ok(performance.now() - t1 < firstMs / 4, `cached call took ${Math.round(performance.now() - t1)} ms (first ${Math.round(firstMs)} ms)`);
  const other = await realisticClip({ video, frames: 4, noise: 4, dir });
  assert.notEqual(other.path, c.path);
  assert.equal(other.cached, false);
});

test('realistic clip: a missing video is a coded error that says what to set', async () => {
  await assert.rejects(realisticClip({ video: join(tmp(), 'nope.mp4'), dir: tmp() }), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_FILE_NOT_FOUND' && /SLUICE_TEST_ASSETS/.test(e.message));
});
