// NATS conditions recognised by nats.js's error classes and JetStream API codes
// (src/net/nats-errors.ts): first on errors made with the library's own classes, then on the
// answers of a real nats-server (JetStream on, started here on a free loopback port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import { Kvm } from '@nats-io/kv';
import { JS_CODES, actualLastSequence, isNoEntryForKey, isNoResponders, isTimeout, isWrongLastSequence, jsApiCode } from '../src/net/nats-errors.ts';
import { clusterBackend, openCluster } from '../src/serve/cluster.ts';
import { startBroker } from './brokers.ts';

const apiError = (err_code: number, description: string) => new JetStreamApiError({ err_code, code: 400, description });

test('nats-errors: our JetStream codes are the library\'s', () => {
  for (const [k, v] of Object.entries(JS_CODES)) assert.equal(JetStreamApiCodes[k as keyof typeof JetStreamApiCodes], v, k);
});

test('nats-errors: the library\'s error classes, bare and wrapped', () => {
  const noResp = new RequestError('', { cause: new NoRespondersError('$JS.API.INFO') });
  assert.ok(isNoResponders(noResp));
  assert.ok(isNoResponders(new NoRespondersError('x')));
  assert.ok(isNoResponders(new jserrors.JetStreamNotEnabled('jetstream is not enabled')));
  assert.ok(isNoResponders(new Error('publish failed', { cause: noResp })), 'found through cause');
  assert.ok(!isNoResponders(new RequestError('other')));
  assert.ok(!isNoResponders(new Error('no responders')), 'text alone is not the condition');

  assert.ok(isTimeout(new TimeoutError()));
  assert.ok(isTimeout(new RequestError('', { cause: new TimeoutError() })));
  assert.ok(!isTimeout(noResp));

  const wrong0 = apiError(JS_CODES.StreamWrongLastSequence, 'wrong last sequence: 0');
  const wrong7 = apiError(JS_CODES.StreamWrongLastSequence, 'wrong last sequence: 7');
  assert.equal(jsApiCode(wrong0), 10071);
  assert.ok(isWrongLastSequence(wrong0) && isWrongLastSequence(wrong7));
  assert.ok(isWrongLastSequence(apiError(JS_CODES.StreamWrongLastSequenceUnknown, 'wrong last sequence unknown')));
  assert.equal(actualLastSequence(wrong7), 7);
  assert.ok(isNoEntryForKey(wrong0));
  assert.ok(!isNoEntryForKey(wrong7));
  // The code decides, whatever the text: another API error that mentions the words is not one.
  const other = apiError(JS_CODES.StreamNotFound, 'stream not found (wrong last sequence: 0)');
  assert.ok(!isWrongLastSequence(other) && !isNoEntryForKey(other));
  assert.equal(jsApiCode(new Error('x')), undefined);
  // An error without any code falls back to the server's text.
  assert.ok(isWrongLastSequence(new Error('wrong last sequence: 3')));
  assert.ok(!isWrongLastSequence(new Error('timeout')));
});

test('nats-errors: what a real nats-server answers (KV races, no responders, a request timing out)', { timeout: 30_000 }, async (t) => {
  const broker = await startBroker('nats');
  const nc = await connect({ servers: broker.url });
  t.after(async () => { await nc.close(); await broker.stop(); }); // the client first, while its server is up
  const kv = await new Kvm(nc).create(`nats_errors_${process.pid}`);
  const rev = await kv.create('k', 'a');

  const created = await kv.create('k', 'b').then(() => null, (e: unknown) => e);
  assert.ok(created, 'a second create of a key fails');
  assert.ok(isWrongLastSequence(created), `create of an existing key: ${String(created)}`);
  assert.equal(jsApiCode(created), JS_CODES.StreamWrongLastSequence);
  assert.ok(!isNoEntryForKey(created));

  await kv.update('k', 'c', rev);
  const stale = await kv.update('k', 'd', rev).then(() => null, (e: unknown) => e);
  assert.ok(isWrongLastSequence(stale), `update at a stale revision: ${String(stale)}`);
  assert.equal(actualLastSequence(stale), rev + 1);

  const missing = await kv.update('never-written', 'x', rev).then(() => null, (e: unknown) => e);
  assert.ok(isNoEntryForKey(missing), `update of a key with no entry: ${String(missing)}`);

  const deaf = await nc.request('nobody.listens', '', { timeout: 2000 }).then(() => null, (e: unknown) => e);
  assert.ok(isNoResponders(deaf) && !isTimeout(deaf), `request nobody takes: ${String(deaf)}`);

  const sub = nc.subscribe('silent'); // takes the request and never answers
  const late = await nc.request('silent', '', { timeout: 200 }).then(() => null, (e: unknown) => e);
  sub.unsubscribe();
  assert.ok(isTimeout(late) && !isNoResponders(late), `request never answered: ${String(late)}`);
});

test('cluster: adding a stream id twice is a conflict (the code 10071), not "JetStream did not take it"', { timeout: 30_000 }, async (t) => {
  const broker = await startBroker('nats');
  const c = await openCluster(broker.url);
  t.after(async () => { await c.close(); await broker.stop(); }); // drain needs its server (the cluster client reconnects for ever)
  const api = clusterBackend(c);
  await api.add('door', 'rtsp://127.0.0.1:8554/door');
  await assert.rejects(api.add('door', 'rtsp://127.0.0.1:8554/other'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_CONFLICT' && /exists already in the cluster/.test(e.message));
});
