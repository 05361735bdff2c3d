// Typed stream-state bus messages from uri's reconnect state machine, next to the warnings a
// person reads: a camera nobody answers for, a GStreamer RTSP camera that drops and returns, and
// serve's stream state, which follows these messages (not the warnings' text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, registry } from '../src/index.ts';
import type { BusMessage, StreamStateMessage } from '../src/core/bus.ts';
import { Service } from '../src/serve/service.ts';
import { sourcePolicy } from '../src/serve/sources.ts';
import { freePort } from './helpers.ts';
import { camera, stopped } from './helpers/rtsp-camera.ts';

/** The stream-state messages and warnings a pipeline posts, as they come. */
function record(p: { bus: { on(t: 'message', fn: (m: BusMessage) => void): () => void } }) {
  const states: StreamStateMessage[] = [], warnings: string[] = [];
  p.bus.on('message', (m) => { if (m.type === 'stream-state') states.push(m); else if (m.type === 'warning') warnings.push(m.message); });
  return { states, warnings };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  for (const t0 = Date.now(); !ok(); await sleep(50)) if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
}

test('a camera that refuses every connection: connecting, unreachable (with the open\'s error), gave-up; each warning said alongside', { timeout: 30_000 }, async () => {
  const port = await freePort(); // nothing listens there: every connection is refused
  const p = launch(`uri name=cam location=rtsp://127.0.0.1:${port}/cam timeout=500 reconnect-interval=100 reconnect-attempts=2 ! fakesink`);
  const { states, warnings } = record(p);
  await p.run();
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'unreachable', 'gave-up']);
  for (const s of states) {
    assert.equal(s.source, 'cam');
    assert.equal(s.stream, 0);
    assert.equal(s.label, '0');
  }
  const [, unreachable, gaveUp] = states;
  assert.match(unreachable!.reason!, /cannot open rtsp:\/\/127\.0\.0\.1:\d+\/cam/);
  assert.match(unreachable!.message!, /stream lost \(not reachable at start\); reconnecting every 100 ms/);
  assert.match(gaveUp!.message!, /gave up after 2 reconnection attempts/);
  // The human line is still a warning, word for word the one the state message carries.
  for (const s of [unreachable!, gaveUp!]) assert.ok(warnings.includes(s.message!), `warning "${s.message}" posted`);
});

test('a GStreamer RTSP camera that drops and returns: playing, lost, restored (with the time away), ended', { timeout: 60_000 }, async () => {
  const port = await freePort();
  let cam = await camera(port);
  const p = launch(`uri name=cam location=rtsp://127.0.0.1:${port}/cam protocols=tcp timeout=1000 reconnect-interval=200 num-frames=60 ! fakesink`);
  const { states } = record(p);
  let frames = 0;
  p.addProbe('cam.src', () => { frames++; });
  const running = p.run();
  try {
    await until('frames from the camera', () => frames >= 10);
    await stopped(cam);
    await until('the drop seen', () => states.some((s) => s.state === 'lost'));
    cam = await camera(port);
    await running;
  } finally {
    await stopped(cam);
  }
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'playing', 'lost', 'restored', 'ended']);
  const lost = states[2]!, restored = states[3]!;
  assert.ok(lost.reason, 'a drop says why');
  assert.match(lost.message!, /stream lost \(.+\); reconnecting every 200 ms/);
  assert.ok(restored.downMs! > 0, `downMs ${restored.downMs}`);
  assert.match(restored.message!, new RegExp(`stream restored after ${restored.downMs} ms`));
  assert.equal(frames, 60);
});

test('serve: a stream whose camera is down is "reconnecting" with its error, and "playing" once the camera is up', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const svc = new Service({ source: 'uri location={uri} protocols=tcp timeout=500 reconnect=true reconnect-interval=200', chain: 'mux name=m ! fakesink', streams: [], api: '127.0.0.1:0', state: '' }, registry(), { sources: sourcePolicy() });
  await svc.start();
  let cam: Awaited<ReturnType<typeof camera>> | null = null;
  try {
    await svc.add('door', `rtsp://127.0.0.1:${port}/cam`, { persist: false });
    await until('reconnecting', () => svc.get('door').state === 'reconnecting');
    const down = svc.get('door');
    assert.equal(down.lastError?.code, 'SLUICE_ERR_MEDIA_OPEN');
    assert.match(down.lastError!.message, /rtsp:\/\/127\.0\.0\.1:\d+\/cam: stream lost \(not reachable at start\); reconnecting every 200 ms/);
    cam = await camera(port);
    await until('playing', () => svc.get('door').state === 'playing');
    assert.ok(svc.get('door').frames >= 0);
  } finally {
    await svc.shutdown();
    if (cam) await stopped(cam);
  }
});
