import { test } from 'node:test';
import { writeColourModel } from '../src/infer/colour-model.ts';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ffprobe, freePort, media, sluice, tmp } from './helpers.ts';
import { iou } from '../src/infer/nms.ts';
import type { Box } from '../src/core/frame.ts';

test('launch writes a report that counts 300 frames into fakesink', async () => {
  const dir = tmp();
  const r = await sluice(['launch', 'testsrc pattern=objects num-frames=300 ! fakesink', '--report', join(dir, 'r.json')]);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(rep.frames, 300);
  assert.equal(rep.elements.fakesink0.framesIn, 300);
  assert.equal(rep.elements.testsrc0.framesOut, 300);
  for (const e of Object.values(rep.elements) as Record<string, unknown>[]) {
    for (const k of ['framesIn', 'framesOut', 'fps', 'busy', 'latencyMs', 'dropped', 'queue']) assert.ok(k in e, k);
  }
  assert.ok(rep.wallSeconds > 0);
  assert.match(rep.bottleneck.text, /testsrc0|fakesink0|no element/);
  // The end-of-run table names every element.
  assert.match(r.stderr, /testsrc0\s+testsrc\s+0\s+300/);
});

test('bad input: unknown element, bad property, missing file exit non-zero with coded messages', async () => {
  const a = await sluice(['launch', 'testsrc ! nosuch ! fakesink']);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /SLUICE_ERR_NO_ELEMENT: no element named "nosuch"/);
  assert.match(a.stderr, /testsrc ! nosuch ! fakesink\n {12}\^{6}/);
  const b = await sluice(['launch', 'testsrc pattern=zebra ! fakesink']);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /property "pattern".*objects, bars, noise, black/);
  const c = await sluice(['launch', 'uri location=/missing/input.mp4 ! fakesink']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /SLUICE_ERR_FILE_NOT_FOUND.*\/missing\/input\.mp4/);
  // An error while playing (not caught before start) is the same coded error with exit 1, and
  // the process ends: no crash from an unheard bus 'error' event, no worker keeping it alive.
  const d = await sluice(['launch', '--report', join(tmp(), 'r.json'), `testsrc num-frames=30 ! scale width=33 height=17 ! infer model=${writeColourModel(32, 24).model} ! file location=${join(tmp(), 'odd.mp4')}`], { timeoutMs: 90_000 });
  assert.equal(d.code, 1, d.stderr);
  assert.match(d.stderr, /error: SLUICE_ERR_FORMAT: .*needs an even width and height/);
  assert.doesNotMatch(d.stderr, /internal error/);
});

test('inspect lists every element and shows one element\'s properties and defaults', async () => {
  const all = await sluice(['inspect']);
  for (const n of ['uri', 'testsrc', 'scale', 'queue', 'tee', 'rate', 'identity', 'encode', 'file', 'meta', 'fakesink']) {
    assert.match(all.stdout, new RegExp(`^${n}\\s`, 'm'), n);
  }
  const uri = await sluice(['inspect', 'uri']);
  assert.match(uri.stdout, /location: string, default ""/);
  assert.match(uri.stdout, /hw: auto\|cuda\|none, default "auto"/);
  assert.match(uri.stdout, /loop: boolean, default false/);
  const v = await sluice(['--version']);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  assert.equal((await sluice(['-V'])).stdout, v.stdout);
});

test('gst-launch habits: -v prints links with caps and formats and the given properties, -e is accepted, --debug sets levels', async () => {
  const r = await sluice(['launch', '-v', '-e', '-q', 'testsrc num-frames=5 width=64 height=48 ! scale width=32 height=24 format=gray ! fakesink']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\/testsrc0 \(testsrc\): width=64 height=48 num-frames=5/);
  assert.match(r.stderr, /\/testsrc0\.src -> \/scale0\.sink: caps = video\/x-raw, format = yuv420p/);
  assert.match(r.stderr, /\/scale0\.src -> \/fakesink0\.sink_0: caps = video\/x-raw, format = gray/);
  assert.match(r.stderr, /state: paused -> playing/);
  const d = await sluice(['launch', '--debug', 'uri:4', '-q', `uri location=${media('one-by-one-person-detection.mp4')} num-frames=2 ! fakesink`]);
  assert.match(d.stderr, /uri.*768x432 @ 10\.00 fps, CPU decode/);
  const quiet = await sluice(['launch', '-q', `uri location=${media('one-by-one-person-detection.mp4')} num-frames=2 ! fakesink`]);
  assert.doesNotMatch(quiet.stderr, /CPU decode/);
});

test('run FILE.yaml runs the same elements; errors point at line:column', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'p.yaml'), `elements:\n  - testsrc: { num-frames: 20, width: 64, height: 48 }\n  - meta: { location: ${join(dir, 'm.jsonl')} }\n`);
  const r = await sluice(['run', join(dir, 'p.yaml'), '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'm.jsonl'), 'utf8').trim().split('\n').length, 20);
  writeFileSync(join(dir, 'bad.yaml'), 'elements:\n  - testsrc\n  - fakesink: { bogus: 1 }\n');
  const b = await sluice(['run', join(dir, 'bad.yaml')]);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /no property "bogus"/);
  assert.match(b.stderr, /bad\.yaml:3:17/);
});

test('Ctrl-C stops an endless pipeline of synchronous elements (it still yields to the event loop)', async () => {
  const dir = tmp();
  // Unpaced testsrc into fakesink: every step resolves at once, so without a yield the signal
  // handler, timers and sockets would never run.
  // (--metrics prints a line once the CLI is up: the interrupt comes a second after it.)
  const r = await sluice(['launch', 'testsrc width=160 height=120 ! fakesink', '--report', join(dir, 'r.json'), '--metrics', String(await freePort())], {
    timeoutMs: 30_000,
    onSpawn: (p) => { p.stderr!.once('data', () => setTimeout(() => p.kill('SIGINT'), 1000)); },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /interrupt: finishing/);
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.ok(rep.elements.fakesink0.framesIn > 100, `frames ${rep.elements.fakesink0.framesIn}`);
  assert.equal(rep.elements.fakesink0.framesIn, rep.elements.testsrc0.framesOut, 'everything produced was drained');
});

test('Ctrl-C drains with EOS and the mp4 is finalised and playable', async () => {
  const dir = tmp();
  const out = join(dir, 'live.mp4');
  let sent = false;
  const r = await sluice(['launch', `testsrc pattern=objects live=true fps=30 width=320 height=240 ! file location=${out}`, '--report', join(dir, 'r.json')], {
    onSpawn: (p) => {
      // Interrupt once the file exists and frames have been flowing for a while (a loaded
      // machine may take seconds to start the process).
      const poll = setInterval(() => {
        if (!existsSync(out)) return;
        clearInterval(poll);
        setTimeout(() => { sent = true; p.kill('SIGINT'); }, 1500);
      }, 100);
    },
  });
  assert.ok(sent);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /interrupt: finishing/);
  const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  const p = ffprobe(out);
  assert.ok(p.frames >= 20, `frames ${p.frames}`);
  assert.equal(p.frames, rep.elements.file0.framesIn, 'every frame that reached the sink is in the file');
});

test('demo runs with nothing downloaded and writes demo.mp4 plus its report', async () => {
  const dir = tmp();
  const r = await sluice(['demo', '--frames', '60', '-q'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'demo-report.json')));
  const p = ffprobe(join(dir, 'demo.mp4'));
  // Two cameras tiled side by side: one composite per pair of frames.
  assert.deepEqual([p.frames, p.width, p.height], [60, 1920, 540]);
  assert.match(r.stderr, /wrote demo\.mp4 \(60 frames\)/, 'the line counts the frames in the file, not both streams\' frames');
  const meta = readFileSync(join(dir, 'demo-meta.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(meta.length, 120);
  assert.deepEqual(new Set(meta.map((l) => l.stream)), new Set([0, 1]));
  // The built-in model finds the fully visible objects where the ground truth says they are
  // (a few merge with a touching object of the same colour: one region, one box).
  const names = ['red', 'green', 'blue', 'yellow'];
  let visible = 0, found = 0;
  for (const l of meta) {
    assert.equal(l.truth.length, 5);
    if (l.frame < 2) continue; // tracks confirm after two hits
    for (const t of l.truth) {
      if (t.visible < 1) continue;
      visible++;
      const o = l.objects.find((o: { label: string; box: Box }) => o.label === names[t.class] && iou(o.box, t.box) > 0.8);
      if (o && typeof o.track === 'number') found++;
    }
  }
  // Detected and tracked (with ids) where the ground truth says.
  assert.ok(visible > 100 && found >= 0.95 * visible, `found ${found} of ${visible}`);
  assert.ok(meta.some((l) => l.events.some((e: { type: string }) => e.type === 'line-cross')), 'objects cross the counting line');
  const rep = JSON.parse(readFileSync(join(dir, 'demo-report.json'), 'utf8'));
  assert.equal(rep.elements.blur0.framesIn, 120);
  assert.equal(rep.elements.tile0.framesOut, 60);
});

test('progress: ffmpeg-style blocks with --progress (position, duration, speed, end), and a plain line every 5 s in a log', { timeout: 60_000 }, async () => {
  const f = join(tmp(), 'progress.txt');
  const r = await sluice(['launch', '--progress', f, `uri location=${media('one-by-one-person-detection.mp4')} num-frames=300 ! identity delay=5 ! fakesink`]);
  assert.equal(r.code, 0, r.stderr);
  const blocks = readFileSync(f, 'utf8').trim().split(/(?<=progress=(?:continue|end))\n/).map((b) => Object.fromEntries(b.split('\n').map((l) => l.split('=') as [string, string])));
  const last = blocks.at(-1)!;
  assert.equal(last.progress, 'end');
  assert.equal(last.frame, '300');
  // 300 frames of a 10 fps file: 29.9 s of it, out of the 30 s it was cut to.
  assert.equal(last.out_time_us, '29900000');
  assert.equal(last.duration_us, '30000000');
  assert.ok(blocks.length >= 2 && blocks.slice(0, -1).every((b) => b.progress === 'continue'));
  assert.ok(Number(last.speed!.replace('x', '')) > 1, `speed ${last.speed}`);
  // Not a terminal: a line every 5 s, as a CI log would show it.
  const live = await sluice(['launch', 'testsrc live=true fps=30 num-frames=200 width=64 height=48 ! fakesink']);
  assert.match(live.stderr, /^frame=\s+\d+ fps=\s*[\d.]+ time=00:00:0\d\.\d\d$/m); // live: no speed
});
