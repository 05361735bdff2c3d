// bench/gpu-display.ts as the lead runs it on the GPU machine, here at smoke size (one stream,
// a small canvas, the CPU): the whole chain to a real RTSP client, and both latency measures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, tmp } from './helpers.ts';

test('display bench (smoke): a live-paced stream through tile/osd/encode/rtsp to FFmpeg; fps in and out, latency from the frame codes and from the report', { timeout: 240_000 }, async () => {
  const out = tmp();
  const args = ['--streams', '1', '--seconds', '2', '--warm', '2', '--modes', 'live', '--ep', 'cpu', '--tile', '640x360', '--clip-frames', '40', '--clip-fps', '10',
    // Never drop: on a loaded box a live source that falls behind past max-latency drops nearly
    // every frame at its output, and a smoke check of the script needs frames to measure.
    '--src', 'max-latency=0', '--out', out];
  const p = spawn(process.execPath, [join(ROOT, 'bench', 'gpu-display.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const code = await new Promise<number | null>((r) => p.on('close', r));
  assert.equal(code, 0, stderr.slice(-2000));
  const line = stdout.split('\n').find((l) => l.startsWith('SUMMARY '));
  assert.ok(line, `no SUMMARY line in:\n${stdout.slice(-2000)}`);
  const s = JSON.parse(line.slice(8));
  assert.match(s.clip.label, /^real scene 1080p/);
  const r = s.results[0];
  assert.equal(r.mode, 'live');
  // Paced at the clip's 10 fps (the scene's own rate: a third of the decoding, so that a loaded CI
  // box keeps up): the source cannot run ahead of its clock.
  assert.ok(r.inFps > 3 && r.inFps <= 11, `in ${r.inFps} fps`);
  assert.ok(r.outFps > 2, `out ${r.outFps} fps at the client`);
  // The client read frame codes in the cells, and the latency they give is a real one: above the
  // encode + RTSP + decode floor, below the clip's loop (4 s of frame numbers, beyond which a code
  // would be ambiguous).
  assert.ok(r.latencyClientMs.cells >= 5, `codes read in ${r.latencyClientMs.cells} cells`);
  assert.ok(r.latencyClientMs.p50 > 1 && r.latencyClientMs.p99 < 3500, JSON.stringify(r.latencyClientMs));
  assert.ok(r.latencyReportMs.p50 > 0, 'the rtsp sink reported its latency from capture');
  assert.ok(r.busy.encode0 >= 0 && r.mainThread > 0 && r.cores > 0, JSON.stringify(r));
  // The readable table is printed too.
  assert.match(stdout, /\| live \| [\d.]+ \|/);
});
