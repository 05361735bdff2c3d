// mux: batch frames from N sources for one inference call (DeepStream's nvstreammux). A batch
// closes when it holds batch-size frames or `timeout` ms after its first frame, whichever comes
// first; frames keep their stream ids and are optionally scaled to one size.
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import type { Frame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Scaler, scaleFrame } from '../media/scale.ts';

const props = z.object({
  batchSize: p.int(0, 'frames per batch; 0 uses the number of linked inputs', { min: 0, max: 1024 }),
  timeout: p.num(40, 'ms after a batch\'s first frame before it is sent incomplete (live sources)', { min: 0 }),
  width: p.int(0, 'scale every frame to this width, keeping its aspect ratio (centred, padded black; boxes stay in stream pixels); 0 keeps each stream\'s size', { min: 0 }),
  height: p.int(0, 'scale every frame to this height (0 keeps each stream\'s size)', { min: 0 }),
});

export default defineElement({
  name: 'mux',
  summary: 'Batch frames from several streams for one inference call (nvstreammux)',
  kind: 'filter',
  pads: [joinSinkPads(), srcPad()],
  // Batching reads no pixels; scaling every stream to one size does.
  pixels: (o) => (o.width > 0 || o.height > 0 ? 'full' : 'none'),
  // Scaling replaces the pixels: views of the sources' frames would be of the wrong picture.
  passesPixels: (o) => !(o.width > 0 || o.height > 0),
  props,
  create(o, ctx) {
    let batch: Frame[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    let nextId = 0;
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown = null;
    const scalers = new Map<number, Scaler>();

    const send = () => {
      if (timer) { clearTimeout(timer); timer = null; }
      const frames = batch;
      batch = [];
      if (frames.length === 0) return chain;
      const id = nextId++;
      frames.forEach((f, i) => { f.batch = { id, index: i, size: frames.length }; });
      // Pushes are chained so timer-sent and full batches stay in order.
      chain = chain.then(async () => {
        let i = 0;
        try {
          for (; i < frames.length; i++) await ctx.push(frames[i]!);
        } catch (e) {
          // The failed push released its own frame; the rest of the batch is still ours.
          for (let j = i + 1; j < frames.length; j++) ctx.drop(frames[j]!);
          throw e;
        }
      }).catch((e) => { failure = e; });
      return chain;
    };

    return {
      async process(frame) {
        if (failure) throw failure;
        if (o.width > 0 || o.height > 0) {
          let s = scalers.get(frame.stream);
          if (!s) { s = new Scaler({ width: o.width, height: o.height, format: '', letterbox: true, placement: 'center', padColor: 'black', method: 'bilinear' }); scalers.set(frame.stream, s); }
          await scaleFrame(s, frame, ctx.name);
        }
        // As nvstreammux: at most one frame per stream in a batch. A stream that is ahead (the
        // other stalled or ended) sends the batch as it is; its frame starts the next one.
        if (batch.some((f) => f.stream === frame.stream)) await send();
        batch.push(frame);
        // The inputs still open: a stream that ended (or a removed branch) no longer holds a batch up.
        const size = o.batchSize || Math.max(1, ctx.openInputs);
        if (batch.length >= size) await send();
        else if (!timer && o.timeout > 0) timer = setTimeout(() => { void send(); }, o.timeout);
        else if (o.timeout === 0) await send();
      },
      async flush() {
        await send();
        await chain;
        if (failure) throw failure;
      },
      streamRemoved(s) { scalers.get(s)?.close(); scalers.delete(s); },
      stop() {
        if (timer) clearTimeout(timer);
        for (const s of scalers.values()) s.close();
        for (const f of batch) ctx.drop(f);
        batch = [];
      },
    };
  },
});
