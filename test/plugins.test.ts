// Plugins: elements written outside the repository, importing only 'sluice', loaded by the real
// CLI from a temporary folder (as a user's project would hold them) and from SLUICE_PLUGIN_PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, loadPlugin } from '../src/index.ts';
import { ROOT, sluice, tmp } from './helpers.ts';

/** A user's project folder: node_modules/sluice installed (a link to this checkout) and a plugins folder. */
function project(): { dir: string; plugins: string } {
  const dir = tmp();
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'sluice'), 'dir');
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins);
  return { dir, plugins };
}

test('sluice --plugin FILE runs an out-of-tree element (docs/writing-elements.md) on real frames', async () => {
  const { dir, plugins } = project();
  const file = join(plugins, 'brighten.ts');
  copyFileSync(join(ROOT, 'examples', 'plugins', 'brighten.ts'), file);
  const out = join(dir, 'bright.mp4');
  const r = await sluice(['--plugin', file, 'launch', '-q', `testsrc pattern=black num-frames=10 width=64 height=48 ! brighten amount=100 ! file location=${out}`], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  // testsrc's black is luma 16; FFmpeg reads back 116 everywhere.
  const y = execFileSync('ffmpeg', ['-v', 'error', '-i', out, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-']);
  assert.equal(y.length, 64 * 48);
  assert.ok(y.every((v) => Math.abs(v - 116) <= 2), `luma ${y.subarray(0, 8).join(' ')}`);
  // Its properties are validated like a built-in's, before start.
  const bad = await sluice(['--plugin', file, 'launch', `testsrc num-frames=1 ! brighten amount=900 ! fakesink`], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SLUICE_ERR_PROPERTY.*amount.*at most 255/);
});

test('SLUICE_PLUGIN_PATH loads every module of a folder; inspect names where each element came from', async () => {
  const { dir, plugins } = project();
  writeFileSync(join(plugins, 'pair.ts'), `import { defineElement, sinkPad, srcPad, z } from 'sluice';
const make = (name: string) => defineElement({ name, summary: name + ' passes frames on', kind: 'filter', pads: [sinkPad(), srcPad()], props: z.object({}),
  create: (_o, ctx) => ({ process: (f) => ctx.push(f) }) });
export default [make('pass-a'), make('pass-b')];
`);
  const env = { ...process.env, SLUICE_PLUGIN_PATH: plugins };
  const list = await sluice(['inspect'], { cwd: dir, env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`pass-a +filter +pass-a passes frames on +\\[plugin ${join(plugins, 'pair.ts').replace(/[/.]/g, '\\$&')}\\]`));
  assert.match(list.stdout, /pass-b/);
  assert.match(list.stdout, /^scale +filter .*Resize[^[]*$/m, 'built-ins carry no origin');
  const run = await sluice(['launch', '-q', '--report', join(dir, 'r.json'), 'testsrc num-frames=7 ! pass-a ! pass-b ! fakesink'], { cwd: dir, env });
  assert.equal(run.code, 0, run.stderr);
});

test('a module that is not an element, or redefines a built-in, fails with a coded error naming the file', async () => {
  const { dir, plugins } = project();
  writeFileSync(join(plugins, 'nothing.ts'), 'export default { name: 42 };\n');
  writeFileSync(join(plugins, 'clash.ts'), `import { defineElement, sinkPad, srcPad, z } from 'sluice';
export default defineElement({ name: 'scale', summary: 'mine', kind: 'filter', pads: [sinkPad(), srcPad()], props: z.object({}), create: (_o, ctx) => ({ process: (f) => ctx.push(f) }) });
`);
  const a = await sluice(['--plugin', join(plugins, 'nothing.ts'), 'inspect'], { cwd: dir });
  assert.equal(a.code, 1);
  assert.match(a.stderr, /SLUICE_ERR_PLUGIN: plugin .*nothing\.ts: its default export must be an element made with defineElement/);
  const b = await sluice(['--plugin', join(plugins, 'clash.ts'), 'inspect'], { cwd: dir });
  assert.equal(b.code, 1);
  assert.match(b.stderr, /SLUICE_ERR_PLUGIN: plugin .*clash\.ts defines element "scale", which is built in; rename it/);
  const c = await sluice(['--plugin', join(plugins, 'missing.ts'), 'inspect'], { cwd: dir });
  assert.match(c.stderr, /SLUICE_ERR_PLUGIN: plugin .*missing\.ts not found/);
  const d = await sluice(['inspect'], { cwd: dir, env: { ...process.env, SLUICE_PLUGIN_PATH: join(dir, 'nope') } });
  assert.match(d.stderr, /SLUICE_PLUGIN_PATH names .*nope, which does not exist/);
});

test('loadPlugin registers into a library registry', async () => {
  const reg = new Registry();
  const names = await loadPlugin(join(ROOT, 'examples', 'plugins', 'brighten.ts'), reg);
  assert.deepEqual(names, ['brighten']);
  assert.equal(reg.originOf('brighten'), join(ROOT, 'examples', 'plugins', 'brighten.ts'));
});
