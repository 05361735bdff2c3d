// The shape of a metadata sink element for a message broker (mqtt, nats, redis): the frame's
// `meta` JSON line, to a subject templated with the stream's id, through a bounded Outbox.
import { z } from 'zod';
import { defineElement, joinSinkPads, type ElementContext, type ElementDef } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { metaLine } from '../meta/line.ts';
import { EventDeriver, EventHub, type SluiceEvent } from '../meta/events.ts';
import { Outbox, subjectFor, type OutboxClient } from './outbox.ts';

export const brokerProps = {
  buffer: p.int(10000, 'messages held while the broker is slow or away; then the oldest are dropped (counted)', { min: 1 }),
  bufferBytes: p.int(32 << 20, 'bytes of messages held while the broker is slow or away (whichever of buffer and this is reached first); then the oldest are dropped (counted)', { min: 1024 }),
  inflight: p.int(64, 'sends awaiting the broker\'s answer at once', { min: 1, max: 4096 }),
  drainTimeout: p.int(2000, 'at end of stream, milliseconds to wait for buffered messages to go out', { min: 0 }),
  mode: p.enum(['frames', 'events'], 'frames', 'frames: one message per frame (the meta line); events: one message per event (docs/events.md) to a subject per event type ({type} in the template; default sluice/{stream}/events/{type}, in NATS sluice.{stream}.events.{type}, in Redis the stream key sluice:{stream}:events:{type})'),
};

/** mode=events without a subject given: one per stream and event type, in each broker's own separators. */
const EVENT_SUBJECTS: Record<string, string> = { mqtt: 'sluice/{stream}/events/{type}', nats: 'sluice.{stream}.events.{type}', redis: 'sluice:{stream}:events:{type}' };

/** The subject template a broker sink publishes to: the one given, or in mode=events without one, the per-type default. */
export function subjectTemplate(broker: string, mode: string, given: string, explicit: boolean): string {
  return mode === 'events' && !explicit ? EVENT_SUBJECTS[broker] ?? 'sluice/{stream}/events/{type}' : given;
}

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
      const common = o as never as { buffer: number; bufferBytes: number; inflight: number; drainTimeout: number; mode: 'frames' | 'events' };
      let client: BrokerClient | null = null;
      let box: Outbox | null = null;
      const events = common.mode === 'events' ? new EventDeriver((s) => ctx.streamLabel(s), EventHub.of(ctx.negotiation)) : null;
      // mode=events: a subject per event type; the frames default (.../objects) becomes .../events/{type}.
      const template = subjectTemplate(spec.name, common.mode, String(opts[spec.subjectProp]), ctx.explicit.has(spec.subjectProp));
      const putEvent = (e: SluiceEvent) => {
        const label = e.stream_id ?? String(e.stream);
        box?.put({ subject: subjectFor(template, label).replaceAll('{type}', e.type), payload: JSON.stringify(e), id: e.id });
      };
      const unsubscribe = events ? EventHub.of(ctx.negotiation).subscribe(putEvent) : () => {};
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
          if (events) { for (const e of events.frame(frame)) putEvent(e); releaseFrame(frame); return; }
          const label = frame.label ?? ctx.streamLabel(frame.stream);
          const payload = metaLine(frame, label);
          box!.put({ subject: subjectFor(String(opts[spec.subjectProp]), label), payload, id: `${label}:${frame.frame}` });
          releaseFrame(frame);
        },
        streamRemoved(s) { if (events) for (const e of events.end(s)) putEvent(e); },
        async flush() {
          if (events) { for (const e of events.end()) putEvent(e); await EventHub.of(ctx.negotiation).idle(5000); }
          await box?.drain(common.drainTimeout);
        },
        describe() { return box ? box.stats() : {}; },
        async stop() {
          unsubscribe();
          await box?.drain(0);
          await client?.close().catch(() => {});
        },
      };
    },
  });
}
