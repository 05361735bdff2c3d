// The display chain (issue 25): N x 1080p streams of the realistic clip -> mux -> infer
// (YOLOX-nano) -> track -> tile 1920x1080 -> osd -> encode (x264 veryfast zerolatency) -> rtsp,
// read by FFmpeg as a viewer would (bench/gpu-display-reader.ts), unpaced (`uri threaded=true`)
// and live-paced (`uri live=true`). Measured over the run after a warm-up:
// - input fps: frames out of the sources (sum, and per source min/max: no source falling behind);
// - tiled fps at the client: composites FFmpeg decoded per second, and per cell how many
//   distinct frames of its stream it showed per second;
// - latency to the client, two ways: the pipeline's own (the rtsp sink's endToEndMs in the
//   report, from capture for live frames, else from the source's output) and independently, by
//   the frame number realisticClip burns into each stream: the client reads it in every cell on
//   arrival; live-paced, the capture time of frame n of a stream is its first frame's time +
//   n / fps (a camera's schedule: a source that falls behind shows as latency); unpaced, it is
//   when the source put that frame out (a pad probe);
// - per-element busy and the verdict (--report), the main thread's event-loop use, the cores'
//   use (/proc/stat), and on a GPU `nvidia-smi dmon -s u` samples (SM, NVDEC) over the run.
// Prints a table and one JSON line (`SUMMARY {...}`); details under --out.
//   node bench/gpu-display.ts --model yolox_nano.onnx [--streams 16] [--seconds 20] [--modes unpaced,live] [--ep cuda|cpu] [--out DIR] [--hw none|cuda] [--infer 'props'] [--src 'props'] [--tile 1920x1080] [--clip-frames 300] [--clip-fps 30]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { launch } from '../src/index.ts';
import { realisticClip } from '../src/cli/bench.ts';
import type { PipelineReport } from '../src/core/report.ts';

const args = process.argv.slice(2);
const flag = (n: string, d = '') => { const i = args.indexOf(n); return i >= 0 ? args[i + 1]! : d; };
const assets = resolve(process.env.SLUICE_TEST_ASSETS ?? '../shared');
const N = Number(flag('--streams', '16'));
const SECONDS = Number(flag('--seconds', '20'));
const MODES = flag('--modes', 'unpaced,live').split(',');
const hasGpu = spawnSync('nvidia-smi', ['-L'], { stdio: 'ignore' }).status === 0;
const EP = flag('--ep', hasGpu ? 'cuda' : 'cpu');
const HW = flag('--hw', 'none');
const model = resolve(flag('--model', join(assets, 'models', 'yolox', 'yolox_nano.onnx')));
// As bench/gpu-detect.ts: fp16 compiled on a GPU; on the CPU the defaults (fp32).
const INFER = flag('--infer', EP === 'cpu' ? '' : 'precision=fp16');
const SRC = flag('--src', '');
const out = resolve(flag('--out', process.env.OUT ?? '/var/tmp/sluice/bench/display'));
/** Seconds at the start of each run not measured (model load, the first keyframes, CUDA's per-shape search). */
const WARM = Number(flag('--warm', EP === 'cpu' ? '3' : '5'));
// The canvas: 1920x1080 as the issue's chain; smaller only for smoke checks on a small box.
const [W, H] = flag('--tile', '1920x1080').split('x').map(Number) as [number, number];
mkdirSync(out, { recursive: true });
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const now = () => performance.timeOrigin + performance.now();
const q = (xs: number[], p: number) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
const r1 = (x: number) => Math.round(x * 10) / 10;

const device = hasGpu ? spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]! : `${cpus().length}-core ${cpus()[0]?.model ?? 'CPU'} (no GPU)`;
log(`device: ${device}; ${N} streams, ${SECONDS} s per mode (+${WARM} s warm-up), ep=${EP}, modes ${MODES.join(',')}`);
// 300 frames (10 s, looped) as bench/gpu-detect.ts and sluice bench: one cached clip for all three.
const clip = await realisticClip({ frames: Number(flag('--clip-frames', '300')), fps: Number(flag('--clip-fps', '30')) });
log(`clip: ${clip.label} (${Math.round(clip.bitrate / 1000)} kbit/s by ${clip.bitrateFrom}, ${clip.frames} frames at ${clip.fps} fps${clip.cached ? ', cached' : ''}): ${clip.path}`);

/** Busy and total jiffies of all cores (/proc/stat). */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, x) => a + x, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

/** `nvidia-smi dmon -s u` while running: the columns by their header (sm, mem, enc, dec, ...), of the samples taken within [from(), to()). */
function dmon(): { stop: (from: number, to: number) => Record<string, number[]> } {
  if (!hasGpu) return { stop: () => ({}) };
  const d = spawn('nvidia-smi', ['dmon', '-s', 'u', '-d', '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: { t: number; l: string }[] = [];
  let rest = '';
  d.stdout.on('data', (b: Buffer) => {
    const parts = (rest + b.toString()).split('\n');
    rest = parts.pop()!;
    const t = now();
    for (const l of parts) lines.push({ t, l });
  });
  return {
    stop: (from, to) => {
      d.kill();
      const head = lines.find((x) => x.l.startsWith('#') && /\bsm\b/.test(x.l))?.l.replace(/^#\s*/, '').trim().split(/\s+/) ?? [];
      const cols: Record<string, number[]> = {};
      // First GPU only (gpu 0: where infer and NVDEC run by default).
      for (const { t, l } of lines) {
        if (!/^\s*0\s/.test(l) || t < from || t >= to) continue;
        l.trim().split(/\s+/).forEach((v, i) => { if (head[i] && head[i] !== 'gpu' && v !== '-') (cols[head[i]!] ??= []).push(Number(v)); });
      }
      return cols;
    },
  };
}

interface ModeResult { [k: string]: unknown }

/** A loopback port nobody listens on now (for the rtsp sink; the client must know it). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => res(typeof a === 'object' && a ? a.port : 0)); });
  });
}

async function runMode(mode: string): Promise<ModeResult> {
  const port = await freePort();
  const srcProps = mode === 'live' ? 'live=true' : 'threaded=true';
  const srcs = Array.from({ length: N }, (_, i) => `uri location=${clip.path} loop=true ${srcProps} hw=${HW}${SRC ? ` ${SRC}` : ''} name=s${i} ! m.`).join('  ');
  const desc = `${srcs}  mux name=m ! infer model=${model} ep=${EP}${INFER ? ` ${INFER}` : ''} ! track ! tile width=${W} height=${H} ! osd ! encode tune=zerolatency preset=veryfast gop=30 ! rtsp port=${port} mount=/ds`;
  log(`${mode}: uri location=CLIP loop=true ${srcProps} hw=${HW}${SRC ? ` ${SRC}` : ''} x${N} ! ${desc.slice(desc.indexOf('mux'))}`);
  const p = launch(desc, { description: desc });
  // Per stream: when each clip frame last left its source (epoch ms), the first frame's time and
  // number (the live schedule's origin), and frames out inside the measured window.
  const outAt = Array.from({ length: N }, () => new Float64Array(clip.frames).fill(NaN));
  const first: { t: number; n: number }[] = Array.from({ length: N }, () => ({ t: NaN, n: 0 }));
  const inWindow = new Array<number>(N).fill(0);
  let win0 = Infinity, win1 = Infinity;
  for (let i = 0; i < N; i++) {
    p.addProbe(`s${i}.src`, (f) => {
      const t = now();
      if (Number.isNaN(first[i]!.t)) first[i] = { t, n: f.frame };
      outAt[i]![f.frame % clip.frames] = t;
      if (t >= win0 && t < win1) inWindow[i]!++;
    });
  }
  let cpu0 = cpuTimes(), cpu1 = cpu0;
  const gpu = dmon();
  let playing = false;
  p.bus.on('state-changed', (m) => { if (m.source === 'pipeline' && m.current === 'playing') playing = true; });
  const done = p.run();
  while (!playing) await new Promise((r) => setTimeout(r, 50));

  // The client: started once the pipeline plays; a refused first connection is retried.
  const composites: { t: number; codes: number[] }[] = [];
  const readerStart = now();
  let readerLog = '';
  while (now() - readerStart < 30_000) {
    const rd = spawn(process.execPath, [join(import.meta.dirname, 'gpu-display-reader.ts'), `rtsp://127.0.0.1:${port}/ds`, String(N), String(W), String(H), String(SECONDS + WARM + 600)], { stdio: ['ignore', 'pipe', 'pipe'] });
    rd.stderr.on('data', (b: Buffer) => { readerLog += b.toString(); });
    const lines = createInterface({ input: rd.stdout });
    lines.on('line', (l) => {
      const [t, c] = l.split(' ');
      const tt = Number(t);
      if (!composites.length) {
        // The window opens WARM s after the first composite reaches the client.
        win0 = tt + WARM * 1000;
        win1 = win0 + SECONDS * 1000;
        setTimeout(() => { cpu0 = cpuTimes(); }, WARM * 1000);
        setTimeout(() => { cpu1 = cpuTimes(); rd.kill('SIGINT'); }, (WARM + SECONDS) * 1000);
      }
      composites.push({ t: tt, codes: c!.split(',').map(Number) });
    });
    await new Promise((r) => rd.on('close', r));
    // A client that ended early (the stream broke off) closes the window where it stopped.
    if (composites.length && now() < win1) { win1 = Math.max(win0, now()); cpu1 = cpuTimes(); }
    if (composites.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  p.sendEosRequest();
  const report = (await done) as PipelineReport;
  const smi = gpu.stop(win0, win1);
  writeFileSync(join(out, `display-${mode}-${N}.report.json`), JSON.stringify(report, null, 1));

  // Latency at the client, from each cell's frame number.
  const lat: number[] = [];
  // unread: a cell whose code does not read back (greyed as lost, drawn over by osd, or damaged).
  let unread = 0, cellsRead = 0;
  const shown = Array.from({ length: N }, () => new Set<number>());
  // Every cell of every composite (what a viewer sees: a stale cell shown again counts again), and
  // each frame once, on its first arrival (comparable with the sink's per-frame figure).
  const latFirst: number[] = [];
  const inWin = composites.filter((c) => c.t >= win0 && c.t < win1);
  for (const c of inWin) {
    c.codes.forEach((code, s) => {
      if (s >= N) return;
      if (code < 0 || code >= clip.frames) { unread++; return; }
      cellsRead++;
      let cap: number;
      if (mode === 'live') {
        // Frame numbers repeat each loop: the latest n with this code due by now.
        const f0 = first[s]!, period = clip.frames;
        const dueRel = (c.t - f0.t) * clip.fps / 1000 + f0.n;
        const n = code + period * Math.floor((dueRel - code) / period);
        cap = f0.t + (n - f0.n) * 1000 / clip.fps;
      } else cap = outAt[s]![code]!;
      const ms = c.t - cap;
      if (Number.isFinite(ms) && ms >= 0) {
        lat.push(ms);
        const key = Math.floor(cap);
        if (!shown[s]!.has(key)) { shown[s]!.add(key); latFirst.push(ms); }
      }
    });
  }
  const winS = inWin.length > 1 ? (inWin.at(-1)!.t - inWin[0]!.t) / 1000 : NaN;
  const perSourceIn = inWindow.map((x) => x / ((win1 - win0) / 1000));
  const perSourceShown = shown.map((x) => x.size / winS);
  const els = Object.entries(report.elements);
  const busy: Record<string, number> = {};
  for (const [k, e] of els) if (e.type !== 'uri') busy[k] = Math.round(e.busy * 100);
  const uriBusy = els.filter(([, e]) => e.type === 'uri').map(([, e]) => e.busy);
  busy.uri_avg = Math.round((uriBusy.reduce((a, x) => a + x, 0) / Math.max(1, uriBusy.length)) * 100);
  const perEl: Record<string, string> = {};
  for (const [k, e] of els) if (e.type !== 'uri') perEl[k] = `${Math.round(e.busy * 100)}% busy, ${r1(e.fps)} fps, p50 ${r1(e.latencyMs.p50)} ms${e.dropped ? `, dropped ${e.dropped}` : ''}`;
  const sink = els.find(([, e]) => e.type === 'rtsp')?.[1];
  const avg = (xs: number[] | undefined) => (xs?.length ? Math.round(xs.reduce((a, x) => a + x, 0) / xs.length) : null);
  const droppedLive = report.live ? Object.values(report.live.dropped).reduce((a, x) => a + Object.values(x).reduce((b, k) => b + k, 0), 0) : 0;
  const res: ModeResult = {
    mode, streams: N, ep: EP, hw: HW, seconds: SECONDS,
    inFps: r1(perSourceIn.reduce((a, x) => a + x, 0)),
    perSourceInFps: { min: r1(Math.min(...perSourceIn)), max: r1(Math.max(...perSourceIn)) },
    outFps: r1((inWin.length - 1) / winS),
    perSourceShownFps: { min: r1(Math.min(...perSourceShown)), max: r1(Math.max(...perSourceShown)) },
    latencyClientMs: { p50: Math.round(q(lat, 0.5)), p99: Math.round(q(lat, 0.99)), firstP50: Math.round(q(latFirst, 0.5)), firstP99: Math.round(q(latFirst, 0.99)), cells: cellsRead, unread, from: mode === 'live' ? 'the camera schedule (first frame + n / fps)' : 'the source\'s output (probe)' },
    latencyReportMs: sink?.endToEndMs ?? null,
    mainThread: report.mainThread ? Math.round(report.mainThread.busy * 100) : null,
    cores: cpu1.total > cpu0.total ? Math.round(((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)) * 100) : null,
    gpuSm: avg(smi.sm), nvdec: avg(smi.dec), gpuSamples: { sm: smi.sm ?? [], dec: smi.dec ?? [] },
    busy, droppedLive, verdict: report.bottleneck?.text ?? '',
    encodeMsP50: sink ? r1(report.elements[els.find(([, e]) => e.type === 'encode')?.[0] ?? '']?.latencyMs.p50 ?? NaN) : null,
    elements: perEl,
  };
  if (!composites.length) res.error = `the client read nothing: ${readerLog.slice(-500)}`;
  // A frame number names one frame per loop of the clip: latencies near the loop are ambiguous.
  const loopMs = (clip.frames / clip.fps) * 1000;
  if (q(lat, 0.99) > loopMs * 0.8) res.warning = `client latency p99 ${Math.round(q(lat, 0.99))} ms is near the clip's loop (${loopMs} ms): frame numbers may be mistaken for the previous loop's; use a longer clip (--clip-frames)`;
  log(`${mode}: ${res.inFps} fps in (per source ${JSON.stringify(res.perSourceInFps)}), ${res.outFps} tiled fps at the client, latency client p50/p99 ${JSON.stringify(res.latencyClientMs)}, report ${JSON.stringify(res.latencyReportMs)}; main thread ${res.mainThread}%, cores ${res.cores}%, sm ${res.gpuSm}%, nvdec ${res.nvdec}%; ${res.verdict}`);
  if (res.warning) log(`${mode}: WARNING ${res.warning}`);
  log(`${mode}: ${Object.entries(perEl).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  return res;
}

const results: ModeResult[] = [];
for (const m of MODES) {
  results.push(await runMode(m));
  writeFileSync(join(out, `display-${N}.json`), JSON.stringify({ device, clip, results }, null, 1));
}

console.log(`\n## display chain on ${device}: ${N} x ${clip.label} -> mux -> infer (${EP}${INFER ? ` ${INFER}` : ''}) -> track -> tile ${W}x${H} -> osd -> encode veryfast zerolatency -> rtsp -> FFmpeg; ${SECONDS} s measured per mode`);
console.log('| mode | in fps (sum) | per source min-max | tiled fps at client | cells fresh fps min-max | client latency p50 / p99 ms, every cell (first arrival) | report rtsp p50 / p99 ms | main thread % | cores % | GPU SM % | NVDEC % | verdict |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const pi = r.perSourceInFps as { min: number; max: number }, ps = r.perSourceShownFps as { min: number; max: number };
  const lc = r.latencyClientMs as { p50: number; p99: number; firstP50: number; firstP99: number }, lr = r.latencyReportMs as { p50: number; p99: number } | null;
  console.log(`| ${r.mode} | ${r.inFps} | ${pi.min}-${pi.max} | ${r.outFps} | ${ps.min}-${ps.max} | ${lc.p50} / ${lc.p99} (${lc.firstP50} / ${lc.firstP99}) | ${lr ? `${Math.round(lr.p50)} / ${Math.round(lr.p99)}` : '-'} | ${r.mainThread} | ${r.cores} | ${r.gpuSm ?? '-'} | ${r.nvdec ?? '-'} | ${r.verdict} |`);
}
console.log(`SUMMARY ${JSON.stringify({ device, streams: N, clip: { label: clip.label, bitrate: clip.bitrate, frames: clip.frames }, results: results.map(({ gpuSamples: _, elements: __, ...r }) => r) })}`);
