// copyBytes / fillBytes (src/core/bytes.ts): the word-at-a-time paths for shared memory give
// exactly what Uint8Array.set / fill give, at every alignment, shared or not, overlapping too.
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyBytes, fillBytes } from '../src/core/bytes.ts';

const make = (n: number, shared: boolean) => new Uint8Array(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
let seed = 7;
const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };

test('copyBytes equals Uint8Array.set for shared and unshared buffers at every alignment and length', () => {
  for (let k = 0; k < 400; k++) {
    const srcShared = k % 2 === 0, dstShared = k % 4 < 2;
    const src = make(4096, srcShared), dst = make(4096, dstShared);
    for (let i = 0; i < src.length; i++) src[i] = rnd(256);
    for (let i = 0; i < dst.length; i++) dst[i] = rnd(256);
    const want = Uint8Array.from(dst);
    // Views that start off a word boundary, as slots and staging offsets may.
    const so = rnd(4), doff = rnd(4);
    const s = src.subarray(so), d = dst.subarray(doff);
    const from = rnd(64), n = k < 50 ? rnd(300) : 256 + rnd(3000), at = rnd(64);
    want.set(src.subarray(so + from, so + from + n), doff + at);
    copyBytes(d, at, s, from, from + n);
    assert.deepEqual(dst, want, `copy ${n} bytes, src +${so}+${from} (${srcShared ? 'shared' : 'plain'}) to dst +${doff}+${at} (${dstShared ? 'shared' : 'plain'})`);
  }
});

test('copyBytes within one shared buffer, overlapping either way, equals set', () => {
  for (const base of [1000, 1001, 1003]) for (const shift of [-9, -8, -4, -1, 1, 3, 4, 8, 13, 5000]) {
    const b = make(12_000, true);
    for (let i = 0; i < b.length; i++) b[i] = rnd(256);
    const want = Uint8Array.from(b);
    want.set(want.slice(base, base + 3999), base + shift);
    copyBytes(b, base + shift, b, base, base + 3999);
    assert.deepEqual(b, want, `base ${base} shift ${shift}`);
  }
});

test('fillBytes equals fill at every alignment, shared or not', () => {
  for (let k = 0; k < 200; k++) {
    const a = make(4096, k % 2 === 0);
    for (let i = 0; i < a.length; i++) a[i] = rnd(256);
    const want = Uint8Array.from(a);
    const start = rnd(50), end = start + (k < 30 ? rnd(300) : 256 + rnd(3500)), v = rnd(256);
    want.fill(v, start, Math.min(end, 4096));
    fillBytes(a, v, start, Math.min(end, 4096));
    assert.deepEqual(a, want, `fill ${start}..${end} with ${v}`);
  }
});
