import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { AVPixels } from '../src/media/av.ts';
import { ffprobe, tmp } from './helpers.ts';

// Native frames are invisible to V8: if any element forgot to release one, RSS would climb by
// ~3 MB per 1080p frame. 2,000 frames would leak ~6 GB; we allow a few tens of MB of noise.
test('2,000 decoded 1080p frames through decode, tee, scale and encode keep RSS flat', { timeout: 300_000 }, async () => {
  const clip = join(tmp(), 'clip1080.mp4');
  await launch(`testsrc pattern=objects width=1920 height=1080 num-frames=100 ! file preset=ultrafast location=${clip}`).run();
  assert.equal(ffprobe(clip).frames, 100);

  const out = join(tmp(), 'small.mkv');
  const p = launch(`uri location=${clip} loop=true num-frames=2000 ! tee name=t t. ! queue ! scale width=320 height=180 ! file codec=mjpeg location=${out} t. ! queue leaky=oldest max-size=2 ! fakesink`);
  const rss: number[] = [];
  p.addProbe('uri0.src', (f) => {
    if (f.frame % 100 === 0) rss.push(process.memoryUsage.rss());
  });
  const liveBefore = AVPixels.live;
  AVPixels.peak = liveBefore;
  const r = await p.run();
  assert.equal(r.frames, 2000);
  // Every native frame was released explicitly, and never more were alive than queues hold.
  assert.equal(AVPixels.live, liveBefore, 'native frames still owned after the run');
  assert.ok(AVPixels.peak - liveBefore <= 40, `peak of ${AVPixels.peak - liveBefore} frames alive at once`);
  assert.equal(ffprobe(out).frames, 2000);
  // Compare the steady state (after warm-up) with the end.
  const warm = Math.max(...rss.slice(2, 6));
  const end = Math.max(...rss.slice(-5));
  const growthMB = (end - warm) / 2 ** 20;
  assert.ok(growthMB < 60, `RSS grew ${growthMB.toFixed(1)} MB over ${rss.length * 100} frames (${rss.map((x) => Math.round(x / 2 ** 20)).join(' ')})`);
});
