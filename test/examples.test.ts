import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, ffprobe, sluice } from './helpers.ts';

test('people-counting example: the six visitors of one-by-one-person-detection.mp4 each cross the line once on their way out', { timeout: 300_000 }, async () => {
  const r = await sluice(['run', 'examples/people-counting.yaml', '-q'], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(ROOT, 'people-counting.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1394);
  const outs = new Set<number>();
  for (const l of lines) for (const e of l.events) if (e.type === 'line-cross' && e.direction === 'out') outs.add(e.track);
  // Six people walk in one at a time (SOURCES.md / BENCHMARKS.md tracking run): six tracks leave.
  assert.equal(outs.size, 6, `tracks crossing out: ${[...outs]}`);
  assert.equal(ffprobe(join(ROOT, 'people-counting.mp4')).frames, 1394);
  for (const f of ['people-counting.jsonl', 'people-counting.mp4']) rmSync(join(ROOT, f), { force: true });
});
