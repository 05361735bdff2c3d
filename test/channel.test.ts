import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Channel, ChannelClosed } from '../src/core/channel.ts';

type It = { n: number; eos?: boolean };
const mk = (policy: 'block' | 'leaky-oldest' | 'leaky-newest', capacity = 3, dropped: number[] = []) =>
  new Channel<It>({ capacity, policy, isControl: (i) => !!i.eos, onDrop: (i) => dropped.push(i.n) });

test('block: the producer waits while full and resumes when the consumer takes one', async () => {
  const ch = mk('block', 2);
  await ch.push({ n: 0 });
  await ch.push({ n: 1 });
  let third = false;
  const p = ch.push({ n: 2 }).then(() => { third = true; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, 'push into a full channel must wait');
  assert.equal((await ch.pop()).n, 0);
  await p;
  assert.equal(third, true);
  assert.deepEqual([(await ch.pop()).n, (await ch.pop()).n], [1, 2]);
  assert.equal(ch.highWater, 2);
});

test('leaky-oldest drops the oldest queued frames, keeps the newest', async () => {
  const dropped: number[] = [];
  const ch = mk('leaky-oldest', 3, dropped);
  for (let n = 0; n < 7; n++) await ch.push({ n });
  assert.deepEqual(dropped, [0, 1, 2, 3]);
  assert.deepEqual([(await ch.pop()).n, (await ch.pop()).n, (await ch.pop()).n], [4, 5, 6]);
  assert.equal(ch.dropped, 4);
});

test('leaky-newest drops incoming frames, keeps the first queued', async () => {
  const dropped: number[] = [];
  const ch = mk('leaky-newest', 3, dropped);
  for (let n = 0; n < 7; n++) await ch.push({ n });
  assert.deepEqual(dropped, [3, 4, 5, 6]);
  assert.deepEqual([(await ch.pop()).n, (await ch.pop()).n, (await ch.pop()).n], [0, 1, 2]);
});

test('EOS is never dropped or blocked, even when a leaky channel is full', async () => {
  for (const policy of ['block', 'leaky-oldest', 'leaky-newest'] as const) {
    const dropped: number[] = [];
    const ch = mk(policy, 2, dropped);
    await ch.push({ n: 0 });
    await ch.push({ n: 1 });
    await ch.push({ n: -1, eos: true });
    if (policy === 'leaky-oldest') await ch.push({ n: 2 });
    const got: It[] = [];
    while (ch.length) got.push(await ch.pop());
    assert.ok(got.some((i) => i.eos), `${policy}: EOS must be delivered`);
    assert.ok(!dropped.includes(-1));
  }
});

test('close wakes a waiting consumer with ChannelClosed and returns what was queued', async () => {
  const ch = mk('block', 2);
  const waiting = ch.pop();
  ch.close();
  await assert.rejects(waiting, ChannelClosed);
  const ch2 = mk('block', 2);
  await ch2.push({ n: 5 });
  assert.deepEqual(ch2.close().map((i) => i.n), [5]);
  await assert.rejects(ch2.push({ n: 6 }), ChannelClosed);
});
