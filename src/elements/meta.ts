// meta: write one JSON line per frame (objects, ground truth, events) to stdout or a file.
// Field names are a contract (DESIGN.md): fields may be added, never renamed.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { z } from 'zod';
import { ensureParentDir, writeFailed } from '../core/files.ts';
import { defineElement, joinSinkPads } from '../core/element.ts';
import { releaseFrame } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { EventDeriver, EventHub } from '../meta/events.ts';
import { metaLine } from '../meta/line.ts';

const props = z.object({
  location: p.str('-', 'file to write JSON lines to; - for standard output'),
  createDirs: p.bool(false, 'create the folder of location when it does not exist'),
  mode: p.enum(['frames', 'events'], 'frames', 'frames: one line per frame; events: one line per event (track-start, track-end, line-cross, roi-enter, roi-exit, overcrowding, clip-start, clip-end; docs/events.md)'),
});

export default defineElement({
  name: 'meta',
  summary: 'Write per-frame metadata as JSON lines',
  kind: 'sink',
  pads: [joinSinkPads(['ANY'])],
  pixels: () => 'none',
  props,
  files: (o) => ({ writes: o.location && o.location !== '-' ? [o.location] : [] }),
  create(o, ctx) {
    let out: WriteStream | NodeJS.WriteStream;
    let frames = 0, objects = 0;
    let pending: string[] = [], pendingBytes = 0, flushQueued = false;
    let draining: Promise<unknown> | null = null;
    let writeError: unknown = null;
    // A write can fail at any time (a full disk, /dev/full, a closed pipe), not only while waiting
    // for 'drain': the stream's 'error' is always listened to (unheard, it crashed the process),
    // and the first failure becomes a coded error that the next process() or flush() throws.
    let failed: (e: unknown) => void = () => {};
    const failure = new Promise<never>((_, rej) => { failed = rej; });
    failure.catch(() => {});
    const fail = (e: unknown) => {
      if (writeError) return;
      writeError = writeFailed(ctx.name, o.location === '-' ? 'standard output' : o.location, e);
      failed(writeError);
    };
    let lastWrite: Promise<void> = Promise.resolve();
    const flushLines = async () => {
      if (draining) await draining;
      if (!pending.length || !out || writeError) return;
      const text = pending.join('');
      pending = [];
      pendingBytes = 0;
      let ok = true;
      lastWrite = new Promise<void>((r) => { ok = out.write(text, (e) => { if (e) fail(e); r(); }); });
      if (!ok) { draining = Promise.race([once(out, 'drain'), failure]); try { await draining; } finally { draining = null; } }
    };
    // Lines go out together, at most 10 ms after the first or at 64 KB: a write per frame
    // (a libuv request and a thread woken each) cost the main thread ~0.2 ms per frame.
    const queue = (line: string) => {
      pending.push(line);
      pendingBytes += line.length;
      if (!flushQueued) { flushQueued = true; setTimeout(() => { flushQueued = false; flushLines().catch((e) => { writeError ??= e; }); }, 10); }
    };
    const hub = EventHub.of(ctx.negotiation);
    const events = o.mode === 'events' ? new EventDeriver((s) => ctx.streamLabel(s), hub) : null;
    // Clip events come from record, through the pipeline's hub.
    const unsubscribe = events ? hub.subscribe((e) => queue(JSON.stringify(e) + '\n')) : () => {};
    return {
      // How much metadata went out, for reports and benchmarks (a detector's box count per frame).
      describe: () => ({ frames, objectsPerFrame: frames ? Math.round((objects / frames) * 100) / 100 : 0 }),
      async start() {
        if (o.location === '-') out = process.stdout;
        else {
          ensureParentDir(o.location, o.createDirs, ctx.name);
          const ws = createWriteStream(o.location);
          await once(ws, 'open');
          out = ws;
        }
        out.on('error', fail);
      },
      async process(frame) {
        if (writeError) throw writeError;
        frames++;
        objects += frame.meta.objects.length;
        if (events) {
          for (const e of events.frame(frame)) queue(JSON.stringify(e) + '\n');
          releaseFrame(frame);
          if (pendingBytes >= 65536) await flushLines();
          return;
        }
        const line = metaLine(frame, frame.label ?? ctx.streamLabel(frame.stream)) + '\n';
        releaseFrame(frame);
        queue(line);
        if (pendingBytes >= 65536) await flushLines();
      },
      streamRemoved(s) { if (events) for (const e of events.end(s)) queue(JSON.stringify(e) + '\n'); },
      async flush() {
        if (events) {
          for (const e of events.end()) queue(JSON.stringify(e) + '\n');
          // A clip still being written ends now too: its clip-end belongs in this file.
          await hub.idle(5000);
        }
        await flushLines();
        // The last lines are on their way: an error writing them is this run's error too.
        await lastWrite;
        if (writeError) throw writeError;
      },
      async stop() {
        unsubscribe();
        await flushLines().catch(() => {});
        if (out && out !== process.stdout) {
          const ws = out as WriteStream;
          if (!ws.closed && !ws.destroyed) await new Promise<void>((r) => ws.end(r));
        }
        if (out === process.stdout) out.off('error', fail);
      },
    };
  },
});
