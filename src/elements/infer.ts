// infer: run an ONNX model on frames (DeepStream's nvinfer). Sessions live in worker threads;
// frames are scaled natively into a shared staging buffer; results become typed meta with
// boxes in source-frame pixels. Several requests are in flight at once (one per worker and
// more), and results are pushed downstream in frame order.
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { defineElement, sinkPad, srcPad } from '../core/element.ts';
import { SluiceError, Err } from '../core/errors.ts';
import type { Frame, ObjectMeta } from '../core/frame.ts';
import { p, parseProps } from '../core/props.ts';
import { avOf } from '../media/av.ts';
import { SharedPixels } from '../media/shared-pixels.ts';
import { viewOf } from '../core/frame.ts';
import type { ViewRequest } from '../core/views.ts';
import { SCALE_METHODS, type Placement } from '../media/scale.ts';
import { SessionPool } from '../infer/pool.ts';
import { Batcher, type Slot } from '../infer/batcher.ts';
import { applyDecoded } from '../infer/boxes.ts';
import { applyConfig, parseClasses, parseClassThresholds, readLabels, triple } from '../infer/config.ts';
import { advice, perGpu, type Running } from '../infer/advice.ts';
import { batchPlan, chooseProvider, compilePlan, inflightFor, intraOpThreads, sessionsPlan } from '../infer/plan.ts';
import { Cropper, Preprocessor } from '../infer/prep.ts';
import { ADAPTER_NAMES, adapters, detectAdapter } from '../infer/adapters/index.ts';
import { imageInput, type Adapter, type Decoded } from '../infer/adapters/types.ts';
import type { Ep, ModelInfo, Normalisation, PackedCopy, PrepSpec } from '../infer/protocol.ts';
import { knownLabels, resolveModel } from '../infer/models.ts';
import { listBackends, listGpus, nvidiaDriverPresent, parseGpuIds } from '../infer/backends.ts';
import { compileCached, type Cached } from '../infer/compile/cache.ts';
import { COMPILED_INPUT, compiledInfoOf, modelInfoOf, type CompiledInfo } from '../infer/compile/compile.ts';
import { decodeModel } from '../infer/compile/onnx.ts';
import { CLASSIFICATION, DETECTIONS, EMBEDDING } from '../meta/keys.ts';

const props = z.object({
  model: p.str('', 'ONNX model: a path or a registry name (sluice models list)'),
  config: p.str('', 'YAML file with any of these properties, or a DeepStream nvinfer config ([property] onnx-file= ...; docs/from-deepstream.md); properties given here win'),
  adapter: p.enum(ADAPTER_NAMES, 'auto', 'how to read the outputs; auto detects it from tensor names and shapes'),
  ep: p.enum(['auto', 'cpu', 'cuda', 'webgpu', 'tensorrt'], 'auto', 'execution provider; auto tries cuda, then cpu (with a warning saying why)'),
  batchSize: p.int(0, 'frames per inference call (models with a dynamic batch dimension); 0: on a GPU 64 for a light compiled model (under 20 MB), 32 for a heavier one, else 1', { min: 0, max: 1024 }),
  compile: p.enum(['auto', 'off'], 'auto', 'auto: run a compiled copy (uint8 input, dynamic batch, box decode and top-k in the graph), cached by content; off: the model as it is'),
  precision: p.enum(['fp32', 'fp16'], 'fp32', 'compiled model precision; fp16 needs a GPU provider'),
  candidates: p.int(200, 'compiled detectors: candidates per image kept by the in-graph top-k before NMS', { min: 1, max: 10000 }),
  interval: p.int(1, 'infer every Nth frame of each stream; others pass through (a tracker carries boxes)', { min: 1 }),
  threshold: p.num(-1, 'minimum score; -1 uses the adapter default (secondary classifiers: a label under it is not attached)', { min: -1, max: 1 }),
  classThresholds: p.str('', 'per-class minimum scores of detections, "CLASS:SCORE,..." with ids or labels (e.g. "2:0.6,person:0.4"); other classes use threshold'),
  nmsIou: p.num(-1, 'IoU above which NMS suppresses a box; -1 uses the adapter default', { min: -1, max: 1 }),
  nmsAgnostic: p.bool(false, 'let boxes of different classes suppress each other'),
  labels: p.str('', 'labels file, one class name per line (ImageNet synset lines are understood)'),
  classes: p.str('', 'keep only these classes: comma-separated ids or names'),
  topK: p.int(5, 'classifications kept per frame', { min: 1 }),
  mean: p.str('', 'override input mean per channel, e.g. "0.485,0.456,0.406" (in the units of scale)'),
  std: p.str('', 'override input std per channel'),
  scale: p.num(0, 'override the factor applied to 0-255 pixel values before mean/std (0: adapter default)', { min: 0 }),
  channels: p.enum(['auto', 'rgb', 'bgr'], 'auto', 'channel order the model expects'),
  letterbox: p.enum(['auto', 'none', 'center', 'top-left', 'crop'], 'auto', 'resize mode: stretch (none), keep aspect and pad (center, top-left), or fill and centre-crop (crop)'),
  method: p.enum(SCALE_METHODS, 'bilinear', 'interpolation for the model\'s picture of each frame, made here or by a threaded uri (fast_bilinear: like OpenCV\'s INTER_LINEAR, about twice as fast from 1080p)'),
  workers: p.int(0, 'worker threads, each with its own session; 0: 2 (1 on a 1-core CPU)', { min: 0, max: 64 }),
  threads: p.int(0, 'intra-op threads per session on CPU; 0 splits the cores among workers', { min: 0 }),
  gpuId: p.str('0', 'GPU: an index, a list "0,1", or all (every GPU): workers sessions on each, each call placed on the GPU that would finish it first; a failing GPU\'s calls go to the others'),
  mode: p.enum(['primary', 'secondary'], 'primary', 'primary: whole frames; secondary: the objects an upstream detector found'),
  onClass: p.str('', 'secondary: only objects of these classes (comma-separated labels or ids); empty: all'),
  maskObjects: p.bool(false, 'segmentation: also report each connected region of a class as an object with a box'),
  minSize: p.int(16, 'secondary: skip objects smaller than this many pixels on either side', { min: 2 }),
});

type Props = z.output<typeof props>;

export { readLabels };

/** The config file merged in, its values read as infer's own properties. */
function configured(o: Props, name: string, explicit: ReadonlySet<string>, warn: (m: string) => void): Props {
  return applyConfig(o, name, explicit, warn, (raw) => parseProps(inferDef, raw));
}

/** A file's size, or null when it cannot be read (the default batch then assumes a heavy model). */
function fileSize(path: string): number | null {
  try { return statSync(path).size; } catch { return null; }
}

/**
 * A file `sluice models compile` wrote: its metadata says which adapter reads it, the size,
 * channel order and normalisation folded into its graph, and the source model's input layout,
 * so it runs as compiled (uint8 in) without being told. Properties it fixed are ignored, with a
 * warning naming them, rather than silently feeding it pixels it was not compiled for.
 */
function asCompiled(ci: CompiledInfo, srcInfo: ModelInfo, o: Props, explicit: ReadonlySet<string>, what: string, warn: (m: string) => void) {
  const adapter = adapters[ci.adapter];
  if (!adapter) throw new Err.MODEL(`${what} was compiled for adapter "${ci.adapter}", which is not one of ${Object.keys(adapters).join(', ')}; compile the original model again with this version`);
  if (o.adapter !== 'auto' && o.adapter !== ci.adapter) throw new Err.MODEL(`${what} was compiled for adapter ${ci.adapter}, not ${o.adapter}; leave adapter= out, or compile the original model again with --adapter ${o.adapter}`);
  const layout = ci.input?.layout ?? 'nchw';
  if (!ci.post) {
    // The model's own outputs came through compilation: check them as the adapter reads them.
    const asSource: ModelInfo = { inputs: [{ name: ci.input?.name ?? 'input', type: 'float32', shape: layout === 'nchw' ? [-1, 3, ci.height, ci.width] : [-1, ci.height, ci.width, 3] }], outputs: srcInfo.outputs };
    try { adapter.check(asSource); } catch (e) {
      if (e instanceof SluiceError) throw new SluiceError(e.code, `${what} (compiled) does not fit adapter ${adapter.name}: ${e.message}`);
      throw e;
    }
  }
  const fixed: string[] = [];
  if (o.channels !== 'auto' && o.channels !== ci.order) fixed.push(`channels=${o.channels} (it takes ${ci.order})`);
  if (o.mean || o.std || o.scale) fixed.push('mean/std/scale (its normalisation is in the graph)');
  if (explicit.has('candidates') && o.candidates !== ci.topK) fixed.push(`candidates=${o.candidates} (it keeps top-${ci.topK})`);
  if (explicit.has('precision') && o.precision !== ci.precision) fixed.push(`precision=${o.precision} (it is ${ci.precision})`);
  if (fixed.length) warn(`${what} is a compiled model; ${fixed.join(', ')} ignored: compile the original model again (sluice models compile) to change them`);
  const norm: Omit<Normalisation, 'order'> = { scale: ci.scale ?? adapter.prep.scale, mean: ci.mean ?? adapter.prep.mean, std: ci.std ?? adapter.prep.std };
  return {
    adapter, norm,
    inp: { name: COMPILED_INPUT, layout, width: ci.width, height: ci.height, batch: ci.batch === 'dynamic' ? -1 : ci.batch },
    classes: ci.classes ?? (ci.post ? undefined : adapter.numClasses(srcInfo)),
  };
}

const inferDef = defineElement({
  name: 'infer',
  summary: 'Run an ONNX model (detector, classifier, segmenter, embedder) on frames',
  kind: 'filter',
  pads: [sinkPad(), srcPad()],
  props,
  // A primary infer reads the model-sized view a source can make for it; objects (secondary)
  // are cut from full frames. A config file may change the mode: then assume full.
  pixels: (o) => (o.mode === 'primary' && !o.config ? 'view' : 'full'),
  // It reads pixels and adds metadata; what it sends on is what it got.
  passesPixels: () => true,
  doc: `Models are compiled first unless compile=off (uint8 NHWC input, dynamic batch, box decode and
top-k in the graph, optional fp16; cached by content). Fixed-batch models run one frame per call;
throughput then comes from several calls in flight over workers=N sessions. Models with a
dynamic batch dimension take batch-size frames per call.`,
  create(given, ctx) {
    const o = configured(given, ctx.name, ctx.explicit, (message) => ctx.post({ type: 'warning', source: ctx.name, message }));
    let pool: SessionPool | null = null;
    let adapter: Adapter;
    let preps: Preprocessor[] = [];
    let bytesPerImage = 0;
    let prepSpec: PrepSpec;
    let inputName = '';
    let labels: readonly string[] | undefined;
    let keep: Set<number> | null = null;
    let threshold = 0;
    /** Per-class minimum scores (class-thresholds); the worker decodes down to the lowest of all. */
    let classMin: Map<number, number> | null = null;
    let nmsIou = 0;
    let batch = 1;
    /** How it actually runs (ep=auto resolved, workers defaulted), for the bottleneck hint and the report. */
    const running: Running = { ep: 'cpu', workers: 1, fixedBatch: 0, batch: 1, compiled: 'no', precision: 'fp32', why: '' };
    let compiled: Cached | null = null;
    /** The model file itself is compiled (sluice models compile): its metadata says how to run it. */
    let precompiled = false;
    /** Where a call's time goes, for the report: frames, model run and round trip (ms). */
    const callStats = { calls: 0, frames: 0, runMs: 0, roundTripMs: 0, prepMs: 0, decodeMs: 0 };
    /** On a GPU, the batch size every call is padded to (0: run exactly n, as on the CPU where shapes are cheap). */
    let padTo = 0;
    // Frames are scaled into the batcher's staging slots by a pool of FFmpeg scalers (one job at
    // a time each), so the frames of one batch, and of several batches, are pre-processed side by
    // side on libuv's pool while earlier ones run.
    interface Scaler { prep: Preprocessor; busy: Promise<unknown> }
    const scalers: Scaler[] = [];
    let nextScaler = 0;
    let batcher: Batcher<Frame, Placement, Decoded> | null = null;
    /** This infer's request for its model's picture of each frame (ElementContext.requestView). */
    let viewReq: ViewRequest | null = null;
    let cropper: Cropper | null = null;
    const onClass = o.onClass ? new Set(o.onClass.split(',').map((c) => c.trim())) : null;
    const counters = new Map<number, number>();
    /** Frames that arrived already at the model's size and format (copied, not scaled). */
    let fastFrames = 0;
    /** Of those, frames whose model-sized view a decoding thread made beside the full frame. */
    let viewFrames = 0;

    const decodeInto = (f: Frame, d: Decoded, place: Placement) => applyDecoded(f, d, place, { keep, classMin, threshold, labels });

    const params = () => ({ inW: prepSpec.width, inH: prepSpec.height, threshold: classMin ? Math.min(threshold, ...classMin.values()) : threshold, nmsIou, classAware: !o.nmsAgnostic, topK: o.topK, maskObjects: o.maskObjects });

    /** The session behind the batcher: run n staged images, one decoded result per image. */
    const runSlot = (slot: Slot, n: number, copies: PackedCopy[] | undefined): Promise<Decoded[]> => {
      const candidates = compiled?.info.post ? { classAware: compiled.info.classAware } : undefined;
      const runAs = padTo || undefined;
      const t0 = performance.now();
      return pool!.run(inputName, slot.sab, n, prepSpec, { adapter: adapter.name, params: params(), candidates }, runAs, copies).then((r) => {
        callStats.calls++;
        callStats.frames += n;
        callStats.runMs += r.timing.run;
        callStats.prepMs += r.timing.prep;
        callStats.decodeMs += r.timing.decode;
        callStats.roundTripMs += performance.now() - t0;
        return r.decoded!;
      });
    };

    /** Secondary mode: crop each chosen object, run, attach the result to the object. */
    const secondary = async (frame: Frame, b: Batcher<Frame, Placement, Decoded>) => {
      const av = avOf(frame.pixels, ctx.name);
      const x = frame.xform;
      const jobs: Promise<unknown>[] = [];
      for (const obj of frame.meta.objects) {
        if (onClass && !onClass.has(obj.label ?? '') && !onClass.has(String(obj.class))) continue;
        const [x1, y1, x2, y2] = [obj.box[0] * x.sx + x.dx, obj.box[1] * x.sy + x.dy, obj.box[2] * x.sx + x.dx, obj.box[3] * x.sy + x.dy];
        if (x2 - x1 < o.minSize || y2 - y1 < o.minSize) continue;
        const slot = await b.acquire();
        try {
          await cropper!.into(av, [x1, y1, x2 - x1, y2 - y1], slot.sab, 0);
        } catch (e) {
          b.release(slot);
          throw e;
        }
        jobs.push(b.track(b.call(slot, 1).then(([d]) => attach(obj, d!))));
      }
      await b.after([frame], jobs.length ? Promise.all(jobs) : null);
    };

    const attach = (obj: ObjectMeta, d: Decoded) => {
      // The top label only when it reaches the threshold (DeepStream's classifier-threshold).
      const c = d.classifications?.[0];
      if (c && c.score >= threshold) CLASSIFICATION.set(obj, { class: c.class, label: labels?.[c.class] ?? String(c.class), score: c.score });
      if (d.embedding) EMBEDDING.set(obj, d.embedding);
      if (d.objects) DETECTIONS.set(obj, d.objects.length);
    };

    /** When sessions were ready: the per-GPU busy share counts from there, not from model loading. */
    let startedAt = 0;
    /** Per GPU when calls are spread over several: frames, share of the time busy (per session), time per call, failed. */
    const gpus = () => {
      const ds = running.ep === 'cpu' ? [] : pool?.devices() ?? [];
      if (ds.length < 2) return [];
      const wall = Math.max(1, performance.now() - startedAt);
      return ds.map((d) => ({ ...d, busy: Math.round(Math.min(1, d.busyMs / wall / Math.max(1, running.workers / ds.length)) * 100) / 100 }));
    };

    return {
      async start() {
        if (!o.model) throw new Err.PROPERTY(`${ctx.name}: infer needs model=PATH_OR_NAME`);
        const model = resolveModel(o.model);
        const backends = listBackends();
        // The driver is only looked for when cuda is not usable (as before: it reads /proc).
        const provider = chooseProvider(o.ep, backends, o.ep === 'auto' && !backends.cuda.usable && nvidiaDriverPresent(), ctx.name);
        let ep: Ep = provider.ep;
        if (provider.warning) ctx.post({ type: 'warning', source: ctx.name, message: provider.warning });
        if (provider.note) ctx.log.info(provider.note);
        // The model's own tensors decide the adapter and the pre-processing, compiled or not.
        let srcInfo;
        const modelBytes = readFileSync(model);
        // An empty or cut-off download is the usual cause: say so, not the protobuf reader's
        // internals ("Cannot read properties of null (reading 'initializer')" for 0 bytes).
        const again = 'download it again (sluice models pull NAME) or check the path';
        if (modelBytes.length === 0) throw new Err.MODEL(`${ctx.name}: ${model} is empty (0 bytes), not an ONNX model; ${again}`);
        let pre: CompiledInfo | null;
        try {
          const m = decodeModel(modelBytes);
          srcInfo = modelInfoOf(m);
          pre = compiledInfoOf(m);
        } catch (e) {
          const why = e instanceof TypeError ? 'it holds no model graph' : (e as Error).message;
          throw new Err.MODEL(`${ctx.name}: ${model} (${modelBytes.length} bytes) is not a readable ONNX model, truncated or another kind of file (${why}); ${again}`, { cause: e });
        }
        const warn = (message: string) => ctx.post({ type: 'warning', source: ctx.name, message });
        let inp: ReturnType<typeof imageInput>, order: 'rgb' | 'bgr', norm: Omit<Normalisation, 'order'>, nc: number | undefined;
        if (pre) {
          const r = asCompiled(pre, srcInfo, o, ctx.explicit, `${ctx.name}: ${model}`, warn);
          ({ adapter, inp, norm } = r);
          order = pre.order;
          nc = r.classes;
          compiled = { path: model, info: pre, warnings: [], cached: true, ms: 0 };
          precompiled = true;
          if (pre.precision === 'fp16' && ep === 'cpu') warn(`${model} was compiled in fp16; the cpu provider has no fp16 kernels for most ops (it casts every node back): compile it in fp32 for the cpu`);
        } else {
          adapter = o.adapter === 'auto' ? detectAdapter(srcInfo) : adapters[o.adapter]!;
          try {
            adapter.check(srcInfo);
          } catch (e) {
            if (e instanceof SluiceError) throw new SluiceError(e.code, `${ctx.name}: ${model} does not fit adapter ${adapter.name}: ${e.message}`);
            throw e;
          }
          inp = imageInput(srcInfo, adapter.name);
          nc = adapter.numClasses(srcInfo);
          order = o.channels === 'auto' ? adapter.prep.order : o.channels;
          norm = { scale: o.scale || adapter.prep.scale, mean: triple(o.mean, 'mean') ?? adapter.prep.mean, std: triple(o.std, 'std') ?? adapter.prep.std };
        }
        const ap = adapter.prep;
        // A compiled file runs as it is; any other model is compiled unless compile=off.
        const cp = compilePlan(o, !!pre, ep);
        if (cp.warning) warn(cp.warning);
        if (cp.why) running.why = cp.why;
        if (cp.compile) {
          try {
            compiled = await compileCached(model, { adapter: adapter.name, precision: cp.precision, topK: o.candidates, order, ...norm }, { bytes: modelBytes });
            for (const w of compiled.warnings) warn(`compile: ${w}`);
          } catch (e) {
            running.why = (e as Error).message;
            warn(`compile: ${(e as Error).message}; running the model as it is (per-frame float input)`);
          }
        }
        const gpuIds = parseGpuIds(o.gpuId, ctx.name);
        const cores = availableParallelism();
        const sp = sessionsPlan(o.workers, ep, cores);
        if (sp.warning) warn(sp.warning);
        const workers = sp.workers;
        /** Batch per call, for the model that will really run. */
        const plan = (c: Cached | null, e: Ep) => batchPlan(
          c ? { compiled: true, fixedBatch: c.info.batch === 'dynamic' ? 0 : c.info.batch, compiledBytes: fileSize(c.path) } : { compiled: false, fixedBatch: inp.batch },
          e, o.batchSize);
        let planned = plan(null, ep);
        const openPool = async (path: string, e: Ep, c: Cached | null) => {
          planned = plan(c, e);
          const pl = new SessionPool({
            model: path, ep: e, gpuId: gpuIds[0]!, gpuIds, workers, intraOpThreads: intraOpThreads(e, o.threads, workers, cores),
            onDeviceFailure: (device, err) => ctx.post({ type: 'warning', source: ctx.name, code: 'SLUICE_WARN_GPU_FAILED', message: `GPU ${device} failed (${(err as Error).message.split('\n')[0]}); its calls now run on GPU ${gpuIds.filter((d) => d !== device).join(', ')}` }),
          });
          return { pl, info: await pl.open([e === 'cpu' ? 1 : planned.batch]) };
        };
        let opened;
        try {
          opened = await openPool(compiled?.path ?? model, ep, compiled);
        } catch (e) {
          if (precompiled) {
            // A compiled file has no "as it is" to fall back to; only another provider.
            if (o.ep !== 'auto' || ep === 'cpu') throw e;
            warn(`ep=auto: ${ep} failed (${(e as Error).message}); falling back to cpu`);
            ep = 'cpu';
            opened = await openPool(model, ep, compiled);
          } else if (compiled) {
            // E.g. an fp16 kernel the provider lacks: the model as it is still runs.
            warn(`compiled model failed to load with ep=${ep} (${(e as Error).message}); running the model as it is`);
            running.why = `compiled model failed to load: ${(e as Error).message.split('\n')[0]}`;
            compiled = null;
            try { opened = await openPool(model, ep, null); } catch (e2) { if (o.ep !== 'auto' || ep === 'cpu') throw e2; }
          } else if (o.ep !== 'auto' || ep === 'cpu') throw e;
          if (!opened) {
            warn(`ep=auto: ${ep} failed (${(e as Error).message}); falling back to cpu`);
            ep = 'cpu';
            opened = await openPool(model, ep, null);
          }
        }
        pool = opened.pl;
        const info = opened.info;
        inputName = info.inputs[0]!.name;
        const fixed = planned.fixed;
        if (planned.capped) {
          warn(`model input "${inp.name}" has a fixed batch of ${fixed}; running batch-size=${fixed} (calls run concurrently on ${pool.size} worker(s))`);
        }
        batch = planned.batch;
        padTo = planned.padTo;
        Object.assign(running, {
          ep, workers: pool.size, fixedBatch: fixed, batch,
          compiled: precompiled ? 'file' : compiled ? (compiled.cached ? 'cached' : 'built') : 'no',
          precision: compiled?.info.precision ?? 'fp32',
        });
        // A compiled model takes packed uint8 in its channel order; the rest happens in its graph.
        const layout = compiled ? 'nhwc' : inp.layout;
        prepSpec = { width: inp.width, height: inp.height, layout, order, ...norm, uint8: !!compiled };
        if (o.mode === 'secondary') cropper = new Cropper(inp.width, inp.height, prepSpec.order);
        const prepOpts = { ...ap, layout, order: prepSpec.order, letterbox: o.letterbox === 'auto' ? ap.letterbox : o.letterbox };
        bytesPerImage = inp.width * inp.height * 3;
        // A known model's own labels file (e.g. MobileNetV2's synset) when it sits beside the model.
        const own = o.labels ? null : knownLabels(model);
        // The adapter's default names only when they fit (an SSD export read as boxes+scores has 90 classes, not "face").
        labels = o.labels ? readLabels(o.labels) : own ? readLabels(own) : nc === undefined || adapter.labels?.length === nc ? adapter.labels : undefined;
        if (o.labels && nc !== undefined && labels!.length !== nc) {
          await pool.close();
          throw new Err.LABELS(`${ctx.name}: ${o.labels} has ${labels!.length} labels but the model outputs ${nc} classes`);
        }
        keep = parseClasses(o.classes, labels, ctx.name);
        threshold = o.threshold >= 0 ? o.threshold : adapter.threshold;
        try {
          classMin = parseClassThresholds(o.classThresholds, labels, ctx.name);
        } catch (e) {
          await pool.close();
          throw e;
        }
        nmsIou = o.nmsIou >= 0 ? o.nmsIou : adapter.nmsIou;
        const { inflight, slots } = inflightFor(pool.size);
        const sessions = pool;
        batcher = new Batcher<Frame, Placement, Decoded>({
          batch, slots, slotBytes: batch * bytesPerImage, queue: inflight,
          sessions: () => sessions.size, run: runSlot, finish: decodeInto,
          push: (f) => ctx.push(f), drop: (f) => ctx.drop(f),
        });
        // As many scalers as libuv has threads to run them (bin/sluice.js sizes it to the cores).
        const nScalers = o.mode === 'primary' ? Math.max(2, Math.min(16, Number(process.env.UV_THREADPOOL_SIZE) || 4, availableParallelism())) : 0;
        for (let i = 0; i < nScalers; i++) {
          const prep = new Preprocessor(inp.width, inp.height, prepOpts, o.method);
          preps.push(prep);
          scalers.push({ prep, busy: Promise.resolve() });
        }
        // Ask the sources upstream for this model's picture of each frame as they decode (on the
        // frames this infer runs on); sources of branches added later get the request too.
        if (o.mode === 'primary' && preps[0]) viewReq = ctx.requestView({ ...preps[0].want, every: o.interval });
        ctx.log.info(`${model}: adapter ${adapter.name}, ${inp.width}x${inp.height} ${inp.layout}, ep ${ep}, ${pool.size} worker(s), batch ${batch}, compiled ${running.compiled}${compiled ? ` (${compiled.info.precision}, ${compiled.path})` : running.why ? ` (${running.why})` : ''}`);
        startedAt = performance.now();
      },
      async process(frame) {
        const b = batcher!;
        b.check();
        const n = counters.get(frame.stream) ?? 0;
        counters.set(frame.stream, n + 1);
        // A frame a decoding thread sent without its full pixels (nothing downstream reads them)
        // is inferred when it came with this model's picture: the thread counted the interval.
        const view = viewOf(frame, viewReq);
        if (frame.pixels?.whole === false ? !view : n % o.interval !== 0) {
          if (o.mode === 'primary') frame.meta.inferred = false;
          return b.pass(frame);
        }
        if (o.mode === 'secondary') return secondary(frame, b);
        // Waits in add() (backpressure) when every staging slot is in flight.
        await b.add(frame, (slot, i) => {
          // A frame decoded to the model's size and channel order in a decoding thread (uri
          // threaded=true format=bgr24 width=...) is copied into the batch as it is.
          // So is the view a decoding thread made of a full frame for this model (uri asked for it
          // from the negotiation table). The worker copies it (off this thread) when its rows are
          // full width; else it is copied here.
          const packed = frame.pixels instanceof SharedPixels ? frame.pixels.packed : null;
          const asDecoded = packed && preps[0]!.takePacked(packed, frame.width, frame.height, frame.format, slot.u8, i * bytesPerImage);
          const fromView = !asDecoded && view ? preps[0]!.takePacked(view.data, view.width, view.height, view.format, slot.u8, i * bytesPerImage, frame) : null;
          const taken = asDecoded || fromView;
          if (fromView) viewFrames++;
          const fits = taken ? taken.place : null;
          let place: Promise<Placement>;
          if (fits) {
            place = Promise.resolve(fits);
            fastFrames++;
          } else {
            const av = avOf(frame.pixels, ctx.name);
            // Not awaited: scaling runs on libuv's pool while the next frame comes in, on the next
            // scaler in turn (each runs one job at a time, so its jobs are chained).
            const sc = scalers[nextScaler++ % scalers.length]!;
            place = sc.busy.then(() => sc.prep.into(av, slot.u8, i * bytesPerImage));
            sc.busy = place.catch(() => {});
          }
          frame.meta.inferred = true;
          return { place, copy: taken ? taken.copy : null };
        });
      },
      async flush() {
        await batcher?.flush();
      },
      hint() {
        const machine = { cores: availableParallelism(), nvidiaDriver: nvidiaDriverPresent, gpus: () => listGpus().length, gpusUsed: () => parseGpuIds(o.gpuId, ctx.name).length };
        return advice({ ...running, batch }, machine) + perGpu(gpus());
      },
      describe() {
        return {
          ep: running.ep, sessions: running.workers, batch: running.batch, compiled: running.compiled,
          precision: running.precision, ...(running.why ? { why: running.why } : {}),
          calls: callStats.calls,
          ...(fastFrames ? { framesCopiedAsDecoded: fastFrames } : {}),
          ...(viewFrames ? { framesFromDecodedViews: viewFrames } : {}),
          framesPerCall: callStats.calls ? Math.round((callStats.frames / callStats.calls) * 10) / 10 : 0,
          runMsPerCall: callStats.calls ? Math.round((callStats.runMs / callStats.calls) * 100) / 100 : 0,
          // In the worker around the run: staging (copying frames from decoding threads' slots) and decoding outputs.
          prepMsPerCall: callStats.calls ? Math.round((callStats.prepMs / callStats.calls) * 100) / 100 : 0,
          decodeMsPerCall: callStats.calls ? Math.round((callStats.decodeMs / callStats.calls) * 100) / 100 : 0,
          roundTripMsPerCall: callStats.calls ? Math.round((callStats.roundTripMs / callStats.calls) * 100) / 100 : 0,
          ...(compiled ? { dynamicBatch: compiled.info.batch === 'dynamic', postInGraph: compiled.info.post, model: compiled.path } : {}),
          ...Object.fromEntries(gpus().flatMap((d) => [
            [`gpu${d.device}Frames`, d.frames], [`gpu${d.device}Busy`, d.busy], [`gpu${d.device}MsPerCall`, d.msPerCall],
            ...(d.failed ? [[`gpu${d.device}Failed`, true]] : []),
          ])),
        };
      },
      streamRemoved(s) { counters.delete(s); },
      async stop() {
        batcher?.stop();
        for (const pr of preps) pr.close();
        preps = [];
        cropper?.close();
        await pool?.close();
      },
    };
  },
});

export default inferDef;
