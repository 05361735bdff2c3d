import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram } from '../src/core/stats.ts';

test('latency histogram quantiles are within 2% from microseconds to minutes', () => {
  for (const scale of [0.01, 1, 25, 400, 60_000]) {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.add((i / 1000) * scale);
    for (const q of [0.5, 0.99]) {
      const want = q * scale;
      assert.ok(Math.abs(h.quantile(q) - want) / want < 0.025, `scale ${scale} q${q}: ${h.quantile(q)} vs ${want}`);
    }
  }
});
