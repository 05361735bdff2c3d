// mqtt: per-frame metadata to an MQTT broker (DeepStream's nvmsgbroker with the MQTT adapter),
// through mqtt.js, which reconnects by itself; our outbox bounds what waits meanwhile.
import { p } from '../core/props.ts';
import { brokerSink } from '../net/broker-sink.ts';

export default brokerSink({
  name: 'mqtt',
  summary: 'Publish per-frame metadata (JSON) to an MQTT broker',
  doc: 'Example: ... ! mqtt url=mqtt://127.0.0.1:1883 topic=sluice/{stream}/objects qos=1',
  schemes: ['mqtt', 'mqtts', 'ws', 'wss'],
  subjectProp: 'topic',
  props: {
    url: p.str('mqtt://127.0.0.1:1883', 'broker URL (user:password@ in it, or username/password)'),
    topic: p.str('sluice/{stream}/objects', 'topic; {stream} is the stream id'),
    qos: p.int(0, 'MQTT quality of service: 0 at most once, 1 at least once (acknowledged)', { min: 0, max: 1 }),
    clientId: p.str('', 'MQTT client id (default: sluice- and a random suffix)'),
    username: p.str('', 'user name (or in the URL)'),
    password: p.str('', 'password; SLUICE_MQTT_PASSWORD is read when this is empty'),
    reconnectInterval: p.int(1000, 'milliseconds between reconnection attempts', { min: 10 }),
  },
  async connect(o, ctx, poke) {
    // Loaded when used: pipelines without a broker do not pay for the client at start-up.
    const { default: mqtt } = await import('mqtt');
    const password = o.password || process.env.SLUICE_MQTT_PASSWORD || undefined;
    // queueQoSZero=false: mqtt.js would otherwise hold every offline QoS 0 message, unbounded.
    const c = mqtt.connect(o.url, { clientId: o.clientId || `sluice-${Math.random().toString(16).slice(2, 10)}`, username: o.username || undefined, password, reconnectPeriod: o.reconnectInterval, connectTimeout: 5000, queueQoSZero: false });
    let warned = false;
    c.on('connect', () => { if (warned) ctx.warn(`connected to ${o.url} again`); warned = false; poke(); });
    c.on('offline', () => { if (!warned) ctx.warn(`${o.url} is not reachable; buffering and reconnecting every ${o.reconnectInterval} ms`); warned = true; });
    c.on('error', (e) => ctx.log.debug(`${o.url}: ${e.message}`));
    return {
      ready: () => c.connected,
      send: async (m) => { await c.publishAsync(m.subject, m.payload, { qos: o.qos as 0 | 1 }); },
      close: () => c.endAsync(true),
    };
  },
});
