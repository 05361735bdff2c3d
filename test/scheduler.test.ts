// Placement of inference calls over several GPUs (infer gpu-id=all / 0,1), tested with fake
// devices: calls spread over equal devices, a slower device gets fewer, a device that fails has
// its calls run again elsewhere with one warning naming it (no call lost), errors that are not a
// device's are the caller's, and when every device has failed the error says so.
import test from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceScheduler } from '../src/infer/scheduler.ts';
import { launch } from '../src/index.ts';
import { ASSETS } from './helpers.ts';

interface Fake { device: number; ms: number; failAfter: number; calls: number }
const fakes = (spec: [number, number, number?][], perDevice = 2): { exec: Fake; device: number }[] =>
  spec.flatMap(([device, ms, failAfter]) => Array.from({ length: perDevice }, () => ({ device, exec: { device, ms, failAfter: failAfter ?? Infinity, calls: 0 } })));

/** One fake GPU call: takes `ms` (one call at a time per session, as a worker does), or fails as CUDA does. */
const busy = new Map<Fake, Promise<unknown>>();
function call(f: Fake): Promise<number> {
  const prev = busy.get(f) ?? Promise.resolve();
  const p = prev.then(async () => {
    f.calls++;
    await sleep(f.ms);
    if (f.calls > f.failAfter) throw new Error('CUDA error: an illegal memory access was encountered');
    return f.device;
  });
  busy.set(f, p.catch(() => {}));
  return p;
}

async function drive(s: DeviceScheduler<Fake>, n: number, inflight: number): Promise<number[]> {
  const got: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => { while (next++ < n) got.push(await s.run(call, 8)); }));
  return got;
}

test('equal devices share the calls; a device three times slower gets about a quarter', async () => {
  const even = await drive(new DeviceScheduler(fakes([[0, 4], [1, 4]])), 200, 8);
  const on0 = even.filter((d) => d === 0).length;
  assert.equal(even.length, 200);
  assert.ok(on0 >= 80 && on0 <= 120, `device 0 ran ${on0} of 200`);
  const s = new DeviceScheduler(fakes([[0, 3], [1, 9]]));
  const t0 = performance.now();
  const skew = await drive(s, 200, 8);
  const ms = performance.now() - t0;
  const fast = skew.filter((d) => d === 0).length;
  assert.ok(fast >= 130, `the fast device ran ${fast} of 200`);
  // Better than splitting evenly: 100 calls on the slow device alone (2 sessions) take >= 450 ms.
  assert.ok(ms < 450, `${Math.round(ms)} ms for 200 calls`);
  const st = s.devices();
  assert.deepEqual(st.map((d) => d.device), [0, 1]);
  assert.equal(st[0]!.frames + st[1]!.frames, 200 * 8);
  assert.ok(st[1]!.msPerCall > st[0]!.msPerCall, JSON.stringify(st));
});

test('a device that fails: its calls run on the other, one warning names it, none is lost', async () => {
  const warned: number[] = [];
  const s = new DeviceScheduler(fakes([[0, 3], [1, 3, 5]]), { onFailure: (d) => warned.push(d) });
  const got = await drive(s, 120, 6);
  assert.equal(got.length, 120, 'every call answered');
  assert.deepEqual(warned, [1]);
  const st = s.devices();
  assert.equal(st[1]!.failed, true);
  assert.ok(st[1]!.calls <= 10, `GPU 1 answered ${st[1]!.calls} calls before it failed`);
  assert.equal(got.filter((d) => d === 0).length, 120 - st[1]!.calls);
});

test('errors that are not a device failing are not retried; every device failing is a coded error', async () => {
  const s = new DeviceScheduler(fakes([[0, 1], [1, 1]]));
  let calls = 0;
  await assert.rejects(s.run(async () => { calls++; throw new Error('input "images" has the wrong shape'); }), /wrong shape/);
  assert.equal(calls, 1);
  const dead = new DeviceScheduler(fakes([[0, 1, 0], [1, 1, 0]]));
  await assert.rejects(dead.run(call), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_INFER' && /every GPU failed \(GPU \d, GPU \d\)/.test(e.message));
  await assert.rejects(dead.run(call), /no GPU is left/);
});

test('infer gpu-id: all and lists resolve (one device on a CPU), a bad value is a coded error before start', async () => {
  const model = `${ASSETS}/models/yolox/yolox_nano.onnx`;
  const r = await launch(`testsrc num-frames=4 width=160 height=120 ! infer model=${model} ep=cpu gpu-id=all ! fakesink`).run();
  assert.equal(r.elements.infer0!.framesOut, 4);
  await assert.rejects(launch(`testsrc num-frames=1 ! infer model=${model} ep=cpu gpu-id=0,x ! fakesink`).run(), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_PROPERTY' && /gpu-id must be a GPU index, a comma-separated list \(0,1\) or all/.test(e.message));
});
