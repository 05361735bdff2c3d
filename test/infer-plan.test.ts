// infer's run plan as a function of the model's facts and the machine's: no model, no GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchPlan, chooseProvider, compilePlan, gpuBatch, inflightFor, intraOpThreads, sessionsPlan } from '../src/infer/plan.ts';
import type { Backends } from '../src/infer/backends.ts';

const backends = (cuda: boolean, webgpu = false): Backends => ({
  cpu: { usable: true, why: '' },
  cuda: cuda ? { usable: true, why: '' } : { usable: false, why: 'libcudart.so.13 not found' },
  webgpu: webgpu ? { usable: true, why: '' } : { usable: false, why: 'no adapter' },
  tensorrt: { usable: false, why: 'not installed' },
});

test('provider: auto takes cuda where usable, else the cpu (a warning only where a driver is)', () => {
  assert.deepEqual(chooseProvider('auto', backends(true), true, 'infer0'), { ep: 'cuda' });
  const warned = chooseProvider('auto', backends(false), true, 'infer0');
  assert.equal(warned.ep, 'cpu');
  assert.match(warned.warning!, /cuda is not usable: libcudart/);
  const quiet = chooseProvider('auto', backends(false), false, 'infer0');
  assert.deepEqual([quiet.ep, quiet.warning, !!quiet.note], ['cpu', undefined, true]);
  assert.deepEqual(chooseProvider('cpu', backends(false), true, 'infer0'), { ep: 'cpu' });
  assert.throws(() => chooseProvider('webgpu', backends(true), true, 'infer0'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_EP' && /infer0: execution provider webgpu is not available here: no adapter/.test(e.message));
});

test('compile: auto compiles, off and compiled files do not; fp16 on the cpu compiles fp32 with a warning', () => {
  assert.deepEqual(compilePlan({ compile: 'auto', precision: 'fp16' }, false, 'cuda'), { compile: true, precision: 'fp16' });
  const cpu16 = compilePlan({ compile: 'auto', precision: 'fp16' }, false, 'cpu');
  assert.deepEqual([cpu16.compile, cpu16.precision], [true, 'fp32']);
  assert.match(cpu16.warning!, /no fp16 kernels/);
  assert.deepEqual(compilePlan({ compile: 'off', precision: 'fp32' }, false, 'cpu'), { compile: false, precision: 'fp32', why: 'compile=off' });
  assert.equal(compilePlan({ compile: 'off', precision: 'fp32' }, true, 'cpu').why, undefined, 'a compiled file needs no reason');
});

test('sessions and threads: 2 sessions (1 on a 1-core cpu), one for webgpu, cores split on the cpu', () => {
  assert.deepEqual(sessionsPlan(0, 'cpu', 2), { workers: 2 });
  assert.deepEqual(sessionsPlan(0, 'cpu', 1), { workers: 1 });
  assert.deepEqual(sessionsPlan(0, 'cuda', 1), { workers: 2 });
  assert.deepEqual(sessionsPlan(6, 'cuda', 16), { workers: 6 });
  assert.deepEqual(sessionsPlan(0, 'webgpu', 16), { workers: 1 }, 'the default quietly becomes 1');
  assert.match(sessionsPlan(4, 'webgpu', 16).warning!, /using workers=1 \(asked 4\)/);
  assert.equal(intraOpThreads('cpu', 0, 2, 16), 8);
  assert.equal(intraOpThreads('cpu', 0, 4, 2), 1);
  assert.equal(intraOpThreads('cpu', 3, 2, 16), 3);
  assert.equal(intraOpThreads('cuda', 0, 2, 16), 1);
});

test('batch: dynamic compiled models batch 64 (light) or 32 (heavy) on a GPU, 1 on the cpu; fixed batches cap; GPU calls pad', () => {
  const light = { compiled: true, fixedBatch: 0, compiledBytes: 2 << 20 };
  const heavy = { compiled: true, fixedBatch: 0, compiledBytes: 70 << 20 };
  assert.deepEqual(batchPlan(light, 'cuda', 0), { fixed: 0, batch: 64, padTo: 64, capped: false });
  assert.deepEqual(batchPlan(heavy, 'cuda', 0), { fixed: 0, batch: 32, padTo: 32, capped: false });
  assert.equal(gpuBatch(null), 32, 'an unreadable size counts as heavy');
  assert.deepEqual(batchPlan(light, 'cpu', 0), { fixed: 0, batch: 1, padTo: 0, capped: false });
  assert.deepEqual(batchPlan(light, 'cpu', 8), { fixed: 0, batch: 8, padTo: 0, capped: false });
  assert.deepEqual(batchPlan({ compiled: false, fixedBatch: -1 }, 'cuda', 0), { fixed: 0, batch: 1, padTo: 1, capped: false }, 'uncompiled: 1 unless asked');
  assert.deepEqual(batchPlan({ compiled: false, fixedBatch: 4 }, 'cuda', 16), { fixed: 4, batch: 4, padTo: 4, capped: true });
  assert.deepEqual(batchPlan({ compiled: true, fixedBatch: 1 }, 'cuda', 0), { fixed: 1, batch: 1, padTo: 1, capped: false });
  assert.deepEqual(inflightFor(2), { inflight: 4, slots: 5 });
});
