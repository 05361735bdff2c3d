// Recordings survive what users do to processes: a live or endless source is written as
// fragmented MP4, so SIGKILL or a second Ctrl-C leaves a file that plays up to its last
// fragment; a finite one still gets a standard mp4 with its index (seekable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, ffprobe, sluice, tmp } from './helpers.ts';

async function recordThen(kill: (p: ReturnType<typeof spawn>) => Promise<void>, extra = ''): Promise<string> {
  const out = join(tmp(), 'live.mp4');
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), 'launch', '-q', `testsrc pattern=objects live=true fps=30 width=320 height=240 ! encode preset=ultrafast gop=15 ! file location=${out} ${extra}`], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => p.on('close', () => r()));
  // Until a few fragments are on disk.
  for (let i = 0; i < 200 && !(existsSync(out) && statSync(out).size > 20_000); i++) await sleep(50);
  await kill(p);
  await exited;
  return out;
}

test('SIGKILL while recording a live source leaves an mp4 that plays up to its last fragment', async () => {
  const out = await recordThen(async (p) => { p.kill('SIGKILL'); });
  const probe = ffprobe(out);
  assert.ok(probe.frames >= 15, `${probe.frames} frames play after the kill`);
  assert.equal(probe.width, 320);
  assert.ok(readFileSync(out).includes(Buffer.from('moof')), 'written as fragments');
});

test('a second Ctrl-C (abort during the drain) also leaves a playable file', async () => {
  const out = await recordThen(async (p) => { p.kill('SIGINT'); await sleep(20); p.kill('SIGINT'); });
  assert.ok(ffprobe(out).frames >= 15);
});

test('a finite source still gets a standard mp4 (no fragments, index at the end); fragmented=on forces them', async () => {
  const dir = tmp();
  const plain = join(dir, 'plain.mp4'), frag = join(dir, 'frag.mp4');
  assert.equal((await sluice(['launch', '-q', `testsrc num-frames=30 width=320 height=240 ! file location=${plain}`])).code, 0);
  assert.equal((await sluice(['launch', '-q', `testsrc num-frames=30 width=320 height=240 ! file fragmented=on location=${frag}`])).code, 0);
  assert.equal(ffprobe(plain).frames, 30);
  assert.equal(ffprobe(frag).frames, 30);
  assert.ok(!readFileSync(plain).includes(Buffer.from('moof')));
  assert.ok(readFileSync(frag).includes(Buffer.from('moof')));
});
