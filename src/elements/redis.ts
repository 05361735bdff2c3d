// redis: per-frame metadata to a Redis Stream (XADD ... MAXLEN ~ N), DeepStream's Redis adapter,
// through node-redis, which reconnects by itself with our backoff.
import { p } from '../core/props.ts';
import { brokerSink } from '../net/broker-sink.ts';

export default brokerSink({
  name: 'redis',
  summary: 'Append per-frame metadata (JSON) to a Redis Stream',
  doc: 'Example: ... ! redis url=redis://127.0.0.1:6379 key=sluice:{stream} maxlen=10000. Each entry has one field, "meta", holding the JSON line.',
  schemes: ['redis', 'rediss'],
  subjectProp: 'key',
  props: {
    url: p.str('redis://127.0.0.1:6379', 'server URL (redis://user:password@host:port/db)'),
    key: p.str('sluice:{stream}', 'stream key; {stream} is the stream id'),
    maxlen: p.int(10000, 'entries kept per stream (approximate trim, MAXLEN ~)', { min: 1 }),
    password: p.str('', 'password; SLUICE_REDIS_PASSWORD is read when this is empty'),
    reconnectInterval: p.int(1000, 'longest wait between reconnection attempts (ms; doubling from 50)', { min: 10 }),
  },
  async connect(o, ctx, poke) {
    // Loaded when used: pipelines without a broker do not pay for the client at start-up.
    const { createClient } = await import('redis');
    const password = o.password || process.env.SLUICE_REDIS_PASSWORD || undefined;
    const c = createClient({ url: o.url, password, socket: { connectTimeout: 5000, reconnectStrategy: (n) => Math.min(50 * 2 ** n, o.reconnectInterval) } });
    let warned = false;
    c.on('error', (e: Error) => {
      if (!warned) ctx.warn(`${o.url}: ${e.message}; buffering and reconnecting`);
      warned = true;
    });
    c.on('ready', () => { if (warned) ctx.warn(`connected to ${o.url} again`); warned = false; poke(); });
    c.connect().catch(() => { /* retried by reconnectStrategy; 'error' says so */ });
    return {
      ready: () => c.isReady,
      send: async (m) => { await c.xAdd(m.subject, '*', { meta: m.payload }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: o.maxlen } }); },
      close: async () => { c.destroy(); },
    };
  },
});
