// RTSP input from cameras that are not Sluice (GStreamer's RTSP server, test/fixtures): a camera
// that dies and comes back resumes with its numbering continued while the other never stops; a
// server that accepts and never answers times out with a coded error; Ctrl-C always wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ASSETS, ROOT, freePort, sluice, tmp } from './helpers.ts';
import { camera, stopped } from './helpers/rtsp-camera.ts';

for (const threaded of [false, true]) test(`two GStreamer RTSP cameras into one mux: one is killed and restarted, its numbering goes on, the other never stops${threaded ? ' (decoded in a decoding thread)' : ''}`, { timeout: 120_000 }, async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  let a = await camera(pa);
  const b = await camera(pb);
  const out = join(tmp(), 'm.jsonl');
  const run = sluice(['launch', '-q', `uri location=rtsp://127.0.0.1:${pa}/cam timeout=1000 reconnect-interval=300 num-frames=200 threaded=${threaded} ! m.  uri location=rtsp://127.0.0.1:${pb}/cam num-frames=200 ! m.  mux name=m ! meta location=${out}`], { timeoutMs: 90_000 });
  try {
    await sleep(2500);
    await stopped(a);
    const downAt = Date.now();
    await sleep(2000);
    a = await camera(pa);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /uri0: rtsp:\/\/127\.0\.0\.1:\d+\/cam: stream lost/);
    assert.match(r.stderr, /uri0: rtsp:\/\/127\.0\.0\.1:\d+\/cam: stream restored after \d+ ms/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stream: number; frame: number; pts: number; events: { type: string }[] });
    const s0 = lines.filter((l) => l.stream === 0), s1 = lines.filter((l) => l.stream === 1);
    assert.equal(s0.length, 200);
    assert.equal(s1.length, 200);
    // Stream 0's numbers run on without a restart, and its clock jumped over the outage.
    assert.deepEqual(s0.map((l) => l.frame), [...Array(200).keys()]);
    const restored = s0.find((l) => l.events.some((e) => e.type === 'stream-restored'))!;
    assert.ok(restored && restored.events.some((e) => e.type === 'stream-lost'));
    const before = s0[restored.frame - 1]!;
    assert.ok(restored.pts - before.pts > 1.5, `pts ${before.pts} -> ${restored.pts} across a ~2 s outage`);
    // Stream 1 kept flowing while stream 0 was away (frames of it between the two of stream 0's).
    const i0 = lines.indexOf(before), i1 = lines.indexOf(restored);
    const during = lines.slice(i0, i1).filter((l) => l.stream === 1).length;
    assert.ok(during >= 30, `only ${during} frames of the other camera during the outage (${Date.now() - downAt} ms ago)`);
  } finally {
    await stopped(a);
    await stopped(b);
  }
});

test('a server that accepts and never answers: open times out with a coded error naming the URL; with reconnect, Ctrl-C ends it at once', { timeout: 60_000 }, async () => {
  const held: Socket[] = [];
  const silent = createServer((s) => { held.push(s); s.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as { port: number }).port;
  try {
    const t0 = Date.now();
    const r = await sluice(['launch', `uri location=rtsp://viewer:secret@127.0.0.1:${port}/x timeout=1000 reconnect=false ! fakesink`], { timeoutMs: 30_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`SLUICE_ERR_TIMEOUT: cannot open rtsp://viewer:\\*\\*\\*@127\\.0\\.0\\.1:${port}/x: no complete answer within 1000 ms \\(timeout\\)`));
    assert.doesNotMatch(r.stderr, /secret/, 'the password is not printed');
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    // Reconnecting forever: SIGINT still ends it promptly, with exit 0 (an EOS, not a crash).
    let sent = 0;
    // SIGINT once it plays (-v says so), not after a fixed time: a loaded box may still be starting.
    const run = sluice(['launch', '-v', `uri location=rtsp://127.0.0.1:${port}/x timeout=30000 ! fakesink`], {
      timeoutMs: 30_000,
      onSpawn: (p) => {
        let err = '', armed = false;
        const seen = (d: Buffer) => { err += d; if (!armed && /paused -> playing/.test(err)) { armed = true; setTimeout(() => { sent = Date.now(); p.kill('SIGINT'); }, 500); } };
        p.stdout!.on('data', seen);
        p.stderr!.on('data', seen);
      },
    });
    const done = await run;
    assert.ok(Date.now() - sent < 3000, `exited ${Date.now() - sent} ms after SIGINT`);
    assert.equal(done.signal, null, done.stderr);
  } finally {
    for (const s of held) s.destroy();
    silent.close();
  }
});

test('Sluice reads its own rtsp sink through uri (TCP and UDP), and GStreamer rtspsrc reads the sink too', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  // Live for up to a minute; ended with Ctrl-C once every client has read (a busy CI box is slow).
  let server: ChildProcess | null = null;
  const serverReport = join(tmp(), 'serve.json');
  const serve = sluice(['launch', '-q', '--report', serverReport, `testsrc pattern=bars live=true fps=30 num-frames=1800 width=160 height=120 ! encode preset=ultrafast tune=zerolatency gop=10 ! rtsp port=${port}`], { timeoutMs: 90_000, onSpawn: (p) => { server = p; } });
  await sleep(1200);
  for (const proto of ['tcp', 'udp']) {
    const r = await sluice(['launch', '-q', '--report', join(tmp(), 'r.json'), `uri location=rtsp://127.0.0.1:${port}/ds protocols=${proto} num-frames=20 ! fakesink`]);
    assert.equal(r.code, 0, `${proto}: ${r.stderr}`);
  }
  // The same bars, encoded the same way into a file and decoded by FFmpeg: what GStreamer must see.
  const dir = tmp();
  const refFile = join(dir, 'ref.mkv');
  await sluice(['launch', '-q', `testsrc pattern=bars num-frames=1 width=160 height=120 ! encode preset=ultrafast tune=zerolatency gop=10 ! file location=${refFile}`]);
  // Luma planes compared as decoded (I420), with no range conversion on either side.
  const ref = execFileSync('ffmpeg', ['-v', 'error', '-i', refFile, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-']).subarray(0, 160 * 120);
  const FRAME = 160 * 120 * 3 / 2;
  for (const proto of ['tcp', 'udp']) {
    const out = join(dir, `gst-${proto}.i420`);
    const g = spawn('gst-launch-1.0', ['-q', '-e', 'rtspsrc', `location=rtsp://127.0.0.1:${port}/ds`, `protocols=${proto}`, 'latency=0', '!', 'rtph264depay', '!', 'avdec_h264', '!', 'video/x-raw,format=I420,width=160,height=120', '!', 'identity', 'eos-after=15', '!', 'filesink', `location=${out}`]);
    let err = '';
    g.stderr.on('data', (d) => { err += d; });
    const code = await new Promise<number | null>((r) => { const k = setTimeout(() => g.kill('SIGKILL'), 20_000); g.on('close', (c) => { clearTimeout(k); r(c); }); });
    // rtspsrc over UDP has once (1 run in many on a 2-core CI box) failed its PAUSE at shutdown,
    // after the frames below had arrived, seeing the control connection closed. Such a teardown
    // error alone is noted, not failed on; the frames must still all be there and right, and the
    // server must have refused nothing (its report, checked below, counts every connection it
    // closes on a client).
    const teardownOnly = code !== 0 && /gst_rtspsrc_(pause|close)/.test(err) && !/gst_rtspsrc_(retrieve_sdp|setup|play|open)/.test(err);
    if (teardownOnly) t.diagnostic(`gst-launch ${proto}: error at shutdown only: ${err.split('\n')[0]}`);
    else assert.equal(code, 0, `gst-launch ${proto}: ${err}`);
    const frames = readFileSync(out);
    // identity eos-after=15 ends the stream on the 15th buffer: 14 whole frames reach the file.
    assert.equal(frames.length, 14 * FRAME, `${proto}: 14 frames of 160x120 from GStreamer`);
    for (const i of [0, 13]) {
      const f = frames.subarray(i * FRAME, i * FRAME + 160 * 120);
      let d = 0;
      for (let k = 0; k < f.length; k++) d += Math.abs(f[k]! - ref[k]!);
      assert.ok(d / f.length < 3, `${proto} frame ${i}: mean difference ${(d / f.length).toFixed(2)} from the reference`);
    }
  }
  (server as ChildProcess | null)?.kill('SIGINT');
  assert.equal((await serve).code, 0);
  const resolved = (JSON.parse(readFileSync(serverReport, 'utf8')) as { elements: Record<string, { resolved: Record<string, number> }> }).elements.rtsp0!.resolved;
  for (const [k, v] of Object.entries(resolved)) if (k.startsWith('rejected_')) assert.equal(v, 0, `the server ${k}: ${v}`);
  assert.ok('rejected_idle' in resolved && 'rejected_badRequest' in resolved, JSON.stringify(resolved));
});

test('examples/slipstream-rtsp.ts: two RTSP cameras in, detection, a tiled RTSP stream out, and the seed\'s per-frame counts', { timeout: 120_000 }, async () => {
  const [pa, pb, out] = [await freePort(), await freePort(), await freePort()];
  const a = await camera(pa), b = await camera(pb);
  try {
    const ex = spawn(process.execPath, [join(ROOT, 'examples', 'slipstream-rtsp.ts'), `rtsp://127.0.0.1:${pa}/cam`, `rtsp://127.0.0.1:${pb}/cam`, '--port', String(out), '--frames', '120', '--model', join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    ex.stdout!.on('data', (d) => { stdout += d; });
    ex.stderr!.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((r) => ex.on('close', r));
    for (let i = 0; i < 200 && !/streaming at rtsp:\/\//.test(stderr); i++) await sleep(50);
    assert.match(stderr, new RegExp(`\\*\\*\\* Sluice: streaming at rtsp://127\\.0\\.0\\.1:${out}/ds \\*\\*\\*`));
    // A client reads the tiled output while it plays.
    const v = spawn('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', `rtsp://127.0.0.1:${out}/ds`, '-frames:v', '10', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let verr = '';
    v.stderr!.on('data', (d) => { verr += d; });
    const vcode = await new Promise<number | null>((r) => { const t = setTimeout(() => v.kill('SIGKILL'), 30_000); v.on('close', (c) => { clearTimeout(t); r(c); }); });
    assert.equal(vcode, 0, verr);
    assert.equal(await exited, 0, stderr);
    const lines = stdout.trim().split('\n').filter((l) => l.startsWith('Frame Number='));
    for (const l of lines) assert.match(l, /^Frame Number=\d+ Stream=[01] Number of Objects=\d+ Vehicle_count=\d+ Person_count=\d+$/);
    // Live cameras: a frame that would reach the output later than max-latency is dropped, so on
    // a loaded box some of the 240 never reach the probe; those that do come in order, once each.
    for (const st of [0, 1]) {
      const nums = lines.filter((l) => l.includes(` Stream=${st} `)).map((l) => Number(/Frame Number=(\d+)/.exec(l)![1]));
      assert.ok(nums.length >= 60, `stream ${st}: ${nums.length} of 120 frames reached the probe`);
      for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]! && nums[i]! < 120, `stream ${st}: frame ${nums[i]} after ${nums[i - 1]}`);
    }
  } finally {
    await stopped(a);
    await stopped(b);
  }
});

test('examples/slipstream-rtsp.yaml runs against four GStreamer cameras and serves its tiled stream', { timeout: 120_000 }, async () => {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const out = await freePort();
  const cams = await Promise.all(ports.map((p) => camera(p)));
  try {
    let yaml = readFileSync(join(ROOT, 'examples', 'slipstream-rtsp.yaml'), 'utf8').replaceAll('../shared', ASSETS).replaceAll('num-frames=300', 'num-frames=90').replace('port=8554', `port=${out}`);
    ports.forEach((p, i) => { yaml = yaml.replace(`:860${i + 1}/`, `:${p}/`); });
    const dir = tmp();
    writeFileSync(join(dir, 'slipstream-rtsp.yaml'), yaml);
    let log = '';
    const run = sluice(['run', '-q', '--report', join(dir, 'r.json'), 'slipstream-rtsp.yaml'], { cwd: dir, timeoutMs: 90_000, onSpawn: (p) => p.stderr!.on('data', (d) => { log += d; }) });
    for (let i = 0; i < 300 && !/streaming at rtsp:/.test(log); i++) await sleep(50);
    const v = spawn('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', `rtsp://127.0.0.1:${out}/ds`, '-frames:v', '5', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0, verr = '';
    v.stdout!.on('data', (d: Buffer) => { bytes += d.length; });
    v.stderr!.on('data', (d) => { verr += d; });
    const vcode = await new Promise<number | null>((r) => { const t = setTimeout(() => v.kill('SIGKILL'), 30_000); v.on('close', (c) => { clearTimeout(t); r(c); }); });
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(vcode, 0, verr);
    assert.equal(bytes, 5 * 1280 * 720, 'five 1280x720 tiled frames');
    const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    assert.equal(rep.frames, 360);
  } finally {
    await Promise.all(cams.map(stopped));
  }
});

test('a camera that does not come back gives up after reconnect-attempts: its stream alone ends, the other plays on', { timeout: 90_000 }, async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = await camera(pa);
  const b = await camera(pb);
  const out = join(tmp(), 'm.jsonl');
  const run = sluice(['launch', '-q', `uri location=rtsp://127.0.0.1:${pa}/cam timeout=1000 reconnect-interval=200 reconnect-attempts=3 ! m.  uri location=rtsp://127.0.0.1:${pb}/cam num-frames=150 ! m.  mux name=m ! meta location=${out}`], { timeoutMs: 60_000 });
  try {
    // Stop the camera once it has delivered frames (a fixed wait saw only 20 on a loaded CI box).
    const seen0 = () => existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter((l) => { try { return (JSON.parse(l) as { stream: number }).stream === 0; } catch { return false; } }).length : 0;
    for (let t = 0; seen0() < 20 && t < 200; t++) await sleep(100);
    await stopped(a);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /uri0: rtsp:\/\/127\.0\.0\.1:\d+\/cam: gave up after 3 reconnection attempts; this stream ends/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stream: number; frame: number });
    const s0 = lines.filter((l) => l.stream === 0).length, s1 = lines.filter((l) => l.stream === 1).length;
    assert.equal(s1, 150, 'the other camera delivered all its frames');
    assert.ok(s0 >= 20 && s0 < 150, `the lost camera delivered ${s0} frames before it went`);
  } finally {
    await stopped(a);
    await stopped(b);
  }
});

for (const threaded of [false, true]) test(`a camera that sends RTCP sender reports is timed by its own capture clock, not by arrival${threaded ? ' (decoding thread)' : ''}`, { timeout: 60_000 }, async () => {
  const { launch } = await import('../src/index.ts');
  const port = await freePort();
  const cam = await camera(port);
  try {
    const p = launch(`uri location=rtsp://127.0.0.1:${port}/cam protocols=tcp threaded=${threaded} num-frames=120 ! fakesink`);
    // Age at the source's output: capture (the camera's clock) to here, and arrival-based (the decoding thread's stamp) to here.
    const ages: number[] = [];
    p.addProbe('uri0.src', (f) => { if (f.frame >= 60 && f.captured !== undefined) ages.push(performance.now() - f.captured); });
    const r = await p.run();
    const how = r.elements.uri0!.resolved!.captureClock;
    assert.equal(how, 'camera (RTCP sender reports)', `uri0 says ${how}`);
    assert.ok(ages.length >= 50, `${ages.length} frames timed`);
    ages.sort((a, b) => a - b);
    const p50 = ages[ages.length >> 1]!;
    // The camera is on this machine: capture is a little before arrival (its encode and send),
    // never after it, and far less than a second before.
    assert.ok(ages[0]! >= 0, `a frame captured in the future: ${ages[0]} ms`);
    assert.ok(p50 < 500, `p50 age ${p50.toFixed(1)} ms`);
  } finally {
    await stopped(cam);
  }
});
