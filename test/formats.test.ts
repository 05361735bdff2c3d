// Pixel formats in pad templates: where a link's formats do not meet, frames are converted on
// the way in (as libavfilter inserts scale), known formats are checked when linking, and with no
// converter the link fails before start naming both pads and their formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { launch, SluiceError } from '../src/index.ts';
import { setFormatConverter } from '../src/core/pipeline.ts';
import { swscaleConverter } from '../src/media/convert.ts';
import { pipelineDot } from '../src/core/dot.ts';
import { ffprobe, tmp } from './helpers.ts';

test('scale format=rgb24 ! osd: the rgb frames are converted for osd (which edits planar YUV), with one warning', async () => {
  const out = join(tmp(), 'o.mp4');
  const p = launch(`testsrc pattern=objects num-frames=12 width=160 height=120 ! scale format=rgb24 ! osd truth=true ! file location=${out}`);
  assert.match(pipelineDot(p), /converts rgb24 -> yuv420p/, 'planned at link time, shown in the graph');
  const warnings: string[] = [];
  const formats: string[] = [];
  p.bus.on('warning', (m) => warnings.push(m.message));
  p.addProbe('osd0.src', (f) => { formats.push(f.format); });
  await p.run();
  assert.equal(warnings.filter((w) => /converting rgb24 frames to yuv420p for osd0.sink/.test(w)).length, 1, warnings.join('\n'));
  assert.ok(formats.length === 12 && formats.every((f) => f === 'yuv420p'));
  assert.equal(ffprobe(out).frames, 12);
});

test('formats nobody knew before start (a 4:2:2 file) are converted when they arrive', async () => {
  const dir = tmp();
  const src = join(dir, 'in422.mkv');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=30', '-frames:v', '10', '-pix_fmt', 'yuv422p', '-c:v', 'ffv1', src]);
  const p = launch(`uri location=${src} ! blur ! fakesink`);
  const before: string[] = [], after: string[] = [];
  p.addProbe('uri0.src', (f) => { before.push(f.format); });
  p.addProbe('blur0.src', (f) => { after.push(f.format); });
  await p.run();
  assert.deepEqual([...new Set(before)], ['yuv422p']);
  assert.deepEqual([...new Set(after)], ['yuv420p']);
});

test('without a converter, formats that cannot meet fail at link time, naming both pads and formats', () => {
  setFormatConverter(null);
  try {
    assert.throws(() => launch('testsrc num-frames=1 ! scale format=rgb24 ! osd ! fakesink'),
      (e: SluiceError) => e.code === 'SLUICE_ERR_CAPS' && /cannot link scale0\.src to osd0\.sink: scale0 makes rgb24 frames but osd0 takes yuv420p \| yuvj420p \| yuv444p \| gray; put "scale format=yuv420p" between them/.test(e.message));
    // Formats that meet need nothing.
    assert.doesNotThrow(() => launch('testsrc num-frames=1 ! scale format=yuv444p ! osd ! fakesink'));
  } finally {
    setFormatConverter(swscaleConverter);
  }
});
