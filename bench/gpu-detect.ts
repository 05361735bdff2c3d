// GPU detection benchmark, one script for one device call (bench/gpu-detect.sh runs it):
// N streams of 1080p H.264 -> mux -> infer -> track -> meta, each run on two clips made here (the
// testsrc clip: flat shapes, x264 ultrafast; and the realistic clip: a real scene from
// $SLUICE_TEST_ASSETS/media scaled to 1080p with sensor noise, x264 medium ~4 Mbit/s, GOP 30,
// src/cli/bench.ts realisticClip; --clips testsrc,real picks), for
// SSD300-VGG16 (exported here from torchvision, random weights, box decode in the graph) and
// YOLOX-nano; beside it, in the same call, the compiled model alone at the same batch, PyTorch
// eager fp16 of the same network and the naive PyTorch loop, plus a detection comparison of the
// uncompiled, compiled fp32 and fp16 paths on real frames. Prints a table; JSON under --out.
//   node bench/gpu-detect.ts --ssd ssd300.onnx --yolox yolox_nano.onnx --work DIR --out DIR [--seconds 12] [--runs ssd:thr-cpu,...] [--gpus 2] [--clips testsrc,real]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launch } from '../src/index.ts';
import { SessionPool } from '../src/infer/pool.ts';
import { compileCached } from '../src/infer/compile/cache.ts';
import { measureBitrate, realisticClip } from '../src/cli/bench.ts';
import { iou } from '../src/infer/nms.ts';
import type { ObjectMeta } from '../src/core/frame.ts';
import type { PrepSpec } from '../src/infer/protocol.ts';

const args = process.argv.slice(2);
const flag = (n: string, d = '') => { const i = args.indexOf(n); return i >= 0 ? args[i + 1]! : d; };
const work = resolve(flag('--work', '/var/tmp/sluice/bench'));
const out = resolve(flag('--out', process.env.OUT ?? work));
const seconds = Number(flag('--seconds', '12'));
const ssdPath = resolve(flag('--ssd'));
const yoloxPath = resolve(flag('--yolox'));
const assets = resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared');
mkdirSync(work, { recursive: true });
mkdirSync(out, { recursive: true });
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const results: Record<string, unknown> = {};
const save = () => writeFileSync(join(out, 'gpu-detect.json'), JSON.stringify(results, null, 1));

const device = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' }).stdout.trim();
results.device = device;
log(`device: ${device}`);

// SSD300 normalisation (torchvision: x*255 - mean*255 per RGB channel), stretched to 300x300.
// Random weights pass nearly every candidate at any threshold; 20 candidates per image (the
// top-k of NVIDIA's SSD sample configs) keeps the box count, and so the tracker's load, realistic.
const SSD_TOPK = 20;
const SSD_PROPS = `mean=123.0,117.0,104.0 std=1 scale=1 channels=rgb letterbox=none threshold=0.3 candidates=${SSD_TOPK}`;
const MODELS = {
  ssd: { path: ssdPath, props: SSD_PROPS, opts: { adapter: 'ultraface', order: 'rgb' as const, scale: 1, mean: [123, 117, 104] as [number, number, number], std: [1, 1, 1] as [number, number, number] } },
  yolox: { path: yoloxPath, props: '', opts: { adapter: 'yolox', order: 'bgr' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] } },
};

// 1. Input: a 1080p H.264 clip made by Sluice itself.
const clip = join(work, 'clip1080.mp4');
if (!existsSync(clip)) {
  log('making the 1080p clip');
  await launch(`testsrc pattern=objects width=1920 height=1080 num-frames=300 num-objects=8 ! encode preset=ultrafast gop=30 ! file location=${clip}`).run();
}
// Beside it the realistic clip (cached by content in SLUICE_CACHE_DIR): real content decodes
// ~2.5x slower than testsrc, so the testsrc rows alone overstate what cameras get.
const CLIPS = flag('--clips', 'testsrc,real').split(',');
const clipPath: Record<string, string> = { testsrc: clip };
results.clips = { testsrc: { path: clip, ...await measureBitrate(clip) } };
if (CLIPS.includes('real')) {
  log('making (or finding) the realistic clip');
  const real = await realisticClip({ frames: 300 });
  clipPath.real = real.path;
  results.clips = { ...results.clips as object, real };
  log(`realistic clip: ${real.label} (${Math.round(real.bitrate / 1000)} kbit/s by ${real.bitrateFrom}, ${real.frames} frames, from ${real.source}${real.cached ? ', cached' : ''})`);
}

/** A PyTorch measurement in its own process, given at most `limitS` seconds (it has hung before). */
function py(limitS: number, ...a: string[]): Record<string, number> {
  try {
    const r = execFileSync('python3', [join(import.meta.dirname, 'gpu_detect.py'), ...a], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: limitS * 1000, stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(r.trim().split('\n').at(-1)!);
  } catch (e) {
    log(`python ${a[0]} failed or ran past ${limitS} s: ${(e as Error).message.split('\n')[0]}`);
    return {};
  }
}

/** Busy and total jiffies of all cores (/proc/stat), to give the CPU's use over a run. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, x) => a + x, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

/** GPU utilisation (sm %) sampled once a second while `fn` runs, and the cores' use (%) over it. */
async function withDmon<T>(fn: () => Promise<T>): Promise<{ value: T; sm: number[]; cpu: number }> {
  const d = spawn('nvidia-smi', ['dmon', '-s', 'u', '-d', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  d.stdout.on('data', (b: Buffer) => { text += b.toString(); });
  // Use of all cores per second; the run's figure is the 75th percentile, so that start-up
  // (model load, CUDA's per-shape search) and the end do not drag it down.
  const per: number[] = [];
  let last = cpuTimes();
  const a = setInterval(() => { const c = cpuTimes(); if (c.total > last.total) per.push((c.busy - last.busy) / (c.total - last.total)); last = c; }, 1000);
  try {
    const value = await fn();
    const sorted = per.sort((x, y) => x - y);
    const cpu = sorted.length ? Math.round(sorted[Math.floor(sorted.length * 0.75)]! * 100) : -1;
    return { value, sm: text.split('\n').filter((l) => /^\s*\d/.test(l)).map((l) => Number(l.trim().split(/\s+/)[1])), cpu };
  } finally { d.kill(); clearInterval(a); }
}

/** One end-to-end run in its own process (sluice bench), with its report. */
async function endToEnd(name: string, pipeline: string, env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const json = join(out, `${name}.json`);
  log(`${name}: ${pipeline.slice(0, 160)}...`);
  const { value, sm, cpu } = await withDmon(() => new Promise<number>((res) => {
    const c = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'sluice.js'), 'bench', '--runs', '1', '--seconds', String(seconds), '--json', json, pipeline], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    c.stdout.on('data', () => {});
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('exit', (code) => { if (code) log(`${name} exited ${code}: ${err.slice(-800)}`); res(code ?? 1); });
  }));
  if (value !== 0 || !existsSync(json)) return { name, error: true };
  const b = JSON.parse(readFileSync(json, 'utf8'));
  const r = b.results[0];
  const rep = r.report;
  const els = Object.entries(rep.elements as Record<string, { busy: number; type: string }>);
  const busy: Record<string, number> = {};
  for (const [k, e] of els) if (e.type !== 'uri') busy[k] = Math.round(e.busy * 100);
  const uriBusy = els.filter(([, e]) => e.type === 'uri').map(([, e]) => e.busy);
  busy.uri_avg = Math.round((uriBusy.reduce((a, x) => a + x, 0) / Math.max(1, uriBusy.length)) * 100);
  const infer = Object.values(rep.elements as Record<string, { type: string; resolved?: unknown }>).find((e) => e.type === 'infer');
  const smAvg = sm.length ? Math.round(sm.reduce((a, x) => a + x, 0) / sm.length) : -1;
  const meta = Object.values(rep.elements as Record<string, { type: string; resolved?: { objectsPerFrame?: number } }>).find((e) => e.type === 'meta');
  const nvdec = Object.values(rep.elements as Record<string, { type: string; resolved?: { decode?: string; cudaContext?: string } }>).find((e) => e.type === 'uri' && e.resolved?.decode === 'NVDEC');
  const row = { name, fps: r.fps ?? rep.fps, busy, smAvg, cpu, loop: rep.mainThread?.busy, cudaContext: nvdec?.resolved?.cudaContext, verdict: rep.bottleneck?.text, resolved: infer?.resolved, objectsPerFrame: meta?.resolved?.objectsPerFrame };
  log(`${name}: ${Math.round(row.fps)} fps, gpu sm ${smAvg}%, cpu ${cpu}%, main thread ${Math.round((row.loop ?? -1) * 100)}%,${row.cudaContext ? ` nvdec context ${row.cudaContext},` : ''} ${row.objectsPerFrame} objects/frame, busy ${JSON.stringify(busy)}; ${row.verdict}; infer ${JSON.stringify(infer?.resolved ?? {})}`);
  return row;
}

/** The compiled model alone: batch B of staged uint8, `inflight` calls over 2 sessions. */
async function ceiling(name: keyof typeof MODELS, batch: number, precision: 'fp32' | 'fp16'): Promise<number> {
  const m = MODELS[name];
  const c = await compileCached(m.path, { ...m.opts, precision, topK: name === 'ssd' ? SSD_TOPK : 200 });
  const pool = new SessionPool({ model: c.path, ep: 'cuda', gpuId: 0, workers: 2, intraOpThreads: 1 });
  const info = await pool.open([batch]);
  const prep: PrepSpec = { width: c.info.width, height: c.info.height, layout: 'nhwc', order: m.opts.order, scale: 1, mean: [0, 0, 0], std: [1, 1, 1], uint8: true };
  const sab = new SharedArrayBuffer(batch * c.info.width * c.info.height * 3);
  new Uint8Array(sab).fill(90);
  const decode = { adapter: m.opts.adapter, params: { inW: c.info.width, inH: c.info.height, threshold: 0.3, nmsIou: 0.45, classAware: true, topK: 5 }, candidates: { classAware: c.info.classAware } };
  let n = 0;
  const t0 = performance.now();
  const worker = async () => { while (performance.now() - t0 < seconds * 1000 * 0.6) { await pool.run(info.inputs[0]!.name, sab, batch, prep, decode); n += batch; } };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const fps = n / ((performance.now() - t0) / 1000);
  await pool.close();
  log(`ceiling ${name} ${precision} batch ${batch}: ${Math.round(fps)} img/s`);
  return fps;
}

/** Detections of the same real frames through compile=off, compiled fp32 and fp16 on CUDA. */
async function compare(): Promise<Record<string, unknown>> {
  const video = join(assets, 'media', 'one-by-one-person-detection.mp4');
  if (!existsSync(video)) return { skipped: `no ${video}` };
  const run = async (props: string) => {
    const got = new Map<number, ObjectMeta[]>();
    const p = launch(`uri location=${video} num-frames=120 hw=none ! infer model=${yoloxPath} ep=cuda ${props} ! fakesink`);
    p.addProbe('infer0.src', (f) => { got.set(f.frame, structuredClone(f.meta.objects)); });
    await p.run();
    return got;
  };
  const ref = await run('compile=off');
  const res: Record<string, unknown> = {};
  // Boxes near the 0.3 threshold come and go with any arithmetic change; those at >= 0.5 must match.
  for (const [k, props, minIou] of [['fp32-b1', 'precision=fp32 batch-size=1', 0.9], ['fp32-b32', 'precision=fp32', 0.9], ['fp16-b32', 'precision=fp16', 0.8]] as const) {
    const got = await run(props);
    let boxes = 0, matched = 0, strong = 0, strongMatched = 0, worstScore = 0;
    for (const [f, objs] of ref) {
      for (const o of objs) {
        boxes++;
        if (o.score >= 0.5) strong++;
        const m = (got.get(f) ?? []).find((x) => x.class === o.class && iou(x.box, o.box) >= minIou);
        if (m) { matched++; if (o.score >= 0.5) strongMatched++; worstScore = Math.max(worstScore, Math.abs(m.score - o.score)); }
      }
    }
    res[k] = { boxes, matched, strong, strongMatched, minIou, worstScoreDiff: Number(worstScore.toFixed(4)) };
    log(`compare ${k}: ${matched}/${boxes} boxes matched at IoU >= ${minIou} (score >= 0.5: ${strongMatched}/${strong}), worst score diff of matched ${worstScore.toFixed(4)}`);
  }
  return res;
}

const started = performance.now();
/** Steps after this many seconds are skipped, so the whole call fits one 10-minute command. */
const budget = Number(flag('--budget', '500'));
const inTime = (what: string) => {
  const ok = (performance.now() - started) / 1000 < budget;
  if (!ok) log(`skipped (time budget of ${budget} s spent): ${what}`);
  return ok;
};
// --skip eager,naive,compare: steps measured already (their last figures are in BENCHMARKS.md).
const skip = flag('--skip').split(',');
// The naive loop first, alone on the machine, with its progress on stderr (it ran past its limit twice, unexplained).
const naive = !skip.includes('naive') ? py(90, 'naive', clip, '10').naive_fps ?? NaN : NaN;
log(`naive PyTorch loop: ${naive.toFixed(1)} fps`);
log('exporting SSD300-VGG16');
if (!existsSync(ssdPath)) results.export = py(120, 'export', ssdPath);
const t0 = performance.now();
const cs = await compileCached(ssdPath, { ...MODELS.ssd.opts, precision: 'fp16', topK: SSD_TOPK });
results.compileSsd = { ms: Math.round(performance.now() - t0), info: cs.info, warnings: cs.warnings };
log(`compiled SSD fp16 in ${Math.round(performance.now() - t0)} ms: ${JSON.stringify(cs.info)}`);
save();

const rows: Record<string, unknown>[] = [];
// Decode: plain (no flags at all: what a user gets, hw=auto), cpu (hw=none only: several
// sources decode in decoding threads by default, infer's picture a view), or in decoding threads
// (uri threaded=true) straight to the model's size and channel order, on nvdec (the cuvid
// decoder's resize, only that small frame is downloaded), the cores (thr-cpu) or half each way
// (thr-mixed: NVDEC and the cores side by side); thr-view: decoding threads on the cores told no
// size, so infer's picture comes through the negotiation table (only the view is kept, as no
// element after infer reads pixels: what a user's plain `uri threaded=true` gets); thr-nvview: the
// same on NVDEC, which then decodes straight to infer's picture (SourceOptions.decodeTo).
type Decode = 'plain' | 'cpu' | 'thr-cpu' | 'thr-nvdec' | 'thr-mixed' | 'thr-view' | 'thr-nvview';
const SIZE = { ssd: 'width=300 height=300 format=rgb24 threaded=true', yolox: 'width=416 format=bgr24 threaded=true' };
// --gpus N: every run once on GPU 0 and once spread over GPUs 0..N-1 (infer gpu-id=0,1,...;
// NVDEC streams take gpu-id round-robin), side by side in this call (issue 16).
const GPUS = Number(flag('--gpus', '1'));
const chain = (model: keyof typeof MODELS, n: number, decode: Decode, infer = '', gpus = 1, extra = '', nvdec = n / 2, clip = clipPath.testsrc!) => {
  const gpu = (i: number) => (gpus > 1 ? ` gpu-id=${i % gpus}` : '');
  // thr-mixed: the first `nvdec` streams (default half) on NVDEC, the rest on the cores.
  const src = (i: number) => decode === 'plain' ? `${gpu(i).trim()}` : decode === 'cpu' ? 'hw=none' : decode === 'thr-view' ? 'hw=none threaded=true' : decode === 'thr-nvview' ? `hw=cuda threaded=true${gpu(i)}` : decode === 'thr-nvdec' || (decode === 'thr-mixed' && i < nvdec) ? `hw=cuda ${SIZE[model]}${gpu(i)}` : `hw=none ${SIZE[model]}`;
  const srcs = Array.from({ length: n }, (_, i) => `uri location=${clip} loop=true ${src(i)}${decode === 'cpu' || decode === 'plain' ? '' : extra} name=s${i} ! m.`).join('  ');
  const ids = gpus > 1 ? ` gpu-id=${Array.from({ length: gpus }, (_, i) => i).join(',')}` : '';
  return `${srcs}  mux name=m ! infer model=${MODELS[model].path} ep=cuda precision=fp16 ${MODELS[model].props}${infer}${ids} ! track ! meta location=/dev/null`;
};
// A run is model:decode[:option...]: uvN (libuv pool threads), wN (infer sessions), bN (batch), dN (decoding threads),
// fast (uri and infer method=fast_bilinear), all (infer gpu-id=all), own (NVDEC in a CUDA context of its own), async (decoding threads make every step a libuv job), tN (uri decode-threads=N: threads per software decoder),
// sN (SLUICE_DECODE_SLOTS: frames each stream may have out), nvN (thr-mixed: N of the 16 streams on NVDEC).
const RUNS = (flag('--runs', 'ssd:cpu,ssd:thr-mixed,ssd:thr-nvdec,yolox:cpu,yolox:thr-mixed,yolox:thr-cpu')).split(',').map((r) => r.split(':') as [keyof typeof MODELS, Decode, ...string[]]);
for (const [model, decode, ...opt] of RUNS) {
  const n = 16;
  const env: NodeJS.ProcessEnv = {};
  let infer = '', src = '', nvdec = n / 2;
  for (const x of opt) {
    const v = x.replace(/^[a-z]+/, '');
    if (x.startsWith('uv')) env.UV_THREADPOOL_SIZE = v;
    else if (x.startsWith('d')) env.SLUICE_DECODE_THREADS = v;
    else if (x === 'fast') { src += ' method=fast_bilinear'; infer += ' method=fast_bilinear'; }
    else if (x === 'all') infer += ' gpu-id=all';
    else if (x === 'own') env.SLUICE_NVDEC_CONTEXT = 'own';
    else if (x === 'async') env.SLUICE_SYNC_DECODE = '0';
    else if (x.startsWith('s')) env.SLUICE_DECODE_SLOTS = v;
    else if (x.startsWith('nv')) nvdec = Number(v);
    else if (x.startsWith('t')) src += ` decode-threads=${v}`;
    else if (x.startsWith('w')) infer += ` workers=${v}`;
    else if (x.startsWith('b')) infer += ` batch-size=${v}`;
  }
  for (const gpus of GPUS > 1 ? [1, GPUS] : [1]) {
    for (const c of CLIPS.filter((k) => clipPath[k])) {
      const name = [model, n, decode, ...opt, ...(GPUS > 1 ? [`gpus${gpus}`] : []), c].join('-');
      if (!inTime(name)) continue;
      rows.push({ ...await endToEnd(name, chain(model, n, decode, infer, gpus, src, nvdec, clipPath[c]), env), clip: c });
      results.rows = rows;
      save();
    }
  }
}

const ceil: Record<string, number> = {};
for (const [m, b] of [['ssd', 32], ['yolox', 32], ['yolox', 64]] as const) if (inTime(`ceiling ${m}`)) ceil[`${m}-b${b}`] = await ceiling(m, b, 'fp16');
results.ceiling = ceil;
save();

log('PyTorch eager fp16');
const eager64 = !skip.includes('eager') && inTime('eager') ? py(150, 'eager', '64', '8').eager_fp16_img_s ?? NaN : NaN;
results.pytorch = { eager64, naive };
save();

if (!skip.includes('compare') && inTime('compare')) results.compare = await compare();
save();

const clipInfo = results.clips as Record<string, { bitrate: number; label?: string }>;
console.log(`\n## gpu-detect on ${device}, ${seconds} s per run, 16 x 1080p H.264 in, fp16, compiled`);
console.log(`clips: testsrc = testsrc objects + x264 ultrafast, ${(clipInfo.testsrc!.bitrate / 1e6).toFixed(2)} Mbit/s${clipInfo.real ? `; real = ${clipInfo.real.label} (${(clipInfo.real.bitrate / 1e6).toFixed(2)} Mbit/s)` : ''}`);
console.log('| run | clip | end-to-end fps | x model-only ceiling (batch 32) | x naive PyTorch loop | GPU sm % | CPU % | main thread % | objects/frame | verdict |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const fps = Number(r.fps ?? 0);
  const key = String(r.name).startsWith('ssd') ? 'ssd-b32' : 'yolox-b32';
  console.log(`| ${r.name} | ${r.clip} | ${Math.round(fps)} | ${(fps / ceil[key]!).toFixed(2)} | ${(fps / naive).toFixed(1)} | ${r.smAvg} | ${r.cpu} | ${Math.round(Number(r.loop ?? -1) * 100)} | ${r.objectsPerFrame ?? ''} | ${r.verdict ?? ''} |`);
}
console.log(`\nmodel-only ceilings (img/s): ${JSON.stringify(Object.fromEntries(Object.entries(ceil).map(([k, v]) => [k, Math.round(v)])))}`);
console.log(`PyTorch eager fp16 SSD300 head: batch 64 ${Math.round(eager64)} img/s; naive loop ${naive.toFixed(1)} fps`);
console.log(`compare (YOLOX, real frames, cuda): ${JSON.stringify(results.compare)}`);
