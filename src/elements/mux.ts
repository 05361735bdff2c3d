// mux: batch frames from N sources for one inference call (DeepStream's nvstreammux). A batch
// closes when it holds batch-size frames or `timeout` ms after its first frame, whichever comes
// first; frames keep their stream ids and are optionally scaled to one size.
//
// Live frames (they carry a capture time) are batched by moment, as nvstreammux with live
// sources and NVSS's newest-frame read: while a batch is still being pushed (inference behind),
// the next one keeps only each stream's newest frame, the older one dropped as 'superseded'; it
// goes when the push before it is done and it is full or timed out, so its cells were captured
// at about the same time; a stream a frame ahead of the one furthest behind goes with its frame
// before (the closer in capture time), its newest starting the next batch. Waiting in push()
// instead would leave the newer frames queued behind this element, and the next batch would be
// made of the oldest ones, a different age per stream.
import { z } from 'zod';
import { defineElement, joinSinkPads, srcPad } from '../core/element.ts';
import { releaseFrame, type Frame } from '../core/frame.ts';
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
    /** Live: a push has waited (downstream full); the next batch forms meanwhile, newest frame per stream. */
    let busy = false;
    /** Live: batches sent whose push has not finished. */
    let pending = 0;
    let busyTimer: ReturnType<typeof setTimeout> | null = null;
    /** Live: the forming batch's timeout passed while the one before was still being pushed. */
    let due = false;
    /** Live: the forming batch began while the one before was being pushed (inference is behind). */
    let behind = false;
    /** Live: the frame each stream's newest one superseded, kept until the batch goes (to align by capture time). */
    const prev = new Map<number, Frame>();

    /**
     * Live, behind: the batch in step. A stream whose newest frame is a frame ahead of the stream
     * furthest behind (whose camera or decoder is a little late) goes with the frame before it,
     * the closer in capture time; its newest starts the next batch. Unused older frames are dropped.
     */
    const align = (): Frame[] => {
      if (prev.size === 0) return [];
      const target = Math.min(...batch.map((f) => f.captured!));
      const next: Frame[] = [];
      batch = batch.map((f) => {
        const p = prev.get(f.stream);
        if (!p) return f;
        prev.delete(f.stream);
        if (Math.abs(p.captured! - target) < Math.abs(f.captured! - target)) { next.push(f); return p; }
        ctx.countDropped('superseded', 1, p.stream);
        releaseFrame(p);
        return f;
      });
      for (const p of prev.values()) { ctx.countDropped('superseded', 1, p.stream); releaseFrame(p); }
      prev.clear();
      return next;
    };

    const send = () => {
      if (timer) { clearTimeout(timer); timer = null; }
      due = false;
      behind = false;
      const carried = align();
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
      if (frames[0]!.captured !== undefined) {
        // Busy only once a push outlasts the current turn of the event loop (it waits for room
        // downstream): frames that queued up here while the loop was held up a moment are just
        // late, not a backlog, and go in turn (chained) rather than being superseded.
        pending++;
        busyTimer ??= setTimeout(() => { busyTimer = null; if (pending > 0) busy = true; }, 1);
        chain = chain.then(() => {
          if (--pending > 0) return;
          busy = false;
          if (busyTimer) { clearTimeout(busyTimer); busyTimer = null; }
          // The batch formed while this one was pushed goes now if it is full or overdue.
          if (batch.length > 0 && (due || o.timeout === 0 || batch.length >= (o.batchSize || Math.max(1, ctx.openInputs)))) void send();
        });
        // (They formed while this batch was being made: the next one is behind too.)
        for (const f of carried) live(f);
        if (carried.length > 0) behind = true;
      }
      return chain;
    };

    /** A live frame: joins the forming batch, replacing its stream's older frame while a push is under way. */
    const live = (frame: Frame) => {
      const wasBusy = busy;
      const i = batch.findIndex((f) => f.stream === frame.stream);
      if (i >= 0) {
        // Behind (the batch began while one was being pushed): until it goes, the newest frame
        // of each stream; its stream's next frame would otherwise start a batch one frame newer
        // and the cells of this one go out a stream short, beside an older frame (out of step).
        if (busy || behind) {
          const old = prev.get(frame.stream);
          if (old) { ctx.countDropped('superseded', 1, old.stream); releaseFrame(old); }
          prev.set(frame.stream, batch[i]!);
          batch[i] = frame;
          return;
        }
        // Nothing waits downstream: the stream is just ahead of the others (as for files).
        void send();
      }
      // (Our own send just now does not count: that batch went without waiting.)
      if (batch.length === 0) behind = wasBusy;
      batch.push(frame);
      const size = o.batchSize || Math.max(1, ctx.openInputs);
      if (busy) {
        if (!timer && !due && o.timeout > 0) timer = setTimeout(() => { timer = null; if (busy) due = true; else void send(); }, o.timeout);
        return;
      }
      if (batch.length >= size || o.timeout === 0) void send();
      else if (!timer) timer = setTimeout(() => { timer = null; if (busy) due = true; else void send(); }, o.timeout);
    };

    return {
      async process(frame) {
        if (failure) throw failure;
        if (o.width > 0 || o.height > 0) {
          let s = scalers.get(frame.stream);
          if (!s) { s = new Scaler({ width: o.width, height: o.height, format: '', letterbox: true, placement: 'center', padColor: 'black', method: 'bilinear' }); scalers.set(frame.stream, s); }
          await scaleFrame(s, frame, ctx.name);
        }
        // (A stream with max-latency=0 is never dropped: it batches as files do, waiting its turn.)
        if (frame.captured !== undefined && ctx.latencyBudgetOf(frame.stream) > 0) { live(frame); return; }
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
        // (A live batch may still be forming behind one being pushed.)
        while (batch.length > 0 || pending > 0) { if (batch.length > 0 && !busy) void send(); await chain; }
        if (failure) throw failure;
      },
      streamRemoved(s) { scalers.get(s)?.close(); scalers.delete(s); },
      stop() {
        if (timer) clearTimeout(timer);
        if (busyTimer) clearTimeout(busyTimer);
        for (const s of scalers.values()) s.close();
        for (const f of batch) ctx.drop(f);
        batch = [];
        for (const f of prev.values()) ctx.drop(f);
        prev.clear();
      },
    };
  },
});
