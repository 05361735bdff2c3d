// Soak: the demo chain (two streams -> mux -> segmentation infer -> track -> analytics -> blur ->
// tee -> osd -> tile -> file, and meta) on looping files for --seconds, RSS sampled every 10 s.
// Prints the samples and the drift per minute after the first minute (least-squares slope).
//   node bench/soak.ts [--seconds 600]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from '../src/index.ts';
import { writeColourModel } from '../src/infer/colour-model.ts';
import { AVPixels } from '../src/media/av.ts';

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] || 600);
const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
const clip = join(dir, 'clip.mp4');
await launch(`testsrc pattern=objects width=960 height=540 num-objects=5 num-frames=300 ! encode preset=ultrafast gop=30 ! file location=${clip}`).run();
const { model, labels } = writeColourModel(320, 180);
const p = launch([
  `uri location=${clip} loop=true ! m.`, `uri location=${clip} loop=true ! m.`,
  'mux name=m',
  `! infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none mask-objects=true`,
  '! track min-hits=2 ! analytics lines=middle:480,0,480,540 ! blur classes=red ! tee name=t',
  `t. ! queue ! osd ! tile width=1920 height=540 ! file location=${join(dir, 'out.mp4')}`,
  `t. ! queue ! meta location=${join(dir, 'meta.jsonl')}`,
].join(' '));
const samples: [number, number][] = [];
const t0 = performance.now();
const mb = () => process.memoryUsage().rss / 2 ** 20;
const timer = setInterval(() => {
  const t = (performance.now() - t0) / 1000;
  samples.push([t, mb()]);
  console.log(`${t.toFixed(0).padStart(4)} s  rss ${mb().toFixed(1)} MB  native frames live ${AVPixels.live}`);
  if (t >= seconds) p.sendEosRequest();
}, 10_000);
const report = await p.run();
clearInterval(timer);
const late = samples.filter(([t]) => t >= 60);
const n = late.length, mx = late.reduce((a, [t]) => a + t, 0) / n, my = late.reduce((a, [, m]) => a + m, 0) / n;
const slope = late.reduce((a, [t, m]) => a + (t - mx) * (m - my), 0) / late.reduce((a, [t]) => a + (t - mx) ** 2, 0);
console.log(`${report.frames} frames in ${report.wallSeconds.toFixed(0)} s (${report.fps.toFixed(1)} fps); RSS ${late[0]?.[1].toFixed(1)} MB at 60 s, ${late.at(-1)?.[1].toFixed(1)} MB at the end, max ${Math.max(...samples.map(([, m]) => m)).toFixed(1)}; drift ${(slope * 60).toFixed(2)} MB/min after the first minute`);
