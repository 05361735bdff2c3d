import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ASSETS, media, sluice, tmp } from './helpers.ts';

const env = (extra: Record<string, string>) => ({ ...process.env, ...extra });

test('models pull copies from the offline mirror, verifies sha256, and infer finds it by name', async () => {
  const cache = tmp();
  const r = await sluice(['models', 'pull', 'yunet'], { env: env({ SLUICE_MODEL_DIR: join(ASSETS, 'models'), XDG_CACHE_HOME: cache }) });
  assert.equal(r.code, 0, r.stderr);
  const path = r.stdout.trim();
  assert.ok(path.startsWith(cache) && existsSync(path), path);
  // Now the name resolves from the cache alone (no mirror).
  const dir = tmp();
  const run = await sluice(['launch', `uri location=${media('face-demographics-walking-and-pause.mp4')} num-frames=5 ! infer model=yunet ! meta location=${join(dir, 'm.jsonl')}`, '-q'], { env: env({ XDG_CACHE_HOME: cache, SLUICE_MODEL_DIR: '' }) });
  assert.equal(run.code, 0, run.stderr);
  const list = await sluice(['models', 'list'], { env: env({ XDG_CACHE_HOME: cache, SLUICE_MODEL_DIR: '' }) });
  assert.match(list.stdout, new RegExp(`yunet .*${path.replace(/[.]/g, '\\.')}`));
  assert.match(list.stdout, /yolox_nano .*not cached/);
});

test('models pull refuses a file whose sha256 does not match', async () => {
  const mirror = tmp();
  mkdirSync(join(mirror, 'yunet'));
  writeFileSync(join(mirror, 'yunet', 'face_detection_yunet_120x160.onnx'), 'tampered');
  const r = await sluice(['models', 'pull', 'yunet'], { env: env({ SLUICE_MODEL_DIR: mirror, XDG_CACHE_HOME: tmp() }) });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /SLUICE_ERR_MODEL: yunet: sha256 .* does not match/);
});

test('doctor names each execution provider and why an unusable one is unusable', async () => {
  const r = await sluice(['doctor']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cpu\s+usable/);
  assert.match(r.stdout, /cuda\s+(usable|missing)\s+\S/);
  assert.match(r.stdout, /Hardware decoding/);
  if (/cuda\s+missing/.test(r.stdout)) assert.match(r.stdout, /libonnxruntime_providers_cuda\.so|NVIDIA driver/);
});

test('quiet by default: on a machine with no NVIDIA GPU, ep=auto runs on the CPU without a warning, and advice names no GPU', async () => {
  const { nvidiaDriverPresent } = await import('../src/infer/backends.ts');
  const r = await sluice(['launch', `testsrc num-frames=3 width=64 height=48 ! infer model=${join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx')} ! encode ! fakesink`]);
  assert.equal(r.code, 0, r.stderr);
  if (nvidiaDriverPresent()) assert.match(r.stderr, /ep=auto: running on cpu because/);
  else {
    assert.doesNotMatch(r.stderr, /warning: .*ep=auto/);
    assert.doesNotMatch(r.stderr, /H100|H200|NVENC|ep=cuda/);
  }
});

test('a known model that is not here says the exact pull command', async () => {
  const r = await sluice(['launch', '-q', 'testsrc num-frames=2 ! infer model=reid ! fakesink'], { env: { ...process.env, SLUICE_MODEL_DIR: tmp(), SLUICE_CACHE_DIR: tmp() } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_MODEL: model reid is not in .*; fetch it with "sluice models pull reid"/);
});
