// record (issue 27): clips read back by FFmpeg. testsrc draws each frame's number (code=true), so
// the first and last frame of every clip are read from the decoded pictures, not from our own
// bookkeeping; the sidecar, the bus and ffprobe must all agree with them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, type Pipeline } from '../src/index.ts';
import { triggerRecord } from '../src/elements/record.ts';
import { codeCell, readCode } from '../src/elements/testsrc.ts';
import { validate } from './event-schema.ts';
import { ROOT, ffprobe, tmp } from './helpers.ts';

const W = 320, H = 240, FPS = 30, GOP = 15;
const SRC = (frames: number) => `testsrc num-frames=${frames} fps=${FPS} width=${W} height=${H} code=true num-objects=2 seed=5 speed=2`;

/** Frame numbers of every picture of a clip, decoded by ffmpeg and read from testsrc's code strip. */
function clipFrames(file: string): number[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 256 << 20 });
  const c = codeCell(W), out: number[] = [];
  for (let o = 0; o + W * H <= raw.length; o += W * H) out.push(readCode(raw.subarray(o, o + W * H), W, 0, H - 2 * c, c).frame);
  return out;
}
const mp4s = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.mp4')).sort();
const sidecar = (dir: string, clip: string) => JSON.parse(readFileSync(join(dir, clip.replace(/\.mp4$/, '.json')), 'utf8')) as Record<string, unknown>;
const consecutive = (l: number[]) => l.every((v, i) => i === 0 || v === l[i - 1]! + 1);

/** Trigger from code when the encoded frame `n` passes. */
function triggerAt(p: Pipeline, frames: number[]) {
  p.addProbe('encode0.src', (f) => { if (frames.includes(f.frame)) triggerRecord(p, { reason: 'test', at: f.frame }); });
}

test('a trigger at t: one clip from t - pre to t + post, within one GOP at each end (ffmpeg reads the frame numbers back)', async () => {
  const dir = tmp();
  const p = launch(`${SRC(330)} ! encode gop=${GOP} ! record location=${dir} pre=2 post=3`);
  triggerAt(p, [150]);
  const bus: string[] = [];
  p.bus.on('element', (m) => bus.push(m.name));
  await p.run();
  const clips = mp4s(dir);
  assert.equal(clips.length, 1, clips.join());
  const f = clipFrames(join(dir, clips[0]!));
  assert.ok(consecutive(f), 'no frame missing inside the clip');
  // Starts at the keyframe at or before 150 - 2 s: at most one GOP earlier.
  assert.ok(f[0]! <= 150 - 2 * FPS && f[0]! > 150 - 2 * FPS - GOP, `first frame ${f[0]}`);
  assert.equal(f[0]! % GOP, 0, 'a keyframe');
  const last = 150 + 3 * FPS - 1;
  assert.ok(Math.abs(f.at(-1)! - last) <= 3, `last frame ${f.at(-1)} (want about ${last})`);
  const probe = ffprobe(join(dir, clips[0]!));
  assert.equal(probe.frames, f.length);
  const side = sidecar(dir, clips[0]!);
  assert.equal(side.start, Math.round((f[0]! / FPS) * 1000) / 1000);
  assert.ok(Math.abs((side.end as number) - (f.at(-1)! + 1) / FPS) < 0.15, `sidecar end ${side.end}`);
  assert.ok(Math.abs((side.duration as number) - probe.duration) < 0.15, `sidecar ${side.duration} s, ffprobe ${probe.duration} s`);
  assert.equal(side.recording, false);
  assert.deepEqual((side.triggers as { type: string; at: number }[]).map((t) => [t.type, t.at]), [['test', 150]]);
  assert.match(clips[0]!, /^0-\d{8}-\d{6}\.\d{3}-test\.mp4$/);
  assert.deepEqual(bus.filter((n) => n.startsWith('clip')), ['clip-start', 'clip-end']);
});

test('two triggers 3 s apart with post=5: one clip to 5 s after the second; max-duration splits it into parts that join up', async () => {
  const dir = tmp();
  const p = launch(`${SRC(420)} ! encode gop=${GOP} ! record location=${dir} pre=1 post=5`);
  triggerAt(p, [90, 180]);
  await p.run();
  const clips = mp4s(dir);
  assert.equal(clips.length, 1, clips.join());
  const f = clipFrames(join(dir, clips[0]!));
  assert.ok(f[0]! <= 60 && f[0]! > 60 - GOP, `first ${f[0]}`);
  assert.ok(Math.abs(f.at(-1)! - (180 + 5 * FPS - 1)) <= 3, `last ${f.at(-1)}`);
  assert.equal((sidecar(dir, clips[0]!).triggers as unknown[]).length, 2);

  const dir2 = tmp();
  const q = launch(`${SRC(420)} ! encode gop=${GOP} ! record location=${dir2} pre=1 post=6 max-duration=2`);
  triggerAt(q, [60]);
  await q.run();
  const parts = mp4s(dir2);
  assert.ok(parts.length >= 3, parts.join());
  const frames = parts.map((c) => clipFrames(join(dir2, c))).sort((a, b) => a[0]! - b[0]!);
  for (const [i, fr] of frames.entries()) {
    assert.ok(consecutive(fr));
    assert.ok(fr.length <= 2 * FPS + GOP, `part ${i}: ${fr.length} frames`);
    if (i) assert.equal(fr[0], frames[i - 1]!.at(-1)! + 1, 'each part starts where the last ended');
  }
  assert.ok(frames[0]![0]! <= 30 && Math.abs(frames.at(-1)!.at(-1)! - (60 + 6 * FPS - 1)) <= 3);
  const later = parts.map((c) => sidecar(dir2, c)).filter((s) => (s.triggers as { type: string }[])[0]!.type === 'continued');
  assert.equal(later.length, parts.length - 1);
});

test('on=line-cross: clips start at the crossings analytics reports; clip-start/clip-end events valid and in the events file', async () => {
  const dir = tmp(), ev = join(tmp(), 'events.jsonl');
  const p = launch(`${SRC(400)} ! track min-hits=1 ! analytics lines=mid:160,0,160,240 ! tee name=t t. ! queue ! meta mode=events location=${ev} t. ! queue ! encode gop=${GOP} ! record location=${dir} pre=0.5 post=0.5 on=line-cross`);
  p.addProbe('testsrc0.src', (f) => { f.meta.objects = f.meta.truth!.filter((t) => t.visible >= 0.3).map((t) => ({ class: t.class, label: 'box', score: 0.9, box: t.box, attributes: {} })); });
  await p.run();
  const events = readFileSync(ev, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of events) assert.deepEqual(validate(e), [], JSON.stringify(e));
  const crossings = events.filter((e) => e.type === 'line-cross');
  assert.ok(crossings.length >= 3, `crossings: ${crossings.length}`);
  const clips = mp4s(dir);
  // Every crossing is a trigger of exactly one clip, at its frame.
  const triggers = clips.flatMap((c) => (sidecar(dir, c).triggers as { type: string; frame: number; track: number }[]));
  assert.deepEqual(triggers.map((t) => `${t.type}:${t.frame}:${t.track}`).sort(), crossings.map((e) => `line-cross:${e.frame}:${e.track}`).sort());
  for (const c of clips) {
    const side = sidecar(dir, c);
    const f = clipFrames(join(dir, c));
    const first = (side.triggers as { frame: number }[])[0]!.frame;
    assert.ok(f[0]! <= first - 0.5 * FPS && f[0]! > first - 0.5 * FPS - GOP, `${c}: first ${f[0]} for a crossing at ${first}`);
  }
  const starts = events.filter((e) => e.type === 'clip-start'), ends = events.filter((e) => e.type === 'clip-end');
  assert.equal(starts.length, clips.length);
  assert.equal(ends.length, clips.length);
  assert.deepEqual(ends.map((e) => e.clip).sort(), clips);
});

test('retention: max-bytes and max-age delete the oldest clips first, never the clip being written, one message each', async () => {
  const dir = tmp();
  // Three old clips (with sidecars) of 20 kB, 300, 200 and 100 s old; the new parts are ~6 kB each.
  const now = Date.now() / 1000;
  for (const [i, age] of [[1, 300], [2, 200], [3, 100]] as const) {
    writeFileSync(join(dir, `old${i}.mp4`), Buffer.alloc(20_000));
    writeFileSync(join(dir, `old${i}.json`), '{}');
    utimesSync(join(dir, `old${i}.mp4`), now - age, now - age);
  }
  writeFileSync(join(dir, 'notes.txt'), 'not a clip');
  const deleted: { clip: string; reason: string; during: string[] }[] = [];
  const open = new Set<string>();
  const p = launch(`${SRC(300)} ! encode gop=${GOP} ! record location=${dir} pre=0 post=4 max-duration=1 max-bytes=15000 max-age=250`);
  p.bus.on('element', (m) => {
    if (m.name === 'clip-start') open.add(String(m.data.clip));
    if (m.name === 'clip-end') open.delete(String(m.data.clip));
    if (m.name === 'clip-deleted') deleted.push({ clip: String(m.data.clip), reason: String(m.data.reason), during: [...open] });
  });
  triggerAt(p, [60]);
  await p.run();
  // At start: old1 is past max-age; then the folder is over max-bytes: old2, old3; later the oldest parts.
  assert.deepEqual(deleted.slice(0, 3).map((d) => d.clip), ['old1.mp4', 'old2.mp4', 'old3.mp4']);
  assert.equal(deleted[0]!.reason, 'max-age');
  assert.equal(deleted[1]!.reason, 'max-bytes');
  for (const d of deleted) assert.ok(!d.during.includes(d.clip), `${d.clip} was deleted while being written`);
  assert.ok(!existsSync(join(dir, 'old1.json')), 'sidecars go with their clip');
  assert.ok(existsSync(join(dir, 'notes.txt')), 'only clips are deleted');
  const left = mp4s(dir);
  // Deleted oldest first: every clip left is newer than every clip deleted by max-bytes.
  const made = deleted.filter((d) => !d.clip.startsWith('old')).map((d) => d.clip);
  const bytes = left.reduce((s, c) => s + statSync(join(dir, c)).size + statSync(join(dir, c.replace('.mp4', '.json'))).size, 0);
  assert.ok(bytes <= 15_000, `${bytes} bytes left`);
  assert.ok(made.length >= 1, `parts were deleted too (${deleted.map((d) => d.clip).join()})`);
  assert.ok(deleted.some((d) => d.during.length > 0), 'some deletions ran while a part was being written');
  assert.ok(left.length >= 1, 'the newest clip stays');
  for (const c of left) for (const d of made) assert.ok(c > d, `${d} deleted before the older ${c}`);
});

test('kill -9 while a clip is being written: the partial clip plays', { timeout: 60_000 }, async () => {
  const dir = tmp();
  const script = join(tmp(), 'rec.ts');
  writeFileSync(script, `
import { launch } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
import { triggerRecord } from ${JSON.stringify(join(ROOT, 'src/elements/record.ts'))};
const p = launch('testsrc live=true fps=30 width=${W} height=${H} code=true ! encode gop=${GOP} tune=zerolatency ! record location=${dir} pre=1 post=60');
p.addProbe('encode0.src', (f) => { if (f.frame === 45) triggerRecord(p, { reason: 'test' }); });
await p.run();
`);
  const child = spawn(process.execPath, [script], { stdio: 'ignore' });
  // Wait until the clip has a few fragments on disk (a fragment at each keyframe, every 0.5 s).
  let clip = '';
  for (let i = 0; i < 200; i++) {
    await sleep(50);
    clip = existsSync(dir) ? mp4s(dir)[0] ?? '' : '';
    if (clip && statSync(join(dir, clip)).size > 20_000) break;
  }
  assert.ok(clip, 'a clip was started');
  await sleep(500);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const f = clipFrames(join(dir, clip));
  assert.ok(f.length >= 30, `${f.length} frames play`);
  assert.ok(consecutive(f));
  assert.ok(f[0]! <= 15, `from the pre-roll (first frame ${f[0]})`);
  const side = sidecar(dir, clip);
  assert.equal(side.recording, true, 'the sidecar says it was still being written');
});

test('sluice serve: POST /v1/streams/{id}/record makes a clip, GET lists it and serves it with ranges; traversal refused and counted', { timeout: 90_000 }, async (t) => {
  const dir = tmp(), clipsDir = join(dir, 'clips');
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, [
    'source: testsrc live=true fps=25 width=160 height=120 num-objects=2 pattern={uri}',
    `chain: mux name=m ! tile width=320 height=240 ! encode gop=10 tune=zerolatency ! record location=${clipsDir} pre=0.5 post=1`,
    'streams: [{id: cam1, uri: objects}]',
    '',
  ].join('\n'));
  const { freePort } = await import('./helpers.ts');
  const port = await freePort();
  const TOKEN = 'clip-token';
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'serve', config, '--api', `127.0.0.1:${port}`, '--state', join(dir, 'state.json')], { env: { ...process.env, SLUICE_API_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log += d; });
  t.after(() => proc.kill('SIGKILL'));
  const call = (method: string, path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  for (let i = 0; i < 200; i++) {
    try { const r = await call('GET', '/v1/streams/cam1'); if (r.status === 200 && (await r.json() as { frames: number }).frames > 20) break; } catch { /* not up yet */ }
    await sleep(50);
  }
  assert.equal((await call('POST', '/v1/streams/nope/record')).status, 404);
  const r = await call('POST', '/v1/streams/cam1/record');
  assert.equal(r.status, 202, log);
  let list: { clips: { name: string; url: string; recording: boolean; bytes: number }[] } = { clips: [] };
  for (let i = 0; i < 100; i++) {
    list = await (await call('GET', '/v1/streams/cam1/clips')).json() as typeof list;
    if (list.clips.length && !list.clips[0]!.recording) break;
    await sleep(100);
  }
  assert.equal(list.clips.length, 1, JSON.stringify(list) + log);
  const clip = list.clips[0]!;
  const whole = Buffer.from(await (await call('GET', clip.url)).arrayBuffer());
  writeFileSync(join(dir, 'got.mp4'), whole);
  const probe = ffprobe(join(dir, 'got.mp4'));
  assert.ok(probe.frames >= 25 && Math.abs(probe.duration - 1.5) < 0.5, JSON.stringify(probe));
  // A browser seeks with ranges.
  const part = await call('GET', clip.url, { range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 100-199/${whole.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 200));
  const tail = await call('GET', clip.url, { range: 'bytes=-10' });
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), whole.subarray(whole.length - 10));
  assert.equal((await call('GET', clip.url, { range: `bytes=${whole.length}-` })).status, 416);
  // Without the token, or outside the folder: refused before any file is opened.
  assert.equal((await fetch(`http://127.0.0.1:${port}${clip.url}`)).status, 401);
  for (const evil of ['..%2F..%2Fetc%2Fpasswd', '..%2Fstate.json', '%2Fetc%2Fpasswd', 'serve.yaml', '.hidden.mp4']) {
    const res = await call('GET', `/v1/clips/${evil}`);
    assert.ok(res.status === 400 || res.status === 404, `${evil}: ${res.status}`);
    assert.ok(!(await res.text()).includes('root:'), evil);
  }
  assert.equal((await call('GET', '/v1/clips/..%2Fserve.yaml')).status, 400);
  const metrics = await (await call('GET', '/metrics')).text();
  assert.match(metrics, /sluice_api_rejected_total\{reason="path"\} [4-9]/);
});
