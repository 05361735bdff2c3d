// The batcher behind infer with a fake session: a function that answers after a delay the test
// controls. It reads back what staging wrote into the slot, so a result that went to the wrong
// item, or a slot reused while its call was in flight, shows up as a wrong answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type Slot } from '../src/infer/batcher.ts';

interface Item { id: number; result?: number; place?: number }

const BYTES = 4;

/** A fake session whose calls finish only when the test says so (in any order). */
function fakeSession() {
  const pending: { n: number; ids: number[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const run = (slot: Slot, n: number) => new Promise<number[]>((resolve, reject) => {
    const ids = Array.from({ length: n }, (_, i) => new DataView(slot.sab).getUint32(i * BYTES, true));
    pending.push({
      n, ids,
      // The answer is read from the slot at completion: a slot handed out again while this call
      // was in flight would have been overwritten.
      resolve: () => resolve(Array.from({ length: n }, (_, i) => new DataView(slot.sab).getUint32(i * BYTES, true) * 10)),
      reject,
    });
  });
  return { run, pending };
}

function make(opts: { batch: number; slots: number; sessions: number; run: (slot: Slot, n: number) => Promise<number[]>; push?: (it: Item) => Promise<void> }) {
  const out: Item[] = [];
  const dropped: Item[] = [];
  const b = new Batcher<Item, number, number>({
    batch: opts.batch, slots: opts.slots, slotBytes: opts.batch * BYTES, queue: opts.slots,
    sessions: () => opts.sessions, run: opts.run,
    finish: (it, r, place) => { it.result = r; it.place = place; },
    push: opts.push ?? (async (it) => { out.push(it); }),
    drop: (it) => { dropped.push(it); },
  });
  const add = (it: Item) => b.add(it, (slot, i) => {
    new DataView(slot.sab).setUint32(i * BYTES, it.id, true);
    // Staging that finishes later for even ids, as a busy scaler would.
    return { place: it.id % 2 ? Promise.resolve(it.id) : new Promise<number>((r) => setTimeout(() => r(it.id), 2)) };
  });
  return { b, out, dropped, add };
}

const until = async (cond: () => boolean, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
};

test('calls that complete out of order still send items on in order, each with its own result', async () => {
  const s = fakeSession();
  const { b, out, add } = make({ batch: 2, slots: 4, sessions: 3, run: s.run });
  const items = Array.from({ length: 6 }, (_, i) => ({ id: i + 1 }) as Item);
  for (const it of items) await add(it);
  await until(() => s.pending.length === 3, 'three calls in flight');
  assert.deepEqual(s.pending.map((c) => c.ids), [[1, 2], [3, 4], [5, 6]]);
  // The last call answers first, then the first, then the middle one.
  s.pending[2]!.resolve();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(out.length, 0, 'nothing goes on before the first call answered');
  s.pending[0]!.resolve();
  await until(() => out.length === 2, 'the first batch');
  s.pending[1]!.resolve();
  await b.flush();
  assert.deepEqual(out.map((it) => it.id), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(out.map((it) => it.result), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(out.map((it) => it.place), [1, 2, 3, 4, 5, 6]);
});

test('items without work keep their place between batches', async () => {
  const s = fakeSession();
  const { b, out, add } = make({ batch: 4, slots: 3, sessions: 2, run: s.run });
  await add({ id: 1 });
  await add({ id: 2 });
  await b.pass({ id: 3 }); // sends the partial batch [1, 2] first
  await add({ id: 4 });
  await b.pass({ id: 5 });
  const flushed = b.flush();
  await until(() => s.pending.length === 2, 'two calls');
  s.pending[1]!.resolve();
  s.pending[0]!.resolve();
  await flushed;
  assert.deepEqual(out.map((it) => it.id), [1, 2, 3, 4, 5]);
  assert.deepEqual(out.map((it) => it.result), [10, 20, undefined, 40, undefined]);
});

test('a partial batch goes out at once when a session idles, and fills up while sessions are busy', async () => {
  const s = fakeSession();
  const { b, out, add } = make({ batch: 8, slots: 3, sessions: 1, run: s.run });
  await add({ id: 1 });
  await add({ id: 2 });
  await until(() => s.pending.length === 1, 'the idle submit');
  assert.deepEqual(s.pending[0]!.ids, [1, 2]);
  // The one session is busy: these gather into the next batch instead of going out one by one.
  for (let id = 3; id <= 6; id++) await add({ id });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.pending.length, 1, 'no call while the only session is busy');
  s.pending[0]!.resolve();
  await until(() => s.pending.length === 2, 'the next batch once the session is free');
  assert.deepEqual(s.pending[1]!.ids, [3, 4, 5, 6]);
  s.pending[1]!.resolve();
  await b.flush();
  assert.deepEqual(out.map((it) => it.id), [1, 2, 3, 4, 5, 6]);
});

test('backpressure: add() waits while every slot is in flight, and goes on when a call answers', async () => {
  const s = fakeSession();
  const { b, out, add } = make({ batch: 1, slots: 2, sessions: 4, run: s.run });
  await add({ id: 1 });
  await add({ id: 2 });
  let third = false;
  const p = add({ id: 3 }).then(() => { third = true; });
  await until(() => s.pending.length === 2, 'two calls');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, 'the third item waits for a slot');
  s.pending[1]!.resolve(); // the second slot frees (its items still wait for the first call)
  await p;
  await until(() => s.pending.length === 3, 'the third call');
  assert.deepEqual(s.pending[2]!.ids, [3]);
  s.pending[0]!.resolve();
  s.pending[2]!.resolve();
  await b.flush();
  assert.deepEqual(out.map((it) => it.result), [10, 20, 30]);
});

test('backpressure from downstream: a slow push holds the calls back, never more than the slots', async () => {
  let inFlight = 0;
  let most = 0;
  const run = async (slot: Slot, n: number) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight--;
    return Array.from({ length: n }, (_, i) => new DataView(slot.sab).getUint32(i * BYTES, true));
  };
  const pushed: number[] = [];
  const { b, add } = make({ batch: 2, slots: 3, sessions: 2, run, push: async (it) => { await new Promise((r) => setTimeout(r, 1)); pushed.push(it.id); } });
  for (let id = 1; id <= 40; id++) await add({ id });
  await b.flush();
  assert.deepEqual(pushed, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(most <= 3, `at most one call per slot in flight (saw ${most})`);
});

test('a failed call releases every item: none is lost, the error reaches flush and the next add', async () => {
  let call = 0;
  const run = async (_slot: Slot, n: number) => {
    const k = call++;
    await new Promise((r) => setTimeout(r, k === 1 ? 5 : 1));
    if (k === 1) throw new Error('session crashed');
    return Array.from({ length: n }, () => 1);
  };
  const { b, out, dropped, add } = make({ batch: 2, slots: 3, sessions: 3, run });
  const added: Item[] = [];
  let err: unknown = null;
  try {
    for (let id = 1; id <= 20; id++) {
      const it = { id };
      added.push(it);
      await add(it);
    }
    await b.flush();
  } catch (e) { err = e; }
  assert.match(String((err as Error)?.message), /session crashed/);
  await assert.rejects(add({ id: 99 }), /session crashed/);
  // Released items are released once their staging settled: let it.
  await new Promise((r) => setTimeout(r, 20));
  b.stop();
  const seen = [...out, ...dropped];
  assert.equal(new Set(seen).size, seen.length, 'no item is both sent and released, or released twice');
  assert.deepEqual(seen.map((it) => it.id).sort((x, y) => x - y), added.map((it) => it.id), 'every item was sent on or released');
  assert.deepEqual(out.map((it) => it.id), [1, 2], 'items before the failed call went on, in order');
});

test('a failed staging (a scaler error) fails the batch and frees its slot', async () => {
  const s = fakeSession();
  const { b, dropped } = make({ batch: 2, slots: 2, sessions: 1, run: s.run });
  await b.add({ id: 1 }, () => ({ place: Promise.reject(new Error('scale failed')) }));
  await b.add({ id: 2 }, () => ({ place: Promise.resolve(2) }));
  await assert.rejects(b.flush(), /scale failed/);
  assert.equal(s.pending.length, 0, 'no call for a batch whose staging failed');
  assert.deepEqual(dropped.map((it) => it.id), [1, 2]);
});
