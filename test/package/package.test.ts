// The npm package as users get it: `npm pack` builds dist/ (prepack), the tarball installs into
// a fresh project from npm alone, as README's "Install" says (onnxruntime-node's postinstall
// would fetch its CUDA provider from outside npm on Linux x64; a dependent package cannot turn
// that off, so the install skips it and the CUDA provider is opt-in), and with the system's Node (CI's is 20) the bin runs the demo, an .mjs file imports
// the API and runs a pipeline, a .ts file type-checks against the shipped declarations, and
// publint and arethetypeswrong find nothing wrong with the package's entry points.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, ffprobe, media, tmp } from '../helpers.ts';

/** The machine's own Node (not the Node 24 the repository installs for its scripts). */
function systemNode(): string {
  for (const p of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) if (existsSync(p)) return p;
  return process.execPath;
}

/** npm's stdout; its warnings are kept in `npmWarnings` (a clean install prints none of its own making). */
const npmWarnings: string[] = [];
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  // A user's shell, not this repository's npm run: without the npm_config_* npm exported from the
  // repository's .npmrc (npm would warn about that key as an unknown env config).
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_onnxruntime/i.test(k)));
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stderr}`);
  npmWarnings.push(...r.stderr.split('\n').filter((l) => /^npm warn/i.test(l)));
  return r.stdout;
};

test('npm pack -> install in a fresh project -> bin, .mjs import and a type-checked .ts file work on the system Node', { timeout: 600_000 }, async () => {
  const work = tmp();
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], ROOT))[0] as { filename: string; files: { path: string }[] };
  // The repository's own .npmrc key makes `npm pack` here warn (README "Install" says why it stays);
  // what is judged is the user's install below.
  npmWarnings.length = 0;
  const files = packed.files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/sluice.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/infer/worker.js', 'dist/media/decode-worker.js', 'dist/net/remote-page.html', 'dist/trace/dashboard.html']) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests in the tarball');
  const tarball = join(work, packed.filename);

  // publint and arethetypeswrong read the tarball (what would be published).
  const lint = spawnSync(join(ROOT, 'node_modules', '.bin', 'publint'), ['run', tarball, '--strict'], { encoding: 'utf8' });
  assert.equal(lint.status, 0, `publint: ${lint.stdout}${lint.stderr}`);
  const attw = spawnSync(join(ROOT, 'node_modules', '.bin', 'attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'], { encoding: 'utf8' });
  assert.equal(attw.status, 0, `arethetypeswrong: ${attw.stdout}${attw.stderr}`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  // No `Unknown project config` in a user's project (the variable, not an .npmrc key, skips
  // onnxruntime-node's download there; the repository's own .npmrc is not in the package);
  // on Node < 22 the one EBADENGINE is @nats-io/nuid's (README "Install" says why it is harmless).
  assert.deepEqual(npmWarnings.filter((w) => /Unknown .*config/.test(w)), [], npmWarnings.join('\n'));
  const engines = npmWarnings.map((w) => /EBADENGINE +package: '([^']+)'/.exec(w)?.[1]).filter((x) => x !== undefined);
  assert.ok(engines.every((x) => x.startsWith('@nats-io/nuid@')), npmWarnings.join('\n'));
  assert.ok(!existsSync(join(app, 'node_modules', 'node', 'bin')), 'no Node runtime comes with the package');
  assert.ok(!existsSync(join(app, 'node_modules', 'sluice', 'src')), 'no TypeScript sources installed');

  const node = systemNode();
  const bin = join(app, 'node_modules', 'sluice', 'bin', 'sluice.js');
  const version = spawnSync(node, [bin, '--version'], { cwd: app, encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const demo = spawnSync(node, [bin, 'demo'], { cwd: app, encoding: 'utf8', timeout: 300_000 });
  assert.equal(demo.status, 0, demo.stderr);
  assert.equal(ffprobe(join(app, 'demo.mp4')).frames, 300);

  // A real file, decoded on the system Node: node-av's packet reader needs Promise.withResolvers
  // (Node 22+), which Sluice supplies on older ones; without it every read failed and the file
  // "ended after 0 of the 377 frames it declares" with exit 0.
  const car = media('car-detection.mp4');
  const declared = ffprobe(car).frames;
  const dec = spawnSync(node, [bin, 'launch', '-q', '--report', 'car.json', `uri location=${car} ! fakesink`], { cwd: app, encoding: 'utf8', timeout: 300_000 });
  assert.equal(dec.status, 0, dec.stderr);
  assert.doesNotMatch(dec.stderr, /warning/, 'a clean decode prints no warning');
  const carReport = JSON.parse(readFileSync(join(app, 'car.json'), 'utf8')) as { frames: number; errors: unknown[] };
  assert.deepEqual({ frames: carReport.frames, errors: carReport.errors }, { frames: declared, errors: [] });
  // doctor says how this Node stands against what Sluice and its dependencies need.
  const doc = spawnSync(node, [bin, 'doctor'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  assert.equal(doc.status, 0, doc.stderr);
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(doc.stdout.includes(`${nodeVersion}: sluice needs node >=20: ok`), doc.stdout);
  const nodeMajor = Number(nodeVersion.slice(1).split('.')[0]);
  assert.match(doc.stdout, nodeMajor >= 22 ? /Promise\.withResolvers \(node-av reads packets with it\): built in/ : /Promise\.withResolvers \(node-av reads packets with it\): missing from this Node; Sluice supplies it/);

  writeFileSync(join(app, 'use.mjs'), `import { launch } from 'sluice';
const p = launch('testsrc pattern=objects num-frames=12 width=160 height=90 ! meta location=m.jsonl');
const report = await p.run();
console.log(JSON.stringify({ frames: report.elements.meta0.framesIn }));
`);
  const use = spawnSync(node, ['use.mjs'], { cwd: app, encoding: 'utf8' });
  assert.equal(use.status, 0, use.stderr);
  assert.deepEqual(JSON.parse(use.stdout.trim().split('\n').at(-1)!), { frames: 12 });

  writeFileSync(join(app, 'use.ts'), `import { launch, defineElement, sinkPad, srcPad, z, type Frame } from 'sluice';
const el = defineElement({ name: 'nothing', summary: 'passes frames', kind: 'filter', pads: [sinkPad(), srcPad()], props: z.object({}),
  create: (_o, ctx) => ({ async process(f: Frame) { await ctx.push(f); } }) });
// An element without properties leaves props out.
const bare = defineElement({ name: 'bare', summary: 'passes frames', kind: 'filter', pads: [sinkPad(), srcPad()],
  create: (_o, ctx) => ({ async process(f: Frame) { await ctx.push(f); } }) });
const p = launch('testsrc num-frames=1 ! fakesink');
const frames: number = (await p.run()).elements.fakesink0!.framesIn;
// @ts-expect-error: launch takes a string, and the declarations say so
launch(42);
export { el, bare, frames };
`);
  // README's library example, as written there, type-checks against the shipped declarations.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /As a library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example?.includes("from 'sluice'"), 'README shows the library imported from its package name');
  writeFileSync(join(app, 'readme.ts'), `${example}export {};\n`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, files: ['use.ts', 'readme.ts'] }));
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  assert.ok(readdirSync(app).includes('m.jsonl'));
});
