// Inference-only throughput with onnxruntime-node on a GPU, the way `infer` runs models:
//  - a dynamic-batch model (ResNet-50) at several batch sizes, one session;
//  - a fixed-batch-1 detector (YOLOX-nano) with 1..8 concurrent sessions (Sluice's worker pool).
// Prints JSON lines. Usage: node bench/gpu-infer.ts RESNET.onnx YOLOX.onnx [ep]
import { SessionPool } from '../src/infer/pool.ts';
import type { Ep, PrepSpec } from '../src/infer/protocol.ts';
import * as ort from 'onnxruntime-node';

const [resnet, yoloxPath, epArg] = process.argv.slice(2);
const ep = (epArg ?? 'cuda') as Ep;

async function timed(fn: () => Promise<unknown>, minMs = 3000): Promise<{ calls: number; ms: number }> {
  for (let i = 0; i < 5; i++) await fn();
  const t0 = performance.now();
  let calls = 0;
  while (performance.now() - t0 < minMs) { await fn(); calls++; }
  return { calls, ms: performance.now() - t0 };
}

if (resnet) {
  const s = await ort.InferenceSession.create(resnet, { executionProviders: [ep], logSeverityLevel: 3, graphOptimizationLevel: 'all' });
  for (const b of [1, 8, 32, 128]) {
    const x = new ort.Tensor('float32', new Float32Array(b * 3 * 224 * 224).fill(0.5), [b, 3, 224, 224]);
    const name = s.inputNames[0]!;
    const r = await timed(async () => { const o = await s.run({ [name]: x }); for (const t of Object.values(o)) t.dispose(); });
    console.log(JSON.stringify({ bench: 'ort-resnet50', ep, batch: b, imgPerSec: (r.calls * b) / (r.ms / 1000) }));
  }
  await s.release();
}

if (yoloxPath) {
  const prep: PrepSpec = { width: 416, height: 416, layout: 'nchw', order: 'bgr', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };
  for (const workers of [1, 2, 4, 8]) {
    const pool = new SessionPool({ model: yoloxPath, ep, gpuId: 0, workers, intraOpThreads: 1 });
    await pool.open();
    // Enough requests in flight to keep every session busy, as the infer element does.
    const slots = Array.from({ length: workers * 2 }, () => new SharedArrayBuffer(416 * 416 * 3));
    let done = 0;
    const t0 = performance.now();
    const until = t0 + 4000;
    await Promise.all(slots.map(async (slot) => { while (performance.now() < until) { await pool.run('images', slot, 1, prep); done++; } }));
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ bench: 'sluice-pool-yolox', ep, workers, imgPerSec: done / (ms / 1000) }));
    await pool.close();
  }
}
