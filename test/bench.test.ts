// `sluice bench`, run as users run it: the real CLI on real pipelines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASSETS, sluice, tmp } from './helpers.ts';
import { launch } from '../src/index.ts';
import { encodeHint } from '../src/elements/encode.ts';
import type { BenchResult } from '../src/cli/bench.ts';

interface BenchJson { machine: { cpus: number; node: string }; runs: number; results: BenchResult[] }

test('bench: a launch pipeline runs --runs times; the median run, its per-element report and verdict are written', { timeout: 120_000 }, async () => {
  const out = join(tmp(), 'bench.json');
  const r = await sluice(['bench', '--runs', '3', '--json', out, 'testsrc', 'num-frames=90', 'width=320', 'height=240', '!', 'scale', 'width=160', 'height=120', '!', 'fakesink']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(out, 'utf8')) as BenchJson;
  assert.equal(j.results.length, 1);
  const res = j.results[0]!;
  assert.equal(res.runs.length, 3);
  for (const run of res.runs) {
    assert.equal(run.frames, 90);
    assert.ok(Math.abs(run.fps - run.frames / run.wallSeconds) / run.fps < 0.02, `fps ${run.fps} vs ${run.frames} / ${run.wallSeconds}`);
  }
  // The reported fps is the middle of the three runs, and the report is that run's.
  const sorted = res.runs.map((x) => x.fps).sort((a, b) => a - b);
  assert.equal(res.fps, sorted[1]);
  assert.equal(res.report.fps, res.fps);
  assert.equal(res.report.elements.fakesink0!.framesIn, 90);
  assert.equal(res.report.elements.scale0!.framesOut, 90);
  assert.match(res.report.bottleneck!.text, /testsrc0|scale0|fakesink0/);
  assert.ok(j.machine.cpus >= 1 && j.machine.node.startsWith('v'));
  // The table on stdout: the case with its fps, then the per-element table.
  assert.match(r.stdout, new RegExp(`pipeline\\s+${res.fps.toFixed(1)}`));
  assert.match(r.stdout, /scale0/);
});

test('bench --seconds stops an endless live source after that long of playing', { timeout: 60_000 }, async () => {
  const out = join(tmp(), 'live.json');
  const r = await sluice(['bench', '--runs', '1', '--seconds', '1.5', '--json', out, 'testsrc', 'live=true', 'fps=20', 'width=160', 'height=120', '!', 'fakesink']);
  assert.equal(r.code, 0, r.stderr);
  const run = (JSON.parse(readFileSync(out, 'utf8')) as BenchJson).results[0]!.runs[0]!;
  // 20 fps paced for 1.5 s: about 30 frames and the rate of the source, not of the machine.
  assert.ok(run.frames >= 25 && run.frames <= 36, `frames ${run.frames}`);
  assert.ok(Math.abs(run.fps - 20) < 3, `fps ${run.fps}`);
});

test('bench: a bad pipeline or option fails before anything runs, with a coded error', async () => {
  const bad = await sluice(['bench', 'testsrc', '!', 'fakesnk']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SLUICE_ERR_\w+.*fakesnk/);
  assert.doesNotMatch(bad.stderr, /run 1/);
  const runs = await sluice(['bench', '--runs', '0', 'testsrc', '!', 'fakesink']);
  assert.equal(runs.code, 1);
  assert.match(runs.stderr, /--runs must be a whole number >= 1/);
});

test('bench without a pipeline: the built-in suite generates its input and measures every stage', { timeout: 300_000 }, async () => {
  const out = join(tmp(), 'suite.json');
  const r = await sluice(['bench', '--runs', '1', '--frames', '30', '--json', out]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(out, 'utf8')) as BenchJson;
  // Each decode case twice: on the testsrc clip and on the realistic clip (the test media are here).
  assert.deepEqual(j.results.map((x) => x.name.split(' ')[0]), ['testsrc', 'decode', 'decode', 'decode', 'decode', 'encode', 'infer', 'decode', 'decode']);
  assert.deepEqual(j.results.filter((x) => x.name.startsWith('decode')).map((x) => x.name.match(/\((testsrc clip|real scene 1080p [\d.]+ Mbit\/s)\)$/)?.[1].split(' ')[0]), ['testsrc', 'real', 'testsrc', 'real', 'testsrc', 'real']);
  for (const res of j.results) {
    assert.equal(res.runs[0]!.frames, 30, res.name);
    assert.ok(res.fps > 0, res.name);
    // Every element of the case saw every frame (nothing silently skipped), and the verdict
    // names one of the case's own elements.
    const names = Object.keys(res.report.elements);
    for (const [name, e] of Object.entries(res.report.elements)) assert.equal(name.startsWith('testsrc') || name.startsWith('uri') ? e.framesOut : e.framesIn, 30, `${res.name}: ${name}`);
    // An element of the case, or the main thread they share (a loaded box saturates it first).
    assert.ok(names.includes(res.report.bottleneck!.element) || res.report.bottleneck!.element === 'main-thread', `${res.name}: ${res.report.bottleneck!.text}`);
  }
  // The inference case spent measurable time per frame in the model.
  assert.ok(j.results.find((x) => x.name.startsWith('infer'))!.report.elements.infer0!.latencyMs.p50 > 0);
  assert.match(r.stdout, /decode 1080p H\.264 \(testsrc clip\)\s+\d/);
  assert.match(r.stdout, /decode 1080p H\.264 \(real scene 1080p [\d.]+ Mbit\/s\)\s+\d/);
  assert.match(r.stderr, /realistic clip: .* Mbit\/s by (ffprobe|size\/duration)/);
});

test('the verdict\'s advice follows how the bottleneck element really runs', { timeout: 120_000 }, async () => {
  const model = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');
  const cpu = await launch(`testsrc width=320 height=240 num-frames=40 ! infer model=${model} ep=cpu workers=1 ! fakesink`, { statsIntervalMs: 0 }).run();
  assert.equal(cpu.bottleneck!.element, 'infer0');
  // GPU advice only on a machine with an NVIDIA GPU.
  const { nvidiaDriverPresent } = await import('../src/infer/backends.ts');
  assert.match(cpu.bottleneck!.text, nvidiaDriverPresent() ? /try ep=cuda, or workers=2 \(1 session\(s\) now/ : /try workers=2 \(1 session\(s\) now.*\), a smaller model, interval=N/);
  const x264 = await launch('testsrc width=1280 height=720 num-frames=40 ! encode preset=medium ! fakesink', { statsIntervalMs: 0 }).run();
  assert.equal(x264.bottleneck!.element, 'encode0');
  assert.match(x264.bottleneck!.text, /try preset=faster,/);
  // At the fastest preset there is no faster one to suggest.
  assert.doesNotMatch(encodeHint({ codec: 'h264', preset: 'ultrafast' }), /try preset/);
});

test('the verdict names the main thread when elements share a saturated event loop, not one of them', { timeout: 60_000 }, async () => {
  // Six elements each spin the one thread for ~1/6 of a frame's time: none is the bottleneck alone.
  const r = await launch(`testsrc num-frames=150 width=64 height=48 ! ${Array.from({ length: 6 }, () => 'identity busy=1').join(' ! ')} ! fakesink`).run();
  assert.ok(r.mainThread && r.mainThread.busy >= 0.9, `event loop ${r.mainThread?.busy}`);
  // (Each one's busy share also counts its waits for the loop while the others spin.)
  for (let i = 0; i < 6; i++) assert.ok(r.elements[`identity${i}`]!.busy < 0.75, `identity${i} ${r.elements[`identity${i}`]!.busy}`);
  assert.equal(r.bottleneck!.element, 'main-thread');
  assert.match(r.bottleneck!.text, /^the main thread is saturated \(event loop \d+% busy\); the elements sharing it: identity\d \d+%, identity\d \d+%, identity\d \d+%, identity\d \d+%/);
  // One slow element alone is still named as such (the loop is busy because of it).
  const one = await launch('testsrc num-frames=60 width=64 height=48 ! identity busy=5 ! fakesink').run();
  assert.equal(one.bottleneck!.element, 'identity0');
  // A pipeline that waits (delay) leaves the loop idle.
  const idle = await launch('testsrc num-frames=20 width=64 height=48 ! identity delay=10 ! fakesink').run();
  assert.ok(idle.mainThread!.busy < 0.5, `idle loop ${idle.mainThread!.busy}`);
});
