// The NVSS-style examples end to end, as a user runs them: the example serves, `sluice
// webcam-client` streams a still frame of a real video as the camera, `sluice view --out` records
// what comes back, and FFmpeg decodes both sides for the checks. A still camera means every
// output frame answers the same input, so the difference between them is exactly the example's work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ASSETS, ROOT, ffmpegFrameRgb, ffprobe, freePort, media, sluice, tmp } from './helpers.ts';

const W = 640, H = 480;

async function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} never opened:\n${log()}`);
}

/** A 3 s video of one frame of `video` at `seconds`, scaled to 640x480. */
function still(dir: string, video: string, seconds: number): string {
  const png = join(dir, 'frame.png'), mp4 = join(dir, 'still.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', media(video), '-frames:v', '1', '-vf', `scale=${W}:${H}`, png]);
  execFileSync('ffmpeg', ['-v', 'error', '-loop', '1', '-i', png, '-t', '3', '-r', '10', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-crf', '12', mp4]);
  return mp4;
}

/** Run a server command, stream the still into camPort, record viewPort; return both frames in RGB. */
async function roundTrip(dir: string, cmd: string[], camPort: number, viewPort: number, input: string): Promise<{ input: Buffer; output: Buffer }> {
  const proc = spawn(process.execPath, cmd, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.on('close', (c) => r(c)));
  try {
    await waitForPort(camPort, proc, () => log);
    await waitForPort(viewPort, proc, () => log);
    const out = join(dir, 'seen.mp4');
    const viewer = sluice(['view', '--server', `127.0.0.1:${viewPort}`, '--out', out, '--frames', '12', '--seconds', '90'], { timeoutMs: 120_000 });
    const camera = sluice(['webcam-client', '--server', `127.0.0.1:${camPort}`, '--file', input, '--loop', '--frames', '400'], { timeoutMs: 120_000 });
    const v = await viewer;
    assert.equal(v.code, 0, v.stderr + log);
    const n = ffprobe(out).frames;
    assert.ok(n >= 10, `viewer recorded ${n} frames`);
    proc.kill('SIGINT');
    await camera;
    assert.equal(await exited, 0, log);
    return { input: ffmpegFrameRgb(input, 0, W, H), output: ffmpegFrameRgb(out, n - 1, W, H) };
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
}

/** Pixels whose colour changed beyond JPEG noise, as a 0/1 map. */
function changed(a: Buffer, b: Buffer): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) m[i] = Math.abs(a[3 * i]! - b[3 * i]!) + Math.abs(a[3 * i + 1]! - b[3 * i + 1]!) + Math.abs(a[3 * i + 2]! - b[3 * i + 2]!) > 60 ? 1 : 0;
  return m;
}

function fraction(m: Uint8Array, inside: (x: number, y: number) => boolean, want: boolean): number {
  let hit = 0, all = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (inside(x, y) === want) { all++; hit += m[y * W + x]!; }
  return hit / all;
}

async function example(name: string): Promise<{ dir: string; cam: number; view: number; cmd: string[] }> {
  const dir = tmp();
  const cam = await freePort(), view = await freePort();
  const yaml = readFileSync(join(ROOT, 'examples/remote', name), 'utf8').replaceAll('../shared', ASSETS).replace('port: 9000', `port: ${cam}`).replace('port: 9001', `port: ${view}`);
  writeFileSync(join(dir, name), yaml);
  return { dir, cam, view, cmd: [join(ROOT, 'bin/sluice.js'), 'run', name, '-q'] };
}

test('examples/remote/invert.ts (library API): the viewer gets the negative of the camera', { timeout: 240_000 }, async () => {
  const dir = tmp();
  const cam = await freePort(), view = await freePort();
  const input = still(dir, 'one-by-one-person-detection.mp4', 10.5);
  const r = await roundTrip(dir, [join(ROOT, 'examples/remote/invert.ts'), String(cam), String(view)], cam, view, input);
  let err = 0;
  for (let i = 0; i < r.input.length; i++) err += Math.abs(r.output[i]! - (255 - r.input[i]!));
  assert.ok(err / r.input.length < 8, `mean error vs the negative: ${(err / r.input.length).toFixed(2)}`);
});

test('examples/remote/classify.yaml: MobileNetV2 labels are drawn top-left and nothing else changes', { timeout: 240_000 }, async () => {
  const e = await example('classify.yaml');
  const r = await roundTrip(e.dir, e.cmd, e.cam, e.view, still(e.dir, 'bottle-detection.mp4', 16.5));
  const m = changed(r.input, r.output);
  const labelBox = (x: number, y: number) => x < 340 && y < 80;
  const fpsBox = (x: number, y: number) => x > W - 120 && y < 30;
  const inLabels = fraction(m, labelBox, true), elsewhere = fraction(m, (x, y) => labelBox(x, y) || fpsBox(x, y), false);
  assert.ok(inLabels > 0.15, `label area changed ${inLabels.toFixed(3)}`);
  assert.ok(elsewhere < 0.005, `outside the labels ${elsewhere.toFixed(4)} changed`);
});

test('examples/remote/face-blur.yaml: only small regions change, and they lose detail (blurred faces)', { timeout: 240_000 }, async () => {
  const e = await example('face-blur.yaml');
  const r = await roundTrip(e.dir, e.cmd, e.cam, e.view, still(e.dir, 'head-pose-face-detection-female-and-male.mp4', 1.7));
  const m = changed(r.input, r.output);
  const total = fraction(m, () => true, true);
  assert.ok(total > 0.002 && total < 0.2, `changed fraction ${total.toFixed(4)}`);
  // Detail (luma-ish gradient) where pixels changed: blurred regions keep far less of it.
  let gin = 0, gout = 0;
  for (let y = 0; y < H; y++) for (let x = 1; x < W; x++) {
    const i = y * W + x;
    if (!m[i]) continue;
    gin += Math.abs(r.input[3 * i + 1]! - r.input[3 * i - 2]!);
    gout += Math.abs(r.output[3 * i + 1]! - r.output[3 * i - 2]!);
  }
  assert.ok(gout < gin * 0.5, `gradient in changed regions: ${gout} out vs ${gin} in`);
});

test('examples/remote/segment.yaml: the blended DeepLabV3 mask covers what the model segments', { timeout: 240_000 }, async () => {
  const e = await example('segment.yaml');
  const input = still(e.dir, 'face-demographics-walking-and-pause.mp4', 2);
  const r = await roundTrip(e.dir, e.cmd, e.cam, e.view, input);
  const m = changed(r.input, r.output);
  const fpsBox = (x: number, y: number) => x > W - 120 && y < 30;
  const tinted = fraction(m, fpsBox, false);
  // What the model itself segments on that frame (people: SOURCES.md says 43-49 % on this clip).
  const model = join(ASSETS, 'models/deeplabv3/deeplabv3_mnv2_voc_257.onnx');
  const j = await sluice(['launch', '-q', 'uri', `location=${input}`, 'num-frames=1', '!', 'infer', `model=${model}`, 'adapter=segment', '!', 'meta', `location=${join(e.dir, 'm.jsonl')}`]);
  assert.equal(j.code, 0, j.stderr);
  const fractions = JSON.parse(readFileSync(join(e.dir, 'm.jsonl'), 'utf8').split('\n')[0]!).mask.fractions as Record<string, number>;
  const fg = 1 - (fractions.__background__ ?? 0);
  assert.ok(fg > 0.2, `model foreground ${fg}`);
  assert.ok(Math.abs(tinted - fg) < 0.12, `tinted ${tinted.toFixed(3)} vs segmented ${fg.toFixed(3)}`);
});
