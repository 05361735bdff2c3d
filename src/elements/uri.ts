// uri: read a video file or network URL (demux + decode via FFmpeg), like uridecodebin. A network
// stream (rtsp://, http://...) is live: a drop is not EOS; it reconnects, and its frame numbers
// and timestamps go on. Only this stream waits; Ctrl-C and the pipeline's stop win over a blocked
// open or read.
import { z } from 'zod';
import { defineElement, srcPad } from '../core/element.ts';
import type { StreamState } from '../core/bus.ts';
import { newFrame, type EventMeta } from '../core/frame.ts';
import { p } from '../core/props.ts';
import { Err } from '../core/errors.ts';
import { isLocalPath } from '../core/files.ts';
import { VideoSource, isNetworkUrl, redact, type SourceFrame } from '../media/source.ts';
import { ThreadedSource } from '../media/threaded.ts';
import { pixFmtFromName } from '../media/av.ts';
import { SCALE_METHODS, placement } from '../media/scale.ts';
import type { ViewAsk } from '../media/threaded.ts';
import { listGpus } from '../media/gpus.ts';
import { CaptureClock } from '../core/live.ts';

/** Sleep that Ctrl-C/stop ends early (the listener goes with it: one per frame would pile up). */
const sleepFor = (ms: number, signal: AbortSignal) => new Promise<void>((r) => {
  if (signal.aborted) return r();
  const done = () => { clearTimeout(t); signal.removeEventListener('abort', done); r(); };
  const t = setTimeout(done, ms);
  signal.addEventListener('abort', done, { once: true });
});

const props = z.object({
  location: p.str('', 'file path or URL (rtsp://user:pass@host/path, http://, file://) to read'),
  hw: p.enum(['auto', 'cuda', 'none'], 'auto', 'hardware decoding: auto uses NVDEC when a CUDA device is present'),
  loop: p.bool(false, 'start again from the beginning at the end (endless)'),
  numFrames: p.int(-1, 'stop after this many frames, -1 for all', { min: -1 }),
  protocols: p.enum(['auto', 'tcp', 'udp'], 'auto', 'RTSP transport: RTP over the RTSP connection (tcp), over UDP, or let FFmpeg choose'),
  latency: p.int(200, 'RTSP jitter buffer: most milliseconds a packet may wait for reordering', { min: 0 }),
  timeout: p.int(5000, 'network inputs: milliseconds an open may take in all (tried in slices of 1 s, so Ctrl-C never waits longer); a read that stalls over a second counts as a drop', { min: 100 }),
  reconnect: p.bool(true, 'network inputs: reconnect after a drop instead of ending the stream'),
  reconnectInterval: p.int(1000, 'milliseconds between reconnection attempts', { min: 10 }),
  reconnectMaxInterval: p.int(0, 'back off: the interval doubles after each failed attempt up to this many milliseconds (0: no backoff, every reconnect-interval)', { min: 0 }),
  reconnectAttempts: p.int(-1, 'attempts before the stream gives up and ends (EOS for it alone); -1: forever', { min: -1 }),
  width: p.int(0, 'decode to this width (0: the stream\'s; with only height set, keeps the aspect ratio). On NVDEC the decoder scales (free) and only the small frame is downloaded; boxes stay in the stream\'s pixels', { min: 0, max: 8192 }),
  height: p.int(0, 'decode to this height (0: the stream\'s, or kept in aspect with width)', { min: 0, max: 8192 }),
  format: p.str('', 'convert to this pixel format as it is decoded (rgb24, bgr24, yuv420p...; empty: the decoder\'s). A model-sized rgb24/bgr24 frame goes to infer without a conversion there'),
  method: p.enum(SCALE_METHODS, 'bilinear', 'interpolation when frames are scaled on the CPU to width/height (fast_bilinear: two taps per output pixel, like OpenCV\'s INTER_LINEAR and the resize most detectors are trained with; about twice as fast as bilinear when shrinking 1080p to a model\'s size)'),
  decodeThreads: p.int(-1, 'threads per software decoder; 0: FFmpeg\'s choice (about one per core); -1: with threaded=true the cores divided among the threaded streams (1 each at 16 streams on 16 cores: 1.02-1.10x FFmpeg\'s choice on an H200), else FFmpeg\'s choice', { min: -1, max: 64 }),
  gpuId: p.int(-1, 'hw=cuda/auto: the GPU whose NVDEC decodes this stream; -1: streams spread round-robin over every GPU (stream id modulo their number)', { min: -1, max: 63 }),
  live: p.bool(false, 'treat a file as a camera: paced at its own frame rate, each frame stamped with the time it is due as its capture time (so max-latency applies and late frames are dropped). Network streams are always live'),
  maxLatency: p.int(-1, 'live streams: most milliseconds from capture to a sink\'s hand-off before frames are dropped (oldest first, counted); -1: the pipeline\'s (500 ms default), 0: never drop', { min: -1 }),
  threaded: p.bool(false, 'network streams, and every stream of a pipeline with several sources: on unless set false. Demux, decode, NVDEC download and scaling in a decoding thread shared by a few streams (SLUICE_DECODE_THREADS, default one per core, 64 at most; a local file decoded on the CPU is read with blocking calls there, SLUICE_SYNC_DECODE=0 makes every step a libuv job); frames arrive as shared memory and the main thread is left to the pipeline. For many streams'),
});

type Props = z.output<typeof props>;

function protocolOptions(o: Props): Record<string, string> | undefined {
  if (!isNetworkUrl(o.location)) return undefined;
  const opts: Record<string, string> = {
    // FFmpeg counts in microseconds; a read that blocks longer is an error, never a hang.
    timeout: String(o.timeout * 1000),
    rw_timeout: String(o.timeout * 1000),
  };
  if (/^rtsps?:/i.test(o.location)) {
    if (o.protocols !== 'auto') opts.rtsp_transport = o.protocols;
    opts.max_delay = String(o.latency * 1000);
  }
  return opts;
}

/** recover()'s reason when a network stream never opened (its state is 'unreachable', not 'lost'). */
const NOT_REACHABLE = 'not reachable at start';

export default defineElement({
  name: 'uri',
  summary: 'Decode video from a file or URL (FFmpeg demux + decode, NVDEC when available; network streams reconnect)',
  kind: 'source',
  pads: [srcPad()],
  props,
  files: (o) => ({ reads: isLocalPath(o.location) ? [o.location] : [] }),
  live: (o) => isNetworkUrl(o.location) || o.live || (o.loop && o.numFrames < 0),
  create(o, ctx) {
    const live = isNetworkUrl(o.location);
    // A camera is read in a decoding thread unless told otherwise: reading must never wait for a
    // busy main thread, or frames queue in the socket where no clock sees them (on 2 cores, four
    // RTSP cameras: glass-to-glass p50 ~700 ms on the main thread, ~270 ms in decoding threads).
    // So are several streams: decoding them on the main thread leaves it no time for the
    // pipeline (16 x 1080p on an H200: 789 fps on the main thread, 1,180 in decoding threads).
    if ((live || ctx.sources > 1) && !ctx.explicit.has('threaded')) o = { ...o, threaded: true };
    // Capture times: a network stream's from its own clock and arrivals; a paced file's, the time each frame is due.
    const clock = new CaptureClock();
    let skippedSeen = 0;
    /**
     * The camera's own capture time (RTCP sender reports), where it is plausible on our clock:
     * no later than the frame's arrival (+50 ms of clock noise), and within 2 s of the time our
     * arrival clock estimates (its least-delayed packet). A camera whose clock is off by more is
     * timed by arrivals, said once per connection; sync its clock (NTP) for capture times.
     */
    let cameraClock: 'rtcp-sr' | 'arrival' | 'off' = 'arrival';
    const fromCamera = (cap: number | undefined, est: number, arrival: number): number | undefined => {
      if (cap === undefined || cameraClock === 'off') return undefined;
      if (cap > arrival + 50 || cap < est - 2000) {
        cameraClock = 'off';
        ctx.warn(`${where}: the camera's clock (RTCP sender reports) is ${Math.round((cap - est) / 100) / 10} s off this machine's; latency is measured from arrival instead (sync the camera's clock with NTP to measure from capture)`);
        return undefined;
      }
      cameraClock = 'rtcp-sr';
      return Math.min(cap, arrival);
    };
    const where = redact(o.location);
    /**
     * The stream's state as a typed bus message, next to the human warning (when there is one)
     * that says it: programs (serve) read the state, not the text.
     */
    const tell = (state: StreamState, extra: { reason?: string; downMs?: number; message?: string } = {}) => {
      if (extra.message) ctx.warn(extra.message);
      ctx.post({ type: 'stream-state', source: ctx.name, stream: ctx.streamId, label: ctx.streamLabel(ctx.streamId), state, ...extra });
    };
    // One controller per connection: aborted by Ctrl-C/stop, so a blocked open or read returns.
    let abort = new AbortController();
    const size = o.width || o.height ? { width: o.width, height: o.height } : undefined;
    if (o.format) pixFmtFromName(o.format);
    const gpus = o.hw === 'none' ? 0 : listGpus().length;
    const gpuId = o.gpuId >= 0 ? o.gpuId : gpus > 1 ? ctx.streamId % gpus : 0;
    const make = (quiet = false) => {
      const opts = { location: o.location, hw: o.hw, loop: o.loop, log: ctx.log, protocolOptions: protocolOptions(o), signal: abort.signal, quiet, openTimeoutMs: o.timeout, size, format: o.format || undefined, gpuId, method: o.method, decodeThreads: o.decodeThreads, skipLateMs: live || o.live ? ctx.latencyBudget : 0, paced: !live && o.live, syncDecode: o.threaded && process.env.SLUICE_SYNC_DECODE !== '0' };
      return o.threaded ? new ThreadedSource(opts) : new VideoSource(opts);
    };
    const opened_ = () => {
      tell('playing');
      ctx.log.info(`${where}: ${src.width}x${src.height} @ ${src.rate.toFixed(2)} fps, ${src.usingHw ? 'NVDEC' : 'CPU'} decode${src.scaling ? `, to ${src.outWidth}x${src.outHeight} (scaled by ${src.scaling === 'nvdec' ? 'NVDEC' : 'swscale'})` : ''}`);
    };
    // A file's length, for file's fragmented=auto (a long recording is written as fragments).
    const declareDuration = () => { if (!live && !o.loop && src.expectedFrames > 0 && src.rate > 0) ctx.negotiation.set(`duration:${ctx.streamId}`, (o.numFrames >= 0 ? Math.min(o.numFrames, src.expectedFrames) : src.expectedFrames) / src.rate); };
    let src = make();
    let opened = false;
    let n = 0;
    /** pts of the last frame, and what the current connection's times are shifted by. */
    let lastPts = -1;
    let shift = 0;
    let firstOfConnection = true;
    let lostAt = 0;
    /** The stream's size as last seen (a change mid-stream is warned about). */
    let streamSize = { width: 0, height: 0 };
    const pending: EventMeta[] = [];
    let endTold = false;
    // Ctrl-C (an EOS request) must also end a blocked network open or read; a file never blocks.
    const watch = live ? setInterval(() => { if (ctx.eosRequested || ctx.signal.aborted) abort.abort(); }, 50) : undefined;
    watch?.unref();
    ctx.signal.addEventListener('abort', () => abort.abort(), { once: true });
    const stopping = () => ctx.eosRequested || ctx.signal.aborted;

    /** `p`, or null as soon as the pipeline stops: FFmpeg's open does not always honour the signal. */
    const orStop = <T>(p: Promise<T>): Promise<T | null> => {
      p.catch(() => {});
      if (stopping()) return Promise.resolve(null);
      return Promise.race([p, new Promise<null>((r) => abort.signal.addEventListener('abort', () => r(null), { once: true }))]);
    };
    let opening: Promise<void> | null = null;

    const sleep = (ms: number) => new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      abort.signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
    });

    /**
     * Reconnect after a drop; false when the stream gives up (or the pipeline stops). `cause`: the
     * open's error when the stream was not reachable at start (its state is then 'unreachable').
     */
    const recover = async (why: string, cause?: string): Promise<boolean> => {
      if (!live || !o.reconnect || stopping()) return false;
      lostAt = performance.now();
      tell(why === NOT_REACHABLE ? 'unreachable' : 'lost', { reason: cause ?? why, message: `${where}: stream lost (${why}); reconnecting every ${o.reconnectInterval} ms` });
      ctx.post({ type: 'element', source: ctx.name, name: 'stream-lost', data: { stream: ctx.streamId, frame: n, reason: why } });
      pending.push({ type: 'stream-lost', stream: ctx.streamId, reason: why });
      await src.close().catch(() => {});
      for (let attempt = 1; o.reconnectAttempts < 0 || attempt <= o.reconnectAttempts; attempt++) {
        await sleep(Math.max(o.reconnectInterval, Math.min(o.reconnectMaxInterval, o.reconnectInterval * 2 ** Math.min(attempt - 1, 20))));
        if (stopping()) return false;
        abort = new AbortController();
        src = make(true);
        try {
          const ok = await orStop(withView(src).open().then(() => true));
          if (!ok) return false;
          const downMs = Math.round(performance.now() - lostAt);
          tell('restored', { downMs, message: `${where}: stream restored after ${downMs} ms (attempt ${attempt})` });
          ctx.post({ type: 'element', source: ctx.name, name: 'stream-restored', data: { stream: ctx.streamId, frame: n, downMs } });
          pending.push({ type: 'stream-restored', stream: ctx.streamId, downMs });
          firstOfConnection = true;
          clock.reset();
          cameraClock = 'arrival';
          skippedSeen = 0;
          return true;
        } catch (e) {
          await src.close().catch(() => {});
          ctx.log.debug(`${where}: reconnect attempt ${attempt} failed: ${(e as Error).message}`);
        }
      }
      tell('gave-up', { message: `${where}: gave up after ${o.reconnectAttempts} reconnection attempts; this stream ends` });
      return false;
    };

    // The views elements downstream asked for (ElementContext.views): the decoding thread makes
    // them as it decodes (infer copies its model-sized picture, tile its cell), and keeps the full
    // frame only when something reads it. Not when this uri was told to decode to a size or
    // format (its frames already are what it was asked for). SLUICE_VIEWS=0 turns views off, and
    // SLUICE_FULL_FRAMES=1 keeps every frame whole (to compare).
    let viewsSeen = -1;
    /** The views as the stream's frames get them (placed for its size), for the report. */
    const viewsMade = () => {
      const a = src instanceof ThreadedSource ? src.views : null;
      if (!a || src.width <= 0) return '';
      const W = src.outWidth || src.width, H = src.outHeight || src.height;
      return [...new Set(a.requests.map((r) => { const pl = placement(W, H, r.spec); return `${pl.iw}x${pl.ih} ${r.spec.format}`; }))].join(', ') + (a.only ? ' only' : '');
    };
    const asked = (): ViewAsk | null => {
      const v = ctx.views;
      viewsSeen = v.version;
      if (size || o.format || process.env.SLUICE_VIEWS === '0') return null;
      const requests = v.requests.filter((r) => !r.spec.crop).map((r) => ({ id: r.id, spec: r.spec }));
      // With no view asked for, frames stay whole (a probe or `mux ! fakesink` measuring decode).
      const only = !v.full && requests.length > 0 && process.env.SLUICE_FULL_FRAMES !== '1';
      return requests.length ? { requests, only } : null;
    };
    // With NVDEC and nothing reading full frames, the decoder itself decodes to a size that
    // serves every view (the cuvid resize): only that small frame is downloaded, and the views
    // are made from it.
    const withView = (s: typeof src) => {
      if (!(s instanceof ThreadedSource)) return s;
      const a = asked();
      s.views = a;
      if (a?.only && o.hw !== 'none') s.decodeTo = a.requests.map((r) => r.spec);
      return s;
    };
    /** New requests (a tile that sized its cells on its first frame) reach the decoding thread. */
    const refreshViews = () => {
      if (!(src instanceof ThreadedSource) || ctx.views.version === viewsSeen) return;
      const a = asked();
      if (a || src.views) src.setViews(a ?? { requests: [], only: false });
    };

    return {
      async start() {
        if (!o.location) throw new Err.PROPERTY('uri needs location=PATH_OR_URL');
        if (live) tell('connecting');
        if (live && o.reconnect) {
          // A network camera opens while the pipeline plays: a slow or dead one must not hold up
          // the others, nor Ctrl-C.
          opening = withView(src).open();
          opening.catch(() => {});
          return;
        }
        try {
          await withView(src).open();
          opened = true;
          declareDuration();
          opened_();
        } catch (e) {
          // A camera that is down at start waits like one that drops later (others keep going);
          // without reconnect it is an error before anything plays.
          if (!live || !o.reconnect) throw e;
          ctx.warn(`${(e as Error).message}; retrying every ${o.reconnectInterval} ms`);
        }
      },
      async produce() {
        if (o.numFrames >= 0 && n >= o.numFrames) { if (!endTold) { endTold = true; tell('ended'); } return null; }
        if (opening) {
          const p = opening;
          opening = null;
          opened = true;
          try {
            if ((await orStop(p.then(() => true))) === null) return null;
            opened_();
          } catch (e) {
            lostAt = performance.now();
            ctx.warn(`${(e as Error).message}; retrying every ${o.reconnectInterval} ms`);
            if (!(await recover(NOT_REACHABLE, (e as Error).message.split('\n')[0]))) return null;
          }
        }
        if (!opened) {
          opened = true;
          lostAt = performance.now();
          if (!(await recover(NOT_REACHABLE))) return null;
        }
        refreshViews();
        for (;;) {
          let d: SourceFrame | null = null;
          let why = 'end of stream';
          try {
            const w0 = performance.now();
            d = live ? await orStop(src.nextFrame()) : await src.nextFrame();
            // A camera's frames come at its own rate: waiting for one is not work.
            if (live) ctx.waited(performance.now() - w0);
          } catch (e) {
            if (stopping()) return null;
            why = (e as Error).message.split('\n')[0]!;
          }
          if (d) {
            if (firstOfConnection && live && lastPts >= 0) {
              // The stream's clock goes on from where it stopped, plus the time it was away.
              shift = lastPts + (performance.now() - lostAt) / 1000 - d.pts;
            }
            firstOfConnection = false;
            const pts = d.pts + shift;
            lastPts = pts;
            const f = newFrame({ stream: ctx.streamId, frame: n++, pts, rate: src.rate, width: d.width, height: d.height, format: d.format, pixels: d.pixels });
            if (live) {
              const arrival = d.at ?? performance.now();
              const est = clock.stamp(d.pts, arrival);
              f.captured = fromCamera(d.captured, est, arrival) ?? est;
              // Packets skipped to the next keyframe to catch up: frames this stream lost before decode.
              const skipped = src.skippedLate - skippedSeen;
              if (skipped > 0) { ctx.countDropped('skipped-to-keyframe', skipped); skippedSeen = src.skippedLate; }
            }
            else if (o.live) {
              // Paced as a camera would deliver it (the source says when each frame is due, and
              // skips what is already too late before decoding it); a frame already due (the
              // pipeline was slow) goes at once, stamped when it was due.
              const due = d.at ?? performance.now();
              const skipped = src.skippedLate - skippedSeen;
              if (skipped > 0) { ctx.countDropped('skipped-to-keyframe', skipped); skippedSeen = src.skippedLate; }
              const wait = due - performance.now();
              if (wait > 0) { await sleepFor(wait, ctx.signal); ctx.waited(wait); }
              f.captured = due;
            }
            // The stream's size as this frame was decoded: it changes when the stream changes resolution.
            const sw = d.streamWidth ?? src.width, sh = d.streamHeight ?? src.height;
            if (sw !== streamSize.width || sh !== streamSize.height) {
              // Downstream follows (meta, infer and tile take each frame's size; encode scales to
              // the size it opened with); said once per change, never a silent crop.
              if (streamSize.width) ctx.warn(`${where}: resolution changed from ${streamSize.width}x${streamSize.height} to ${sw}x${sh} at frame ${f.frame}; metadata follows the new size`);
              streamSize = { width: sw, height: sh };
            }
            if (d.width !== sw || d.height !== sh) {
              // Decoded smaller: meta stays in the stream's pixels, as after a scale element.
              f.source = { width: sw, height: sh };
              f.xform = { sx: d.width / sw, sy: d.height / sh, dx: 0, dy: 0 };
            }
            if (pending.length) f.meta.events.push(...pending.splice(0));
            return f;
          }
          if (!live) {
            const lost = src.framesLost;
            // Nothing at all of a file that declares frames is no truncation but a file this process cannot read: the run fails.
            if (n === 0 && src.expectedFrames > 0 && !stopping()) throw new Err.NO_FRAMES(`${o.location} ended after 0 of the ${src.expectedFrames} frames it declares (${why}); check that ffprobe decodes it, and \`sluice doctor\` for this Node and FFmpeg`);
            if (lost > 0) ctx.warn(`${o.location} ended after ${src.decodedThisPass} of the ${src.expectedFrames} frames it declares: the file is truncated or corrupt (${lost} frames lost)`);
            if (!stopping()) tell('ended');
            return null;
          }
          if (live && !o.reconnect && !stopping()) {
            // A camera is not a file: its end is news. The only input ending is the run's error;
            // one of several is a warning and the others go on.
            const sources = ctx.sources;
            const msg = `${where}: the network stream ended (${why}) after ${n} frames, and reconnect=false; set reconnect=true to wait for it to come back`;
            if (sources <= 1) { tell('ended', { reason: why }); throw new Err.STREAM_ENDED(msg); }
            tell('ended', { reason: why, message: msg });
            return null;
          }
          if (stopping() || !(await recover(why))) return null;
        }
      },
      // A file's length, for progress lines (position/duration, ETA); unknown for live or looping input.
      describe: () => ({ decode: src.usingHw ? 'NVDEC' : 'CPU', ...(live ? { captureClock: cameraClock === 'rtcp-sr' ? 'camera (RTCP sender reports)' : cameraClock === 'off' ? 'arrival (camera clock off)' : 'arrival' } : {}), ...(src.usingHw ? { gpu: gpuId, cudaContext: src.cudaContext } : { decodeThreads: src.decodeThreads }), ...(o.threaded ? { threaded: true } : {}), ...(viewsMade() ? { view: viewsMade() } : {}), ...(src.decodesToView ? { decodedToView: true } : {}), ...(src instanceof ThreadedSource && src.viewOnly ? { framesViewOnly: src.viewOnly } : {}), ...(!live && !o.loop && src.expectedFrames > 0 && src.rate > 0 ? { durationSeconds: Math.round(((o.numFrames >= 0 ? Math.min(o.numFrames, src.expectedFrames) : src.expectedFrames) / src.rate) * 1000) / 1000 } : {}) }),
      hint: () => {
        // Measured on an H200, 16 x 1080p: decoding threads 1.7-1.9x the main thread's decoding (BENCHMARKS.md).
        const scalesOnCpu = src.scaling === 'cpu' || (!!o.format && !src.usingHw);
        const thr = o.threaded ? '' : 'threaded=true (decode in decoding threads; with width=/height=/format= at the model\'s input, infer takes frames as they are), ';
        return src.usingHw
          // NVDEC frames are downloaded to CPU memory here; many CPU cores often decode faster.
          ? `try ${thr}compare hw=none (NVDEC decode includes the download to CPU memory), or split the streams over GPUs`
          : `try ${thr}${scalesOnCpu && o.method !== 'fast_bilinear' && o.method !== 'neighbor' ? 'method=fast_bilinear (two taps like OpenCV\'s resize: 1.13x end to end at 16 x 1080p to 300x300 on an H200), ' : ''}hw=cuda (NVDEC), a smaller input, or fewer streams per process`;
      },
      async stop() {
        clearInterval(watch);
        abort.abort();
        await src.close();
      },
    };
  },
});
