// The shape of a metadata sink element for a message broker (mqtt, nats, redis): the frame's
// `meta` JSON line, to a subject templated with the stream's id, through a bounded Outbox.
import { z } from 'zod';
import { defineElement, joinSinkPads, type ElementContext, type ElementDef } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { metaLine } from '../elements/meta.ts';
import { Outbox, subjectFor, type OutboxClient } from './outbox.ts';

export const brokerProps = {
  buffer: p.int(10000, 'messages held while the broker is slow or away; then the oldest are dropped (counted)', { min: 1 }),
  bufferBytes: p.int(32 << 20, 'bytes of messages held while the broker is slow or away (whichever of buffer and this is reached first); then the oldest are dropped (counted)', { min: 1024 }),
  inflight: p.int(64, 'sends awaiting the broker\'s answer at once', { min: 1, max: 4096 }),
  drainTimeout: p.int(2000, 'at end of stream, milliseconds to wait for buffered messages to go out', { min: 0 }),
};

export interface BrokerClient extends OutboxClient {
  close(): Promise<void>;
}

interface Spec<S extends z.ZodRawShape> {
  name: string;
  summary: string;
  doc: string;
  /** URL schemes the element takes (mqtt: mqtt, mqtts, ws...). */
  schemes: string[];
  /** url may list several servers, separated by commas (tried in that order). */
  urlList?: boolean;
  props: S;
  /** The subject/topic/key template property. */
  subjectProp: keyof S & string;
  /** Connects (or starts connecting: a broker that is away at start is waited for, not an error). */
  connect(o: z.output<z.ZodObject<S & typeof brokerProps>>, ctx: ElementContext, poke: () => void): Promise<BrokerClient>;
}

export function brokerSink<S extends z.ZodRawShape>(spec: Spec<S>): ElementDef {
  return defineElement({
    name: spec.name,
    summary: spec.summary,
    kind: 'sink',
    pixels: () => 'none',
    pads: [joinSinkPads(['ANY'])],
    props: z.object({ ...spec.props, ...brokerProps }),
    doc: `${spec.doc}\nThe payload is the meta element's JSON line (docs/metadata.md); {stream} in the ${spec.subjectProp.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is the stream's id. Sending never blocks the video: a bounded buffer (buffer=N) drops its oldest message when full, counted as messagesDropped in the report and --metrics.`,
    create(o, ctx) {
      const opts = o as never as z.output<z.ZodObject<S & typeof brokerProps>> & Record<string, unknown>;
      const common = o as never as { buffer: number; bufferBytes: number; inflight: number; drainTimeout: number };
      let client: BrokerClient | null = null;
      let box: Outbox | null = null;
      return {
        async start() {
          // A comma-separated list (a cluster's servers, where the element takes one) is checked URL by URL.
          for (const url of spec.urlList ? String(opts.url).split(',') : [String(opts.url)]) {
            let scheme = '';
            try { scheme = new URL(url).protocol.replace(/:$/, ''); } catch { /* reported below */ }
            if (!spec.schemes.includes(scheme)) throw new Err.PROPERTY(`${ctx.name}: url must be ${spec.schemes.map((s) => `${s}://HOST:PORT`).join(' or ')}${spec.urlList ? ', or several separated by commas' : ''} (got "${url}")`);
          }
          client = await spec.connect(opts, ctx, () => box?.poke());
          box = new Outbox(client, ctx, { capacity: common.buffer, maxBytes: common.bufferBytes, inflight: common.inflight, where: String(opts.url).replace(/\/\/[^@/]*@/, '//') });
        },
        process(frame) {
          const label = frame.label ?? ctx.streamLabel(frame.stream);
          const payload = metaLine(frame, label);
          box!.put({ subject: subjectFor(String(opts[spec.subjectProp]), label), payload, id: `${label}:${frame.frame}` });
          releaseFrame(frame);
        },
        async flush() { await box?.drain(common.drainTimeout); },
        describe() { return box ? box.stats() : {}; },
        async stop() {
          await box?.drain(0);
          await client?.close().catch(() => {});
        },
      };
    },
  });
}
