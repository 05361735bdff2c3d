// What a new user types by mistake fails before start (or ends with a warning) and loses
// nothing: no input truncated by an output on top of it, no folders made by a typo, no queue
// eating gigabytes, no demux output that can never get a frame, no silent truncated input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { sluice, tmp } from './helpers.ts';

function clip(dir: string, frames = 60, extra: string[] = []): string {
  const f = join(dir, 'in.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', ...extra, f]);
  return f;
}

test('an output on top of an input (same path, relative or through a link) is refused before anything opens', async () => {
  const dir = tmp();
  const input = clip(dir);
  const size = statSync(input).size;
  symlinkSync(input, join(dir, 'link.mp4'));
  for (const out of [input, 'in.mp4', join(dir, 'link.mp4')]) {
    const r = await sluice(['launch', `uri location=${input} ! file location=${out}`], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /SLUICE_ERR_SAME_FILE: file0 would write .*in\.mp4, which uri0 reads; give file0 another location/);
  }
  assert.equal(statSync(input).size, size, 'the input is untouched');
  // Two outputs into one file, too.
  const two = await sluice(['launch', `testsrc num-frames=2 ! tee name=t  t. ! queue ! file location=${join(dir, 'o.mp4')}  t. ! queue ! meta location=${join(dir, 'o.mp4')}`], { cwd: dir });
  assert.match(two.stderr, /SLUICE_ERR_SAME_FILE: meta0 would write .*o\.mp4, which file0 writes too/);
});

test('an output folder that does not exist is an error, unless create-dirs=true', async () => {
  const dir = tmp();
  const missing = join(dir, 'no', 'such', 'dir');
  const r = await sluice(['launch', `testsrc num-frames=2 ! file location=${join(missing, 'x.mp4')}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_IO: file0: directory .*no\/such\/dir does not exist; create it, or set create-dirs=true/);
  assert.equal(existsSync(join(dir, 'no')), false, 'nothing was created');
  const m = await sluice(['launch', `testsrc num-frames=2 ! meta location=${join(missing, 'm.jsonl')}`]);
  assert.match(m.stderr, /SLUICE_ERR_IO: meta0: directory .* does not exist/);
  const ok = await sluice(['launch', '-q', `testsrc num-frames=2 ! file create-dirs=true location=${join(missing, 'x.mp4')}`]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(statSync(join(missing, 'x.mp4')).size > 0);
});

test('queue max-bytes bounds memory when max-size is huge (default 256 MiB, or as set)', async () => {
  // 640x480 yuv420p = 460,800 bytes a frame; 5 MB holds 11.
  const p = launch('testsrc num-frames=120 width=640 height=480 ! queue max-size=100000 max-bytes=5000000 ! identity delay=2 ! fakesink');
  const r = await p.run();
  const hw = r.elements.queue0!.queue.highWater;
  assert.equal(r.elements.fakesink0!.framesIn, 120, 'blocking, not dropping');
  assert.ok(hw >= 8 && hw <= 12, `high water ${hw} frames for 5 MB`);
  const cap = launch('testsrc num-frames=150 width=1920 height=1080 ! queue max-size=100000 ! identity delay=8 ! fakesink');
  const rc = await cap.run();
  // 1080p yuv420p is 3.1 MB: the default 256 MiB cap holds ~85 of the 100,000 allowed.
  const chw = rc.elements.queue0!.queue.highWater;
  assert.ok(chw >= 60 && chw <= 90, `default cap: high water ${chw} frames of 1080p`);
});

test('demux outputs for streams that do not exist fail before start', async () => {
  const r = await sluice(['launch', 'testsrc num-frames=5 ! mux name=m ! demux name=d  d.src_0 ! fakesink  d.src_7 ! fakesink']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_LINK: d: output src_7 is for stream 7, but the streams reaching d are 0; link src_0/);
  const ok = await sluice(['launch', '-q', 'testsrc num-frames=5 ! m.  testsrc num-frames=5 ! m.  mux name=m ! demux name=d  d.src_0 ! fakesink  d.src_1 ! fakesink']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a truncated input ends with a warning that counts the frames lost', async () => {
  const dir = tmp();
  const whole = clip(dir, 90, ['-movflags', '+faststart']);
  const cut = join(dir, 'cut.mp4');
  const bytes = readFileSync(whole);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.5)));
  const r = await sluice(['launch', '--report', join(dir, 'r.json'), `uri location=${cut} ! fakesink`]);
  assert.equal(r.code, 0, r.stderr);
  const frames = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).frames as number;
  assert.ok(frames > 0 && frames < 90);
  assert.match(r.stderr, new RegExp(`warning: uri0: .*cut\\.mp4 ended after ${frames} of the 90 frames it declares: the file is truncated or corrupt \\(${90 - frames} frames lost\\)`));
  const full = await sluice(['launch', '-q', `uri location=${whole} ! fakesink`]);
  assert.doesNotMatch(full.stderr, /truncated/);
});

test('an odd size for the h264 encoder fails before start with the rule, not "Generic error in an external library"', async () => {
  const out = join(tmp(), 'o.mp4');
  const r = await sluice(['launch', `testsrc num-frames=3 ! scale width=33 height=17 ! file location=${out}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SLUICE_ERR_FORMAT: cannot link scale0\.src to file0\.sink: scale0 makes 33x17 frames, but h264 \(libx264, 4:2:0\) needs an even width and height of at least 2: scale to an even size first \(e\.g\. scale width=32 height=16\)/);
  assert.equal(existsSync(out), false, 'nothing was opened');
  // A size only known once frames flow (here after a queue) fails at the first frame, with the same rule.
  const late = await sluice(['launch', `testsrc num-frames=3 ! scale width=33 height=17 ! queue ! file location=${out}`]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /SLUICE_ERR_FORMAT: h264 \(libx264, 4:2:0\) needs an even width and height of at least 2: .*; the frames are 33x17/);
  // mjpeg takes odd sizes.
  const mj = await sluice(['launch', '-q', `testsrc num-frames=3 ! scale width=33 height=17 ! file codec=mjpeg location=${join(tmp(), 'o.mkv')}`]);
  assert.equal(mj.code, 0, mj.stderr);
});
