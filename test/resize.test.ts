// A stream that changes resolution mid-stream (a camera reconfigured, files concatenated):
// everything downstream follows the new size, with a warning, and nothing is silently cropped.
// The inputs are made by FFmpeg (two clips of different sizes, joined as one MPEG-TS stream).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch } from '../src/index.ts';
import { ASSETS, ROOT, ffmpegFrameRgb, freePort, media, tmp } from './helpers.ts';

const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);

/** Two H.264 clips joined as one MPEG-TS stream: `input` (lavfi or a file) at a then at b, 25 frames each. */
function joined(dir: string, input: string[], a: string, b: string): string {
  const parts = [a, b].map((size, i) => {
    const f = join(dir, `part${i}.ts`);
    ff(...input, '-frames:v', '25', '-vf', `scale=${size.replace('x', ':')}`, '-r', '25', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-an', f);
    return readFileSync(f);
  });
  const out = join(dir, 'joined.ts');
  writeFileSync(out, Buffer.concat(parts));
  return out;
}

const sizes = (file: string) => execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=width,height', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim().split('\n').filter((l) => /^\d/.test(l)).map((l) => l.split(',').slice(0, 2).join('x'));

const meanDiff = (a: Buffer, b: Buffer) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!); return s / a.length; };

test('uri ! encode ! file across a 320x240 -> 640x360 change: the file keeps 320x240 and the new frames are letterboxed into it, with a warning; never cropped', async () => {
  const dir = tmp();
  const src = joined(dir, ['-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25'], '320x240', '640x360');
  assert.deepEqual([...new Set(sizes(src))], ['320x240', '640x360'], 'the input changes size');
  const out = join(dir, 'out.mp4');
  const p = launch(`uri location=${src} ! encode preset=ultrafast ! file location=${out}`);
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(`${m.source}: ${m.message}`));
  const r = await p.run();
  assert.equal(r.frames, 50);
  assert.ok(warnings.some((w) => /^uri0: .*resolution changed from 320x240 to 640x360 at frame 25/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /^encode0: the input changed size from 320x240 to 640x360; encoding at 320x240, scaled to fit/.test(w)), warnings.join('\n'));
  assert.equal(r.elements.encode0!.resolved!.framesRescaled, 25);
  assert.deepEqual([...new Set(sizes(out))], ['320x240']);
  // Frame 40 is the whole 640x360 picture scaled to 320x180 and padded, not its top-left corner.
  const got = ffmpegFrameRgb(out, 40, 320, 240);
  const part1 = join(dir, 'part1.ts');
  const fitted = join(dir, 'fitted.mp4'), cropped = join(dir, 'cropped.mp4');
  ff('-i', part1, '-vf', 'scale=320:180,pad=320:240:0:30', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', fitted);
  ff('-i', part1, '-vf', 'crop=320:240:0:0', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', cropped);
  const dFit = meanDiff(got, ffmpegFrameRgb(fitted, 15, 320, 240)), dCrop = meanDiff(got, ffmpegFrameRgb(cropped, 15, 320, 240));
  assert.ok(dFit < 12 && dCrop > 2 * dFit, `mean difference from the letterboxed picture ${dFit.toFixed(1)}, from its top-left corner ${dCrop.toFixed(1)}`);
});

for (const threaded of [false, true]) test(`uri ! infer ! meta across a 320x180 -> 640x360 change: width/height and boxes follow the new size${threaded ? ' (decoded in a decoding thread)' : ''}`, { timeout: 120_000 }, async () => {
  const dir = tmp();
  // The same 25 frames of a real scene twice, the second time at twice the size.
  const src = joined(dir, ['-i', media('bottle-detection.mp4')], '320x180', '640x360');
  const out = join(dir, 'm.jsonl');
  const p = launch(`uri location=${src} threaded=${threaded} ! infer model=${join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx')} threshold=0.4 ! meta location=${out}`);
  const warnings: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  await p.run();
  assert.ok(warnings.some((w) => /resolution changed from 320x180 to 640x360 at frame 25/.test(w)), warnings.join('\n'));
  type Line = { frame: number; width: number; height: number; objects: { label: string; box: number[] }[] };
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  assert.equal(lines.length, 50);
  assert.deepEqual([...new Set(lines.map((l) => `${l.width}x${l.height}`))], ['320x180', '640x360']);
  assert.ok(lines.slice(25).every((l) => l.width === 640), 'every frame after the change is 640x360');
  // Each bottle found in frame i at 320x180 is found at twice its coordinates in frame 25 + i.
  const iou = (a: number[], b: number[]) => {
    const inter = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)) * Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
    return inter / ((a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter);
  };
  let compared = 0;
  for (let i = 0; i < 25; i++) {
    for (const o of lines[i]!.objects.filter((x) => x.label === 'bottle')) {
      const want = o.box.map((v) => v * 2);
      const best = Math.max(0, ...lines[25 + i]!.objects.filter((x) => x.label === 'bottle').map((x) => iou(want, x.box)));
      assert.ok(best > 0.6, `frame ${i}: no bottle after the change at [${want.map(Math.round)}] (best IoU ${best.toFixed(2)})`);
      compared++;
    }
  }
  assert.ok(compared >= 25, `${compared} bottles compared across the change`);
});

test('an RTSP camera (GStreamer) that switches from 320x240 to 640x360 while it streams: uri follows, with a warning; meta says the new size', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const cam = spawn('/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'gst-rtsp-resize.py'), String(port), '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  cam.stdout!.on('data', (d) => { said += d; });
  cam.stderr!.on('data', (d) => { said += d; });
  try {
    for (let i = 0; i < 100 && !said.includes('ready'); i++) await sleep(50);
    assert.match(said, /ready/, `camera did not start: ${said}`);
    const dir = tmp();
    const out = join(dir, 'm.jsonl'), rec = join(dir, 'r.mp4');
    const p = launch(`uri location=rtsp://127.0.0.1:${port}/cam num-frames=120 ! tee name=t  t. ! queue ! meta location=${out}  t. ! queue ! encode preset=ultrafast ! file location=${rec}`);
    const warnings: string[] = [];
    p.bus.on('warning', (m) => warnings.push(m.message));
    await p.run();
    assert.ok(warnings.some((w) => /resolution changed from 320x240 to 640x360/.test(w)), warnings.join('\n'));
    const seen = readFileSync(out, 'utf8').trim().split('\n').map((l) => { const j = JSON.parse(l) as { width: number; height: number }; return `${j.width}x${j.height}`; });
    const first640 = seen.indexOf('640x360');
    assert.ok(seen[0] === '320x240' && first640 > 0 && seen.slice(first640).every((s) => s === '640x360'), `sizes in order: ${[...new Set(seen)]}, change at ${first640}`);
    assert.deepEqual([...new Set(sizes(rec))], ['320x240'], 'the recording keeps its size (scaled, not cropped)');
  } finally {
    cam.kill('SIGKILL');
  }
});
