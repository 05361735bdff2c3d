// Issue 26 (works as claimed where users start): a file that yields none of the frames it
// declares fails the run; doctor checks this Node against what the dependencies declare;
// plugins without properties; the progress line; serve's last frames keep their stream id.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, freePort, sluice, tmp } from './helpers.ts';
import { satisfies, engineChecks } from '../src/cli/node-check.ts';
import { RateWindow } from '../src/cli/progress.ts';

/** A faststart clip of `frames` frames (the moov box, with its frame count, before the media). */
function clip(dir: string, frames: number, name = 'whole.mp4'): string {
  const f = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=30,format=yuv420p`, '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-movflags', '+faststart', f]);
  return f;
}

test('a file that declares frames but yields none fails the run (exit 1, SLUICE_ERR_NO_FRAMES in report.errors), not a warning with exit 0', async () => {
  const dir = tmp();
  const whole = clip(dir, 60);
  const bytes = readFileSync(whole);
  // Keep the header that declares 60 frames and cut the media a few bytes in: no packet is whole.
  const mdat = bytes.indexOf(Buffer.from('mdat'));
  assert.ok(mdat > 0);
  const cut = join(dir, 'empty.mp4');
  writeFileSync(cut, bytes.subarray(0, mdat + 4 + 16));
  const report = join(dir, 'r.json');
  const r = await sluice(['launch', '--report', report, `uri location=${cut} ! fakesink`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /SLUICE_ERR_NO_FRAMES: .*empty\.mp4 ended after 0 of the 60 frames it declares/);
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { frames: number; errors: { code: string }[] };
  assert.equal(rep.frames, 0);
  assert.deepEqual(rep.errors.map((e) => e.code), ['SLUICE_ERR_NO_FRAMES']);
  // Half a file is still a truncated one: a warning, the frames it has, exit 0.
  const half = join(dir, 'half.mp4');
  writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const h = await sluice(['launch', '-q', `uri location=${half} ! fakesink`]);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stderr, /truncated or corrupt/);
});

test('engines ranges as dependencies write them are read as npm reads them', () => {
  // The ranges below are the ones installed here (package.json engines of node-av's binary, ini, prom-client, @nats-io/nuid...).
  const ranges = new Map(engineChecks('v20.20.2').map((c) => [c.name, c.range]));
  assert.equal(ranges.get('sluice'), '>=20');
  const cases: [string, string, boolean][] = [
    ['v20.20.2', '>= 22.x', false], ['v22.0.0', '>= 22.x', true], ['v24.21.0', '>= 22.x', true],
    ['v20.20.2', '^18.17.0 || ^20.3.0 || >=21.0.0', true], ['v20.2.0', '^18.17.0 || ^20.3.0 || >=21.0.0', false], ['v19.1.0', '^18.17.0 || ^20.3.0 || >=21.0.0', false],
    ['v20.20.2', '^16 || ^18 || >=20', true], ['v17.0.0', '^16 || ^18 || >=20', false],
    ['v20.4.0', '^18.17.0 || >=20.5.0', false], ['v20.5.0', '^18.17.0 || >=20.5.0', true],
    ['v20.20.2', '>=20', true], ['v18.20.0', '>=20', false], ['v20.20.2', '*', true],
    ['v20.20.2', '~20.20', true], ['v20.21.0', '~20.20', false], ['v20.0.0', '>18 <21', true], ['v21.0.0', '>18 <21', false], ['v18.9.0', '>18', false],
  ];
  for (const [v, r, want] of cases) assert.equal(satisfies(v, r), want, `${v} in ${r}`);
  assert.equal(satisfies('v20.20.2', '1.2 - 2.3'), null, 'a form not understood is said so, not guessed');
});

test('sluice doctor checks the running Node against sluice and every installed dependency', async () => {
  const r = await sluice(['doctor']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`${process.version}: sluice needs node >=20: ok`), r.stdout);
  assert.match(r.stdout, /Promise\.withResolvers \(node-av reads packets with it\): built in/);
  assert.match(r.stdout, /every installed dependency that declares a Node version \(\d+\) accepts this one/);
});

test('a plugin without props runs from its own folder through the CLI; a wrong field is named', async () => {
  // A folder of its own: no package.json, no node_modules ('sluice' resolves to the running copy).
  const dir = tmp();
  writeFileSync(join(dir, 'evens.ts'), `import { defineElement, sinkPad, srcPad } from 'sluice';
// No properties, so no props: the even frames pass, the others are dropped.
export default defineElement({
  name: 'evens', summary: 'keeps even frame numbers', kind: 'filter', pads: [sinkPad(), srcPad()],
  create: (_o, ctx) => ({ async process(f) { if (f.frame % 2 === 0) await ctx.push(f); else ctx.drop(f); } }),
});
`);
  const frames = (file: string) => readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { frame: number }).frame);
  const r = await sluice(['--plugin', './evens.ts', 'launch', '-q', 'testsrc num-frames=7 ! evens ! meta location=m.jsonl'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(frames('m.jsonl'), [0, 2, 4, 6]);
  // The same from SLUICE_PLUGIN_PATH, and inspect shows it with no properties.
  const env = { ...process.env, SLUICE_PLUGIN_PATH: dir };
  const i = await sluice(['inspect', 'evens'], { cwd: dir, env });
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /Properties:\n {2}\(none\)/);
  const given = await sluice(['launch', '-q', 'testsrc num-frames=3 ! evens amount=2 ! fakesink'], { cwd: dir, env });
  assert.equal(given.code, 1);
  assert.match(given.stderr, /evens has no property "amount" \(properties: none\)/);

  // A plain object, not made with defineElement and without props, is taken the same way.
  writeFileSync(join(dir, 'plain.js'), `export default { name: 'plain', summary: 'passes', kind: 'filter',
  pads: [{ name: 'sink', direction: 'sink', presence: 'always', caps: ['video/x-raw'] }, { name: 'src', direction: 'src', presence: 'always', caps: ['video/x-raw'] }],
  create: (_o, ctx) => ({ process: (f) => ctx.push(f) }) };
`);
  const p = await sluice(['--plugin', './plain.js', 'launch', '-q', 'testsrc num-frames=3 ! plain ! meta location=p.jsonl'], { cwd: dir });
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(frames('p.jsonl'), [0, 1, 2]);

  // What is wrong is named, not "got object".
  const bad = (name: string, body: string) => { writeFileSync(join(dir, name), body); return sluice(['--plugin', `./${name}`, 'inspect'], { cwd: dir }); };
  const noCreate = await bad('nocreate.js', `export default { name: 'x', summary: '', kind: 'filter', pads: [] };\n`);
  assert.equal(noCreate.code, 1);
  assert.match(noCreate.stderr, /SLUICE_ERR_PLUGIN: plugin \.\/nocreate\.js: .*element "x": its "create" must be a function .*got undefined/);
  const badPads = await bad('badpads.js', `export default [{ name: 'y', summary: '', kind: 'filter', pads: [], create() { return {}; } }, { name: 'z', summary: '', kind: 'filter', pads: 'sink', create() { return {}; } }];\n`);
  assert.match(badPads.stderr, /element "z": its "pads" must be an array of pad templates .*got string \(at index 1\)/);
  const badProps = await bad('badprops.js', `export default { name: 'w', summary: '', kind: 'filter', pads: [], props: { amount: 1 }, create() { return {}; } };\n`);
  assert.match(badProps.stderr, /element "w": its "props" must be a zod object \(z\.object\(\{\.\.\.\}\)\), or left out for no properties; got object/);
  const noName = await bad('noname.js', `export default { summary: 'no name' };\n`);
  assert.match(noName.stderr, /its "name" must be a non-empty string/);
});

test('sluice serve: the last frames of a stream drained after its DELETE keep its stream_id', { timeout: 120_000 }, async (t) => {
  const dir = tmp();
  const config = join(dir, 'serve.yaml');
  const metaFile = join(dir, 'm.jsonl');
  // Frames pile up in the queue before a slow stage, so a DELETE leaves many of them to drain.
  writeFileSync(config, [
    'source: testsrc fps=25 width=64 height=48 num-objects=1 pattern={uri}',
    `chain: mux name=m ! queue max-size=30 ! identity delay=15 ! meta location=${metaFile}`,
    '',
  ].join('\n'));
  const port = await freePort();
  const token = 'adoption-token';
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'serve', config, '--api', `127.0.0.1:${port}`, '--state', join(dir, 'state.json')], { env: { ...process.env, SLUICE_API_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.after(() => proc.kill('SIGKILL'));
  const call = async (method: string, path: string, body?: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    await r.text();
    return r.status;
  };
  const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!(await ok())) { if (Date.now() > end) assert.fail(`${what}; serve said: ${err}`); await sleep(25); }
  };
  const lines = () => { try { return readFileSync(metaFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { stream: number; frame: number; stream_id?: string }); } catch { return []; } };
  await until('the API answers', async () => { try { return (await fetch(`http://127.0.0.1:${port}/v1/health`)).status === 200; } catch { return false; } });
  assert.equal(await call('POST', '/v1/streams', JSON.stringify({ id: 'cam1', uri: 'objects' })), 201);
  await until('cam1 has lines', () => lines().length >= 10);
  assert.equal(await call('DELETE', '/v1/streams/cam1'), 204);
  const atDelete = lines().length;
  // What was queued drains after the DELETE (and a second stream comes and goes in the meantime).
  assert.equal(await call('POST', '/v1/streams', JSON.stringify({ id: 'cam2', uri: 'objects' })), 201);
  await until('cam2 has lines', () => lines().some((l) => l.stream_id === 'cam2'));
  assert.equal(await call('DELETE', '/v1/streams/cam2'), 204);
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, err);
  const all = lines();
  const cam1 = all.filter((l) => l.stream === all[0]!.stream);
  assert.ok(all.length > atDelete + 5, `frames drained after the DELETE (${atDelete} lines then, ${all.length} in all)`);
  assert.deepEqual(all.filter((l) => l.stream_id === undefined), [], 'every line carries its stream id');
  assert.deepEqual([...new Set(cam1.map((l) => l.stream_id))], ['cam1']);
  assert.deepEqual(cam1.map((l) => l.frame), cam1.map((_, i) => i), 'cam1\'s frames, each once, in order');
});

test('progress fps is an average over the last seconds: bursts of a batched stage do not swing it', () => {
  // Samples once a second of a stage that delivers 100 frames every other second (50 fps).
  const w = new RateWindow(0, 5000);
  const seen: number[] = [];
  let frames = 0;
  for (let s = 1; s <= 20; s++) { if (s % 2 === 0) frames += 100; seen.push(w.add(s * 1000, frames)); }
  // A one-second rate would read 0 and 100 in turn; over 5 s it stays within 40-60 once the window is full.
  for (const fps of seen.slice(5)) assert.ok(fps >= 40 && fps <= 60, `fps ${fps} in ${seen.map((x) => x.toFixed(0)).join(' ')}`);
  // Until then it is the average since the start.
  assert.equal(seen[1], 100 / 2);
});

/** The CLI on a terminal (script(1) gives it one): the progress lines as the user sees them, in order. */
async function onTerminal(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const cmd = [process.execPath, join(ROOT, 'bin', 'sluice.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const p = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d; });
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  // In place: each line starts with \r and ends by erasing the rest (ESC [K).
  return { code, lines: out.split(/[\r\n]+/).map((l) => l.replace(/\x1b\[K/g, '').trim()).filter((l) => /^frames?=/.test(l)) };
}

test('progress line: frames= across streams, a final line with the totals; no speed for live input', { timeout: 60_000 }, async () => {
  const two = await onTerminal(['launch', 'testsrc num-frames=120 width=64 height=48 ! m.  testsrc num-frames=120 width=64 height=48 ! m.  mux name=m ! identity delay=8 ! fakesink']);
  assert.equal(two.code, 0, two.lines.join('\n'));
  assert.ok(two.lines.length >= 2, `lines while it ran and at the end: ${two.lines.join(' | ')}`);
  for (const l of two.lines) assert.match(l, /^frames=\s+\d+ streams=2 fps=\s*[\d.]+ time=\S+ speed=[\d.]+x/);
  // The last line is the run's end, not the last tick's.
  assert.match(two.lines.at(-1)!, /^frames=\s+240 streams=2 /);
  // (A tick may also land after the last frame on a loaded box: some tick came during the run.)
  assert.ok(two.lines.slice(0, -1).some((l) => Number(/^frames=\s+(\d+)/.exec(l)![1]) < 240), 'a line before it was a tick during the run');

  const live = await onTerminal(['launch', 'testsrc live=true fps=30 num-frames=45 width=64 height=48 ! fakesink']);
  assert.equal(live.code, 0, live.lines.join('\n'));
  assert.match(live.lines.at(-1)!, /^frame=\s+45 fps=\s*[\d.]+ time=00:00:01\.\d\d$/);
  for (const l of live.lines) assert.doesNotMatch(l, /speed|eta/, 'a camera runs at its own rate');
});
