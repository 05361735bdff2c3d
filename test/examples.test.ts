import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASSETS, ROOT, ffprobe, sluice, tmp } from './helpers.ts';

test('people-counting example: the six visitors of one-by-one-person-detection.mp4 each cross the line once on their way out', { timeout: 300_000 }, async () => {
  // The example points at ../shared; run it against wherever the test assets are.
  const dir = tmp();
  const yaml = readFileSync(join(ROOT, 'examples/people-counting.yaml'), 'utf8').replaceAll('../shared', ASSETS);
  writeFileSync(join(dir, 'people-counting.yaml'), yaml);
  const r = await sluice(['run', 'people-counting.yaml', '-q'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(dir, 'people-counting.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1394);
  const outs = new Set<number>();
  for (const l of lines) for (const e of l.events) if (e.type === 'line-cross' && e.direction === 'out') outs.add(e.track);
  // Six people walk in one at a time (SOURCES.md / BENCHMARKS.md tracking run): six tracks leave.
  assert.equal(outs.size, 6, `tracks crossing out: ${[...outs]}`);
  assert.equal(ffprobe(join(dir, 'people-counting.mp4')).frames, 1394);
});
