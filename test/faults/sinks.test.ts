// Sinks that fail loudly: every write error (a full disk, here /dev/full, which answers every
// write with ENOSPC) is a coded error and exit 1, never an abort or a run that "succeeds" with
// nothing written; and recordings killed with SIGKILL leave files that play.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ASSETS, sluice } from '../helpers.ts';

const MODEL = join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx');

test('meta to a full disk while infer plays: SLUICE_ERR_NO_SPACE naming the file, exit 1, no abort (it was "Unhandled \'error\' event", exit 134)', { timeout: 60_000 }, async () => {
  for (const chain of [`infer model=${MODEL} ! meta location=/dev/full`, 'meta location=/dev/full']) {
    const r = await sluice(['launch', '-q', `testsrc num-frames=200 width=160 height=120 ! ${chain}`]);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: SLUICE_ERR_NO_SPACE: meta0: no space left on the device holding \/dev\/full/);
    assert.doesNotMatch(r.stderr, /Unhandled|terminate called|internal error/);
  }
});

test('file to a full disk: SLUICE_ERR_NO_SPACE naming the file and saying what is left of it, exit 1 (mkv and mjpeg ended 0 with nothing written)', { timeout: 60_000 }, async () => {
  const cases: [string, RegExp][] = [
    ['file location=/dev/full format=mp4', /its index is written at the end, so this file does not play; fragmented=on keeps/],
    ['file location=/dev/full format=mp4 fragmented=on', /the file plays up to its last complete fragment/],
    ['encode preset=ultrafast ! file location=/dev/full format=matroska', /the file holds what was written before/],
    ['file location=/dev/full format=mjpeg codec=mjpeg', /the file holds what was written before/],
  ];
  for (const [sink, left] of cases) {
    const r = await sluice(['launch', '-q', `testsrc num-frames=120 width=160 height=120 ! ${sink}`]);
    assert.equal(r.signal, null, `${sink}: ${r.stderr}`);
    assert.equal(r.code, 1, `${sink}: ${r.stderr}`);
    assert.match(r.stderr, /error: SLUICE_ERR_NO_SPACE: no space left on the device holding \/dev\/full: free some space or write elsewhere/, sink);
    assert.match(r.stderr, left, sink);
  }
});

test('--progress to a full disk: one warning, the run goes on and ends 0', { timeout: 60_000 }, async () => {
  const r = await sluice(['launch', '-q', '--progress', '/dev/full', 'testsrc num-frames=40 width=160 height=120 live=true ! fakesink']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.match(/warning: --progress \/dev\/full: ENOSPC/g)?.length, 1, r.stderr);
});
