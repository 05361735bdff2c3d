// encode's threads (issue 25): the count asked for is what x264 runs with (read back from the
// options string x264 writes into the stream, not from Sluice), zerolatency means slice threads,
// the cost is in the report, and an encode call leaves the main thread free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { VideoSource } from '../src/media/source.ts';
import { Scaler } from '../src/media/scale.ts';
import { VideoEncoder, encoderThreads, MAX_AUTO_THREADS } from '../src/media/writer.ts';
import { getLogger } from '../src/core/log.ts';
import { encodeHint } from '../src/elements/encode.ts';
import { media, sluice, tmp } from './helpers.ts';

/** x264's own account of its settings: the SEI options string in the file. */
function x264Options(file: string): { threads: number; sliced: number } {
  const m = /options: (.*?)\x00|options: ([^\x00]*)/.exec(readFileSync(file).toString('latin1'));
  assert.ok(m, `${file} carries no x264 options string`);
  const text = m[1] ?? m[2]!;
  const get = (k: string) => Number(new RegExp(`(?:^| )${k}=(\\d+)`).exec(text)?.[1] ?? NaN);
  return { threads: get('threads'), sliced: get('sliced_threads') };
}

test('encode threads: the count and kind asked for are what x264 runs with; the report shows the cost', async () => {
  const dir = tmp();
  const cases = [
    // One thread is not sliced (x264 turns slices off).
    { props: 'tune=zerolatency threads=1', threads: 1, sliced: 0 },
    { props: 'tune=zerolatency threads=2', threads: 2, sliced: 1 },
    // Auto: the cores, as slice threads (640x360 has 23 macroblock rows: room for 5 slices).
    { props: 'tune=zerolatency', threads: Math.min(availableParallelism(), 5), sliced: 1 },
    // Without zerolatency: frame threads, 1.5 a core.
    { props: 'threads=2', threads: 2, sliced: 0 },
  ];
  for (const c of cases) {
    const out = join(dir, `t${cases.indexOf(c)}.mkv`);
    const report = join(dir, `r${cases.indexOf(c)}.json`);
    const r = await sluice(['launch', '-q', '--report', report, `uri location=${media('car-detection.mp4')} num-frames=20 ! scale width=640 height=360 ! encode preset=veryfast ${c.props} ! file location=${out}`], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const x = x264Options(out);
    assert.deepEqual(x, { threads: c.threads, sliced: c.sliced }, `encode ${c.props}: x264 says ${JSON.stringify(x)}`);
    const enc = JSON.parse(readFileSync(report, 'utf8')).elements.encode0.resolved;
    assert.equal(enc.threads, c.threads, `the report's threads for ${c.props}`);
    assert.equal(enc.slicedThreads, c.sliced === 1);
    assert.equal(enc.preset, 'veryfast');
    assert.equal(enc.tune, c.props.includes('zerolatency') ? 'zerolatency' : 'none');
    assert.equal(enc.framesEncoded, 20);
    assert.ok(enc.encodeMsP50 > 0 && enc.encodeMsP99 >= enc.encodeMsP50, JSON.stringify(enc));
  }
});

test('encode threads: auto is the cores, capped; given counts are kept', () => {
  assert.deepEqual(encoderThreads({ codec: 'h264', tune: 'zerolatency' }, 2), { count: 2, sliced: true });
  assert.deepEqual(encoderThreads({ codec: 'h264', tune: 'zerolatency' }, 128), { count: MAX_AUTO_THREADS, sliced: true });
  assert.deepEqual(encoderThreads({ codec: 'h264', tune: 'none' }, 2), { count: 3, sliced: false });
  assert.deepEqual(encoderThreads({ codec: 'h264', tune: 'zerolatency', threads: 24 }, 2), { count: 24, sliced: true });
  assert.deepEqual(encoderThreads({ codec: 'mjpeg' }, 64), { count: 8, sliced: false });
});

test('encode threads: a 1080p encode call leaves the main thread free (node-av runs it on libuv\'s pool)', async () => {
  const src = new VideoSource({ location: media('car-detection.mp4'), hw: 'none', loop: false, log: getLogger('test') });
  await src.open();
  const scaler = new Scaler({ width: 1920, height: 1080, format: 'yuv420p', letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
  const pictures = [];
  for (let i = 0; i < 12; i++) {
    const d = await src.next();
    assert.ok(d);
    pictures.push((await scaler.scale(d.av)).av);
    d.av.free();
  }
  await src.close();
  scaler.close();
  // preset=medium, one thread: tens of ms a frame, long enough to see a blocked loop.
  const enc = new VideoEncoder({ codec: 'h264', fps: 30, preset: 'medium', crf: 23, bitrate: 0, gop: 30, tune: 'zerolatency', quality: 4, globalHeader: false, threads: 1 });
  let wall = 0;
  let active = 0;
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 2);
  for (const [i, av] of pictures.entries()) {
    const e0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    for (const p of await enc.encode(av, i / 30, 30)) p.free();
    wall += performance.now() - t0;
    active += performance.eventLoopUtilization(e0).active;
    av.free();
  }
  clearInterval(timer);
  for (const p of await enc.flush()) p.free();
  enc.close();
  // A call run on the main thread would keep it busy for its whole duration and no timer would fire.
  assert.ok(active < wall * 0.5, `main thread busy ${active.toFixed(1)} of ${wall.toFixed(1)} ms of encoding`);
  assert.ok(ticks >= wall / 2 / 4, `only ${ticks} timer ticks in ${wall.toFixed(0)} ms of encoding`);
});

test('encode threads: the property is in sluice inspect', async () => {
  const r = await sluice(['inspect', 'encode']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /threads: int \[0\.\.128\], default 0\n\s+encoder threads; 0: auto/);
  // A pipeline made from the library takes it too.
  assert.equal(launch('testsrc num-frames=1 ! encode threads=3 ! fakesink').nodes.find((n) => n.def.name === 'encode')!.props.threads, 3);
});

test('encode threads: file reports the encoder it runs for raw frames; the hint offers the idle cores', async () => {
  const dir = tmp();
  const out = join(dir, 'f.mp4'), report = join(dir, 'r.json');
  const r = await sluice(['launch', '-q', '--report', report, `uri location=${media('car-detection.mp4')} num-frames=12 ! scale width=640 height=360 ! file location=${out} tune=zerolatency threads=1`], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const f = JSON.parse(readFileSync(report, 'utf8')).elements.file0.resolved;
  assert.equal(f.threads, x264Options(out).threads);
  assert.equal(f.threads, 1);
  assert.equal(f.framesEncoded, 12);
  const hint = encodeHint({ codec: 'h264', preset: 'veryfast', threads: 1 });
  if (availableParallelism() > 1) assert.match(hint, /^try threads=0 \(\d+ threads\), preset=ultrafast, /);
  assert.doesNotMatch(encodeHint({ codec: 'h264', preset: 'veryfast', threads: 0 }), /threads=/);
});
