// The hint infer gives when it is the bottleneck, for each way it can run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advice, perGpu, type Running } from '../src/infer/advice.ts';

const run = (r: Partial<Running>): Running => ({ ep: 'cuda', workers: 2, fixedBatch: 0, batch: 64, compiled: 'built', precision: 'fp16', why: '', ...r });
const machine = (m: { cores?: number; driver?: boolean; gpus?: number; used?: number } = {}) => {
  const looked: string[] = [];
  return {
    looked,
    facts: {
      cores: m.cores ?? 16,
      nvidiaDriver: () => { looked.push('driver'); return m.driver ?? true; },
      gpus: () => { looked.push('gpus'); return m.gpus ?? 1; },
      gpusUsed: () => m.used ?? 1,
    },
  };
};

test('on the cpu: ep=cuda where a driver is, more sessions only while there are cores for them', () => {
  assert.equal(advice(run({ ep: 'cpu' }), machine().facts), 'try ep=cuda, workers=4 (2 session(s) now; fixed-batch models need calls in flight), or interval=N (infers every Nth frame)');
  assert.equal(advice(run({ ep: 'cpu' }), machine({ cores: 2, driver: false }).facts), 'try a smaller model, interval=N (infers every Nth frame), or fewer streams per process');
});

test('on a GPU: fixed batch -> sessions; small dynamic batch -> a bigger one; uncompiled and fp32 said', () => {
  const m = machine();
  assert.equal(advice(run({ fixedBatch: 1, batch: 1, compiled: 'no', why: 'compile=off', precision: 'fp32' }), m.facts),
    'try workers=4 (2 session(s) now; fixed-batch models need calls in flight), or interval=N; it runs uncompiled (compile=off), so float tensors are built on the host');
  assert.match(advice(run({ batch: 16, precision: 'fp32' }), m.facts), /^try batch-size=32 \(dynamic batch; mux several streams\), precision=fp16 or workers=4/);
  assert.match(advice(run({ batch: 2 }), m.facts), /^try batch-size=8 /);
  assert.deepEqual(m.looked, [], 'no machine look-ups on these branches');
});

test('at batch 64: a lighter model, and every GPU when some are unused', () => {
  assert.equal(advice(run({}), machine({ gpus: 1 }).facts), 'try interval=N (infers every Nth frame), a lighter model');
  assert.equal(advice(run({}), machine({ gpus: 4, used: 1 }).facts), 'try interval=N (infers every Nth frame), a lighter model, or every GPU (gpu-id=all)');
  assert.equal(advice(run({}), machine({ gpus: 4, used: 4 }).facts), 'try interval=N (infers every Nth frame), a lighter model');
  assert.equal(perGpu([{ device: 0, busy: 0.93, failed: false }, { device: 1, busy: 0, failed: true }]), ' [GPU 0 93% busy, GPU 1 0% busy (failed)]');
  assert.equal(perGpu([]), '');
});
