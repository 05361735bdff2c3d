// nats: per-frame metadata to NATS (core publish, or JetStream with message ids so a resend is
// deduplicated), through the official nats.js client, which reconnects by itself.
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { p } from '../core/props.ts';
import { brokerSink, subjectTemplate } from '../net/broker-sink.ts';
import { natsHeal } from '../net/nats-heal.ts';

export default brokerSink({
  name: 'nats',
  summary: 'Publish per-frame metadata (JSON) to NATS or NATS JetStream',
  doc: 'Example: ... ! nats url=nats://127.0.0.1:4222 subject=sluice.meta.{stream} jetstream=true stream=SLUICE',
  schemes: ['nats', 'tls'],
  urlList: true,
  subjectProp: 'subject',
  props: {
    url: p.str('nats://127.0.0.1:4222', 'server URL, or a cluster\'s servers separated by commas (tried in that order)'),
    subject: p.str('sluice.meta.{stream}', 'subject; {stream} is the stream id'),
    jetstream: p.bool(false, 'publish to JetStream (acknowledged, with the message id stream:frame for deduplication)'),
    stream: p.str('', 'JetStream: create this stream for the subjects when it does not exist'),
    token: p.str('', 'auth token; SLUICE_NATS_TOKEN is read when this is empty'),
    reconnectInterval: p.int(1000, 'milliseconds between reconnection attempts', { min: 10 }),
  },
  async connect(o, ctx, poke) {
    // Loaded when used: pipelines without a broker do not pay for the client at start-up.
    const { connect } = await import('@nats-io/transport-node');
    const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
    let nc: NatsConnection | null = null;
    let js: JetStreamClient | null = null;
    let up = false;
    let closed = false;
    const token = o.token || process.env.SLUICE_NATS_TOKEN || undefined;
    const heal = natsHeal(() => nc, { onMove: (why) => ctx.warn(why) });
    // The subjects actually published to (mode=events without subject= has one per event type), as
    // one wildcard pattern: a stream made for the frames subject alone would store no events.
    const pattern = subjectTemplate('nats', o.mode, o.subject, ctx.explicit.has('subject')).replaceAll('{stream}', '*').replaceAll('{type}', '*');
    const ensureStream = async (c: NatsConnection) => {
      if (!o.jetstream || !o.stream) return;
      const jsm = await jetstreamManager(c);
      let info;
      try { info = await jsm.streams.info(o.stream); } catch { await jsm.streams.add({ name: o.stream, subjects: [pattern] }); return; }
      // An existing stream (made by an earlier run in the other mode, say) is widened to these subjects.
      const have = info.config.subjects ?? [];
      if (!have.some((s) => covers(s, pattern))) {
        await jsm.streams.update(o.stream, { subjects: [...have, pattern] });
        ctx.warn(`JetStream stream ${o.stream} did not store ${pattern}: added it to its subjects (${have.join(', ') || 'none'})`);
      }
    };
    // waitOnFirstConnect: a server that is away at start is waited for like one that drops later.
    connect({ servers: o.url.split(','), noRandomize: true, token, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: o.reconnectInterval, waitOnFirstConnect: true, name: 'sluice' }).then(async (c) => {
      if (closed) { await c.close(); return; }
      nc = c;
      await ensureStream(c).catch((e: Error) => ctx.warn(`JetStream stream ${o.stream}: ${e.message}`));
      js = o.jetstream ? jetstream(c) : null;
      up = true;
      poke();
      for await (const s of c.status()) {
        if (s.type === 'disconnect') { up = false; ctx.warn(`${o.url} lost; buffering and reconnecting every ${o.reconnectInterval} ms`); }
        if (s.type === 'reconnect') {
          up = true;
          ctx.warn(`reconnected to ${c.getServer()}`);
          // A server that came back without its storage (or another one of the list) may lack the stream.
          await ensureStream(c).catch(() => {});
          poke();
        }
      }
    }).catch((e: Error) => ctx.warn(`${o.url}: ${e.message}`));
    return {
      ready: () => up && nc !== null && !nc.isClosed(),
      send: async (m) => {
        if (!js) return nc!.publish(m.subject, m.payload);
        try { await js.publish(m.subject, m.payload, { msgID: m.id }); } catch (e) { heal.failed(e); throw e; }
        heal.ok();
      },
      close: async () => { closed = true; up = false; if (nc) { await nc.flush().catch(() => {}); await nc.close(); } },
    };
  },
});

/** Whether the NATS subject pattern `a` matches every subject that pattern `b` matches. */
export function covers(a: string, b: string): boolean {
  const x = a.split('.'), y = b.split('.');
  for (let i = 0; i < x.length; i++) {
    if (x[i] === '>') return y.length > i;
    if (i >= y.length || y[i] === '>') return false;
    if (x[i] !== '*' && (x[i] !== y[i] || y[i] === '*')) return false;
  }
  return x.length === y.length;
}
