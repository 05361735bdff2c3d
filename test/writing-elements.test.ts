// docs/writing-elements.md stays true: it names every member of an element definition, its
// implementation and its context (read from src/core/element.ts, so a hook added without docs
// fails here), and its walk-through example (examples/plugins/luma-meter.ts) runs as it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, buildPipeline, parseLaunch, loadPlugin, media as mediaApi, type BusMessage, type Frame } from '../src/index.ts';
import { defaultRegistry } from '../src/elements/index.ts';
import { ROOT, media } from './helpers.ts';

/** Member names of an exported interface of src/core/element.ts (its top-level lines only). */
function members(name: string): string[] {
  const src = readFileSync(join(ROOT, 'src/core/element.ts'), 'utf8');
  const start = src.indexOf(`export interface ${name}`);
  assert.ok(start >= 0, `no interface ${name}`);
  const body = src.slice(src.indexOf('{', start) + 1, src.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??[(:<]/gm)].map((m) => m[1]!);
}

const doc = readFileSync(join(ROOT, 'docs/writing-elements.md'), 'utf8');
const documented = (name: string) => new RegExp('`(?:ctx\\.)?' + name + '\\b').test(doc);

for (const iface of ['ElementDef', 'ElementImpl', 'ElementContext', 'PadTemplate']) {
  test(`docs/writing-elements.md names every member of ${iface}`, () => {
    const all = members(iface);
    assert.ok(all.length >= 4, `read ${all.length} members of ${iface}`);
    assert.deepEqual(all.filter((m) => !documented(m)), []);
  });
}

async function plugins(): Promise<Registry> {
  const reg = defaultRegistry();
  assert.deepEqual(await loadPlugin(join(ROOT, 'examples/plugins/luma-meter.ts'), reg), ['luma-meter']);
  assert.deepEqual(await loadPlugin(join(ROOT, 'examples/plugins/ramp.ts'), reg), ['ramp']);
  return reg;
}

async function run(desc: string, probe?: (f: Frame) => void) {
  const reg = await plugins();
  const p = buildPipeline(parseLaunch(desc), reg);
  const lumas: number[] = [];
  p.addProbe('luma-meter0.src', (f) => { lumas.push(f.meta.user.luma as number); probe?.(f); return 'pass'; });
  const messages: BusMessage[] = [];
  p.bus.on('message', (m: BusMessage) => { if (m.type === 'element') messages.push(m); });
  const report = await p.run();
  return { lumas, report, messages };
}

test('the walk-through element measures testsrc\'s black (luma 16) on full frames where no view is made', async () => {
  const { lumas, report, messages } = await run('testsrc pattern=black num-frames=6 width=64 height=48 ! luma-meter ! fakesink');
  assert.deepEqual(lumas, [16, 16, 16, 16, 16, 16]);
  // describe() lands in the report; testsrc makes no views, so every frame was measured in full.
  assert.deepEqual(report.elements['luma-meter0']!.resolved, { onView: 0, onFull: 6 });
  // flush() posted the per-stream average before EOS.
  assert.deepEqual(messages.map((m) => m.type === 'element' && [m.source, m.name, m.data]), [['luma-meter0', 'luma', { 0: 16 }]]);
});

test('on a decoding thread it measures the view the source made, and that agrees with the full frame', async () => {
  const full: number[] = [];
  // osd after it reads full frames, so the source keeps them next to the view for this check.
  const { lumas, report } = await run(`uri location=${media('car-detection.mp4')} num-frames=8 threaded=true ! luma-meter width=32 height=18 ! osd ! fakesink`, (f) => {
    const av = mediaApi.avOf(f.pixels, 'test');
    const y = av.data![0]!, stride = av.linesize[0]!;
    let sum = 0;
    for (let r = 0; r < f.height; r++) for (let i = r * stride; i < r * stride + f.width; i++) sum += y[i]!;
    full.push(sum / (f.width * f.height));
  });
  assert.equal(lumas.length, 8);
  assert.deepEqual(report.elements['luma-meter0']!.resolved, { onView: 8, onFull: 0 });
  // A bilinear 32x18 picture has the full frame's mean within a few levels (a real clip, not flat).
  lumas.forEach((l, i) => assert.ok(Math.abs(l - full[i]!) < 3, `frame ${i}: view ${l}, full ${full[i]!.toFixed(1)}`));
  assert.ok(Math.max(...lumas) > 20, `a real picture: ${lumas.join(' ')}`);
});

test('the example source makes its ramp, measured by the example filter; its outSize is checked at link time', async () => {
  const { lumas, report } = await run('ramp num-frames=5 start=20 step=10 ! luma-meter ! fakesink');
  assert.deepEqual(lumas, [20, 30, 40, 50, 60]);
  assert.equal(report.frames, 5);
  // libx264 wants even sizes: encode's sizeRule refuses ramp's declared 63x48 before anything plays.
  const reg = await plugins();
  assert.throws(() => buildPipeline(parseLaunch('ramp width=63 ! encode ! fakesink'), reg), /ramp0 makes 63x48 frames, but .* needs an even width and height/);
});
