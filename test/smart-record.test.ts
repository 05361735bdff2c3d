// deepstream-app smart record (issue 27): [sourceN] smart-record keys become a per-source
// `encode ! record` branch, record's every= trigger stands in for deepstream-app's interval timer,
// and the clips are read back by FFmpeg (testsrc's code strip gives each picture's frame number).
// Also: nats mode=events with JetStream stores the events (the default per-type subjects).
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { launch, type Pipeline } from '../src/index.ts';
import { readDeepstreamApp } from '../src/cli/deepstream-app.ts';
import { triggerRecord } from '../src/elements/record.ts';
import { codeCell, readCode } from '../src/elements/testsrc.ts';
import { startBroker } from './brokers.ts';
import { validate } from './event-schema.ts';
import { ffprobe, sluice, tmp } from './helpers.ts';

const W = 320, H = 240, FPS = 30;

function clipFrames(file: string): number[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 256 << 20 });
  const c = codeCell(W), out: number[] = [];
  for (let o = 0; o + W * H <= raw.length; o += W * H) out.push(readCode(raw.subarray(o, o + W * H), W, 0, H - 2 * c, c).frame);
  return out;
}
const mp4s = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.mp4')).sort();
const sidecar = (dir: string, clip: string) => JSON.parse(readFileSync(join(dir, clip.replace(/\.mp4$/, '.json')), 'utf8')) as { start: number; end: number; stream: number; triggers: { type: string; pts: number }[]; recording: boolean };
const consecutive = (l: number[]) => l.every((v, i) => i === 0 || v === l[i - 1]! + 1);

test('record every=S: a clip per interval of stream time, each from its keyframe before t - pre to t + post', async () => {
  const dir = tmp();
  await launch(`testsrc num-frames=240 fps=${FPS} width=${W} height=${H} code=true ! encode gop=15 ! record location=${dir} every=2 pre=0.5 post=1`).run();
  const clips = mp4s(dir);
  assert.equal(clips.length, 3, `triggers at 2, 4 and 6 s of an 8 s stream: ${clips.join()}`);
  for (const [i, clip] of clips.entries()) {
    const t = (i + 1) * 2 * FPS;
    const f = clipFrames(join(dir, clip));
    assert.ok(consecutive(f), clip);
    assert.ok(f[0]! <= t - 15 && f[0]! > t - 15 - 15 && f[0]! % 15 === 0, `${clip} starts at frame ${f[0]} (trigger at ${t})`);
    assert.ok(Math.abs(f.at(-1)! - (t + FPS - 1)) <= 2, `${clip} ends at frame ${f.at(-1)} (want about ${t + FPS - 1})`);
    const side = sidecar(dir, clip);
    assert.deepEqual(side.triggers.map((x) => [x.type, x.pts]), [['interval', t / FPS]]);
    assert.match(clip, /-interval\.mp4$/);
  }
});

/** A 10 s, 30 fps source file whose pictures carry their frame numbers. */
async function sourceFile(dir: string): Promise<string> {
  const src = join(dir, 'cam.mp4');
  await launch(`testsrc num-frames=300 fps=${FPS} width=${W} height=${H} code=true ! encode gop=15 ! file location=${src}`).run();
  return src;
}

test('a deepstream-app config with [sourceN] smart-record=2 writes the clips deepstream-app would (ffprobe and the pictures agree)', { timeout: 120_000 }, async () => {
  const dir = tmp();
  await sourceFile(dir);
  // source0: duration 2 < interval 3, so each timer tick starts a clip that ends on its own (t = 3, 6, 9).
  // source1: duration 5 >= interval 2, so the next tick stops it: a 2 s recording every 4 s (t = 4, 8).
  const cfg = join(dir, 'deepstream_app_config.txt');
  const text = `[application]
enable-perf-measurement=1

[source0]
enable=1
type=2
uri=file://cam.mp4
smart-record=2
smart-rec-dir-path=clips
smart-rec-file-prefix=front
smart-rec-cache=5
smart-rec-container=0
smart-rec-start-time=1
smart-rec-duration=2
smart-rec-interval=3

[source1]
enable=1
type=2
uri=file://cam.mp4
smart-record=2
smart-rec-dir-path=clips
smart-rec-file-prefix=back
smart-rec-start-time=1
smart-rec-default-duration=5
smart-rec-interval=2

[streammux]
batch-size=2
width=${W}
height=${H}

[sink0]
enable=1
type=1
`;
  writeFileSync(cfg, text);
  const app = readDeepstreamApp(text, cfg);
  const out = join(dir, 'clips');
  assert.match(app.launch, new RegExp(`uri location=${join(dir, 'cam.mp4')} ! tee name=sr0  sr0\\. ! queue ! m\\.  sr0\\. ! queue ! encode bitrate=4000000 gop=30 ! record location=${out} pre=1 post=2 every=3 cache-bytes=5000000 prefix=front_0`));
  assert.match(app.launch, /record location=\S+ pre=1 post=2 every=4 cache-bytes=20000000 prefix=back_1/);
  assert.ok(!app.warnings.some((w) => /smart-rec|not known/.test(w)), app.warnings.join('\n'));
  const r = await sluice(['run', cfg], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const clips = mp4s(out);
  const want = { front_0: [3, 6, 9], back_1: [4, 8] } as Record<string, number[]>;
  const post = { front_0: 2, back_1: 2 } as Record<string, number>;
  assert.deepEqual(clips.map((c) => c.split('-')[0]), ['back_1', 'back_1', 'front_0', 'front_0', 'front_0'], clips.join());
  for (const prefix of Object.keys(want)) {
    const mine = clips.filter((c) => c.startsWith(`${prefix}-`));
    for (const [i, clip] of mine.entries()) {
      const t = want[prefix]![i]!;
      const f = clipFrames(join(out, clip));
      assert.ok(consecutive(f), `${clip}: no picture missing`);
      // From the branch's keyframe (gop=30) at or before t - 1 s: within one GOP.
      const from = (t - 1) * FPS;
      assert.ok(f[0]! <= from && f[0]! > from - 30, `${clip} starts at frame ${f[0]} (want ${from} or one GOP before)`);
      const end = Math.min(300, (t + post[prefix]!) * FPS) - 1;
      assert.ok(Math.abs(f.at(-1)! - end) <= 2, `${clip} ends at frame ${f.at(-1)} (want about ${end})`);
      const probe = ffprobe(join(out, clip));
      assert.equal(probe.frames, f.length);
      assert.ok(Math.abs(probe.duration - f.length / FPS) < 0.1, `${clip}: ffprobe ${probe.duration} s for ${f.length} frames`);
      const side = sidecar(out, clip);
      assert.equal(side.recording, false);
      assert.deepEqual(side.triggers.map((x) => [x.type, x.pts]), [['interval', t]]);
      assert.equal(side.stream, prefix === 'front_0' ? 0 : 1);
    }
  }
});

test('deepstream-app smart-record=1 records on cloud messages only (triggerRecord here), and bad values are coded errors', async () => {
  const dir = tmp();
  const src = await sourceFile(dir);
  const cfg = join(dir, 'app.txt');
  const base = `[source0]\nenable=1\ntype=2\nuri=file://${src}\nsmart-rec-dir-path=out\nsmart-rec-start-time=2\nsmart-rec-cache=1\n`;
  const app = readDeepstreamApp(`${base}smart-record=1\nsmart-rec-duration=3\n`, cfg);
  assert.ok(app.warnings.some((w) => /smart-record=1: clips start on cloud messages only/.test(w)));
  assert.ok(app.warnings.some((w) => /smart-rec-start-time=2 is more than smart-rec-cache=1/.test(w)), app.warnings.join('\n'));
  assert.match(app.launch, /record location=\S+ pre=1 post=3 cache-bytes=1000000 {2}mux name=m/);
  const p: Pipeline = launch(app.launch);
  p.addProbe('encode0.src', (f) => { if (f.frame === 150) triggerRecord(p, { reason: 'cloud' }); });
  await p.run();
  const clips = mp4s(join(dir, 'out'));
  assert.equal(clips.length, 1, clips.join());
  assert.match(clips[0]!, /^0-.*-cloud\.mp4$/);
  for (const bad of ['smart-record=3\n', 'smart-record=2\nsmart-rec-interval=0\n', 'smart-record=2\nsmart-rec-duration=-1\n']) {
    assert.throws(() => readDeepstreamApp(base + bad, cfg), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_PROPERTY' && /\[source0\] smart-re/.test(e.message), bad);
  }
});

const LABELS = ['red', 'green', 'blue'];
test('nats mode=events jetstream=true with the default subjects: the stream stores every event (made for them, or widened from the frames subject)', { timeout: 60_000 }, async (t) => {
  const b = await startBroker('nats');
  t.after(() => b.stop());
  const dir = tmp();
  const run = async (sink: string) => {
    const ev = join(dir, `events-${Math.random()}.jsonl`);
    const p = launch(`testsrc pattern=objects num-frames=200 num-objects=3 seed=5 width=640 height=480 speed=2 ! track min-hits=1 ! analytics lines=mid:320,0,320,480 ! tee name=t t. ! queue ! meta mode=events location=${ev} t. ! queue ! ${sink}`);
    p.addProbe('testsrc0.src', (f) => {
      f.meta.objects = f.meta.truth!.filter((x) => x.visible >= 0.3).map((x) => ({ class: x.class, label: LABELS[x.class], score: 0.9, box: x.box, attributes: {} }));
    });
    const warnings: string[] = [];
    p.bus.on('warning', (m) => warnings.push(m.message));
    await p.run();
    return { events: readFileSync(ev, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>), warnings };
  };
  const nc = await connect({ servers: b.url });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const stored = async (name: string) => {
    const out: Record<string, unknown>[] = [];
    const c = await (await import('@nats-io/jetstream')).jetstream(nc).consumers.get(name);
    const info = await jsm.streams.info(name);
    const it = await c.fetch({ max_messages: info.state.messages, expires: 2000 });
    for await (const m of it) out.push({ subject: m.subject, ...(m.json() as Record<string, unknown>) });
    return out;
  };

  const a = await run('nats url=' + b.url + ' mode=events jetstream=true stream=EVENTS');
  assert.ok(a.events.length > 10 && a.events.some((e) => e.type === 'line-cross'), `${a.events.length} events`);
  const info = await jsm.streams.info('EVENTS');
  assert.deepEqual(info.config.subjects, ['sluice.*.events.*']);
  const got = await stored('EVENTS');
  assert.equal(got.length, a.events.length, 'every event stored, once');
  for (const [i, g] of got.entries()) {
    const { subject, ...e } = g;
    assert.deepEqual(e, a.events[i]);
    assert.equal(subject, `sluice.0.events.${e.type}`);
    assert.deepEqual(validate(e), []);
  }

  // Streams may not overlap: EVENTS goes before MIXED takes the same subjects.
  await jsm.streams.delete('EVENTS');
  // A stream made by an earlier frames run holds only sluice.meta.*: the events run widens it.
  await launch(`testsrc num-frames=5 ! nats url=${b.url} jetstream=true stream=MIXED`).run();
  assert.deepEqual((await jsm.streams.info('MIXED')).config.subjects, ['sluice.meta.*']);
  const m = await run(`nats url=${b.url} mode=events jetstream=true stream=MIXED`);
  assert.ok(m.warnings.some((w) => /JetStream stream MIXED did not store sluice\.\*\.events\.\*: added it/.test(w)), m.warnings.join(' | '));
  const mixed = await jsm.streams.info('MIXED');
  assert.deepEqual(mixed.config.subjects, ['sluice.meta.*', 'sluice.*.events.*']);
  assert.equal(mixed.state.messages, 5 + m.events.length);
});
