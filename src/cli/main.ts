// `sluice` command line: thin commands over the library API.
import '../node-compat.ts';
import { createWriteStream, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isDeepstreamApp, readDeepstreamApp } from './deepstream-app.ts';
import { Command, Option } from 'commander';
import { buildPipeline } from '../core/graph.ts';
import { pipelineDot } from '../core/dot.ts';
import { parseLaunch } from '../core/launch.ts';
import { parseYaml } from '../core/yamlspec.ts';
import { isSluiceError, Err } from '../core/errors.ts';
import { configureLogging } from '../core/log.ts';
import type { Pipeline, PipelineReport } from '../core/pipeline.ts';
import { registry } from '../index.ts';
import { loadPlugins } from '../plugins.ts';
import { inspectAll, inspectOne } from './inspect.ts';
import { formatTable } from './table.ts';
import { Progress } from './progress.ts';
import { demoPipeline } from './demo.ts';
import { benchCase, builtinSuite, checkRuns, formatBench, machine, type BenchCase, type BenchResult } from './bench.ts';
import { doctor } from './doctor.ts';
import { view, viewInBrowser, webcamClient } from './remote-clients.ts';
import { REMOTE_TASKS, remotePipeline } from './remote.ts';
import { KNOWN_MODELS, pullModel, resolveModel } from '../infer/models.ts';
import { compileModel, compiledInfoOf, modelInfoOf } from '../infer/compile/compile.ts';
import { decodeModel } from '../infer/compile/onnx.ts';
import { ADAPTER_NAMES, adapters, detectAdapter } from '../infer/adapters/index.ts';
import { parseListen, serveMetrics, type MetricsServer } from '../trace/metrics.ts';
import { Service, loadServeConfig } from '../serve/service.ts';
import { serveApi, type StreamsBackend } from '../serve/api.ts';
import { sourcePolicy } from '../serve/sources.ts';
import type { StreamInfo } from '../serve/service.ts';
// The cluster commands load nats.js only when used.
const cluster = () => import('../serve/cluster.ts');
import { resolveToken, shownToken } from '../net/token.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface RunOpts { progress?: string; report?: string; quiet?: boolean; queueSize?: string; maxLatency?: string; metrics?: string; metricsToken?: string; verbose?: boolean; eosOnShutdown?: boolean; debug?: string }

/** gst-launch -v: what was linked with which caps and formats, and every element's properties. */
function describeVerbose(pipeline: Pipeline): string {
  const lines: string[] = [];
  for (const n of pipeline.nodes) {
    const given = Object.entries(n.props).filter(([k]) => n.explicit.has(k)).map(([k, v]) => `${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=${JSON.stringify(v)}`);
    lines.push(`/${n.name} (${n.def.name})${given.length ? `: ${given.join(' ')}` : ''}`);
    for (const p of n.srcPads) {
      if (!p.peer) continue;
      const fmts = n.def.outFormats?.(n.props as never) ?? p.template.formats;
      lines.push(`/${n.name}.${p.name} -> /${p.peer.element.name}.${p.peer.name}: caps = ${p.caps.join(' | ')}${fmts ? `, format = ${fmts.join(' | ')}` : ''}${p.peer.converts ? `, converted ${p.peer.converts}` : ''}`);
    }
  }
  return lines.join('\n');
}

/** Play a pipeline with a live line, Ctrl-C draining, the final table and the report. */
export async function play(pipeline: Pipeline, opts: RunOpts): Promise<PipelineReport> {
  if (opts.debug) configureLogging(opts.debug);
  if (opts.verbose) {
    process.stderr.write(describeVerbose(pipeline) + '\n');
    pipeline.bus.on('state-changed', (m) => { if (m.source === 'pipeline') process.stderr.write(`state: ${m.old} -> ${m.current}\n`); });
  }
  const tty = process.stderr.isTTY && !opts.quiet;
  let lines = 0;
  const progress = new Progress(pipeline);
  // --progress FILE|-: ffmpeg's machine-readable blocks, one a second and one at the end.
  const progressOut = opts.progress === '-' ? process.stdout : opts.progress ? createWriteStream(opts.progress) : null;
  // A progress file that cannot be written (a full disk) is said once; it must not crash the run.
  if (progressOut && progressOut !== process.stdout) progressOut.once('error', (e) => process.stderr.write(`warning: --progress ${opts.progress}: ${e.message}; progress is no longer written\n`));
  let ticks = 0;
  let plain = false;
  const off = pipeline.bus.on('stats', () => {
    const p = progress.sample();
    progressOut?.write(Progress.block(p, false));
    if (opts.quiet) return;
    // In place on a terminal; every 5 s as a plain line otherwise (a CI log keeps a trace).
    if (tty) { process.stderr.write(`\r${Progress.line(p)}\x1b[K`); lines = 1; } else if (++ticks % 5 === 0) { process.stderr.write(`${Progress.line(p)}\n`); plain = true; }
  });
  pipeline.bus.on('warning', (m) => process.stderr.write(`${lines ? '\n' : ''}warning: ${m.source}: ${m.message}\n`));
  // As slipstream prints where to point VLC or ffplay.
  pipeline.bus.on('element', (m) => { if (m.name === 'rtsp-url') process.stderr.write(`${m.source}: streaming at ${String(m.data.url)}\n`); });
  // record: one line per clip written and per clip retention deleted.
  pipeline.bus.on('element', (m) => { if ((m.name === 'clip-end' || m.name === 'clip-deleted') && !opts.quiet) process.stderr.write(`${lines ? '\n' : ''}${m.source}: ${String(m.data.message)}\n`); });
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`${lines ? '\n' : ''}interrupt: finishing (EOS); press Ctrl-C again to abort\n`);
      pipeline.sendEosRequest();
    } else {
      process.stderr.write('aborted\n');
      process.exit(130);
    }
  };
  // Prometheus scrapes /metrics while it plays (started first: a busy port fails before start).
  let metrics: MetricsServer | null = null;
  if (opts.metrics) {
    metrics = await serveMetrics(pipeline, { ...parseListen(opts.metrics), token: opts.metricsToken ?? process.env.SLUICE_METRICS_TOKEN });
    process.stderr.write(`metrics at ${metrics.url}, dashboard at ${metrics.dashboard}\n`);
  }
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const endProgress = async () => {
    // The last line says where the run ended (the one before could be a second old), with the
    // run's average rate; printed where progress lines were.
    const fin = progress.sample(true);
    if (!opts.quiet && (lines || plain)) { process.stderr.write(`${lines ? '\r' : ''}${Progress.line(fin)}${lines ? '\x1b[K' : ''}\n`); lines = 0; }
    if (!progressOut) return;
    progressOut.write(Progress.block(fin, true));
    const ws = progressOut as ReturnType<typeof createWriteStream>;
    if (progressOut !== process.stdout && !ws.destroyed) await new Promise<void>((r) => ws.end(r));
  };
  try {
    const report = await pipeline.run();
    await endProgress();
    if (lines) process.stderr.write('\n');
    if (!opts.quiet) process.stderr.write(formatTable(report) + '\n');
    if (opts.report) writeFileSync(opts.report, JSON.stringify(report, null, 2) + '\n');
    return report;
  } catch (e) {
    if (lines) process.stderr.write('\n');
    if (opts.report) writeFileSync(opts.report, JSON.stringify(pipeline.report(), null, 2) + '\n');
    throw e;
  } finally {
    off();
    await metrics?.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

function maxLatency(opts: RunOpts): number | undefined {
  if (opts.maxLatency === undefined) return undefined;
  const n = Number(opts.maxLatency);
  if (!Number.isInteger(n) || n < 0) throw new Err.PROPERTY(`--max-latency must be a whole number of ms >= 0 (got ${opts.maxLatency})`);
  return n;
}

function queueSize(opts: RunOpts): number | undefined {
  if (opts.queueSize === undefined) return undefined;
  const n = Number(opts.queueSize);
  if (!Number.isInteger(n) || n < 1) throw new Err.PROPERTY(`--queue-size must be a whole number >= 1 (got ${opts.queueSize})`);
  return n;
}

/** The graph a pipeline file describes (`run` and `graph --yaml`). */
function yamlSpec(file: string) {
  if (!existsSync(file)) throw new Err.FILE_NOT_FOUND(`pipeline file not found: ${file}`);
  return parseYaml(readFileSync(file, 'utf8'), file, registry());
}

const program = new Command();
program
  .name('sluice')
  .description('Real-time video analytics pipelines')
  // gst-launch's spellings: -V/--version, and -v is --verbose on launch and run.
  .version(pkg.version, '-V, --version')
  .option('--plugin <file>', 'load elements from this module (its default export: defineElement(...) or an array); repeatable; SLUICE_PLUGIN_PATH adds files or folders', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .showHelpAfterError()
  // Plugins register before any command runs, so launch, run, inspect and graph all see them.
  .hook('preAction', async () => { await loadPlugins(registry(), program.opts<{ plugin: string[] }>().plugin); });

const runOptions = (c: Command) =>
  c.option('--report <file>', 'write a JSON report (frames, wall time, per-element fps, busy, latency, drops, queues)')
    .option('-q, --quiet', 'no live line and no table')
    .option('--progress <file>', 'write ffmpeg-style progress blocks (frame=, fps=, out_time_us=, speed=, progress=continue|end) to FILE, or - for stdout')
    .option('-v, --verbose', 'print each link with its caps and pixel formats, each element\'s properties, and state changes (gst-launch -v)')
    .option('-e, --eos-on-shutdown', 'send EOS on Ctrl-C so files are finalised (the default here; accepted for gst-launch habits)')
    .option('--debug <spec>', 'log levels per category, as SLUICE_DEBUG / GST_DEBUG: "infer:5,*:2"')
    .option('--metrics <[host:]port>', 'while playing, serve Prometheus /metrics and a live dashboard (/) on this port (127.0.0.1 unless a host is given)')
    .option('--metrics-token <token>', 'scrapes must send Authorization: Bearer TOKEN (or SLUICE_METRICS_TOKEN)')
    .addOption(new Option('--queue-size <n>', 'default queue length in front of each element').default(undefined))
    .addOption(new Option('--max-latency <ms>', 'live sources: most ms from capture to a sink\'s hand-off; older frames are dropped and counted (default 500; 0: never)').default(undefined));

runOptions(program.command('launch')
  .description('run a pipeline written in launch syntax, e.g. "testsrc num-frames=100 ! fakesink"')
  .argument('<pipeline...>', 'elements separated by !'))
  .action(async (words: string[], opts: RunOpts) => {
    const text = words.join(' ');
    const pipeline = buildPipeline(parseLaunch(text), registry(), { description: text, queueSize: queueSize(opts), maxLatency: maxLatency(opts) });
    await play(pipeline, opts);
  });

runOptions(program.command('run')
  .description('run a pipeline from a YAML file, or a DeepStream deepstream-app config ([source0] [streammux] [primary-gie] ... [sink0]; docs/from-deepstream.md)')
  .argument('<file>', 'pipeline file (.yaml) or deepstream-app config (.txt)'))
  .action(async (file: string, opts: RunOpts) => {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (isDeepstreamApp(text)) {
      const app = readDeepstreamApp(text, file);
      if (!opts.quiet) for (const w of app.warnings) process.stderr.write(`warning: ${file}: ${w}\n`);
      if (opts.verbose) process.stderr.write(`${file} runs as: ${app.launch}\n`);
      const pipeline = buildPipeline(parseLaunch(app.launch), registry(), { description: file, queueSize: queueSize(opts), maxLatency: maxLatency(opts) });
      await play(pipeline, opts);
      return;
    }
    const pipeline = buildPipeline(yamlSpec(file), registry(), { description: file, queueSize: queueSize(opts), maxLatency: maxLatency(opts) });
    await play(pipeline, opts);
  });

program.command('graph')
  .description('draw a pipeline (launch syntax, --yaml FILE, or a --dot dump from SLUICE_DEBUG_DUMP_DOT_DIR) as DOT or SVG, without running it')
  .argument('[pipeline...]', 'elements separated by !')
  .option('--yaml <file>', 'a pipeline file instead of launch syntax')
  .option('--dot <file>', 'render an existing .dot file (e.g. a state-change dump)')
  .option('-f, --format <format>', 'dot or svg (SVG is laid out by Graphviz compiled to WebAssembly)', 'dot')
  .option('-o, --out <file>', 'write to this file instead of standard output')
  .action(async (words: string[], o: { yaml?: string; dot?: string; format: string; out?: string }) => {
    if (o.format !== 'dot' && o.format !== 'svg') throw new Err.PROPERTY(`--format must be dot or svg (got "${o.format}")`);
    let dot: string;
    if (o.dot) {
      if (!existsSync(o.dot)) throw new Err.FILE_NOT_FOUND(`DOT file not found: ${o.dot}`);
      dot = readFileSync(o.dot, 'utf8');
    } else {
      let spec;
      if (o.yaml) {
        spec = yamlSpec(o.yaml);
      } else {
        if (!words.length) throw new Err.PROPERTY('give a pipeline in launch syntax, --yaml FILE or --dot FILE');
        spec = parseLaunch(words.join(' '));
      }
      const description = o.yaml ?? words.join(' ');
      dot = pipelineDot(buildPipeline(spec, registry(), { description }));
    }
    let text = dot;
    if (o.format === 'svg') {
      const { Graphviz } = await import('@hpcc-js/wasm-graphviz');
      const gv = await Graphviz.load();
      try {
        text = gv.dot(dot);
      } catch (e) {
        throw new Err.PARSE(`Graphviz could not lay out the graph: ${(e as Error).message}`);
      }
    }
    if (o.out) writeFileSync(o.out, text);
    else process.stdout.write(text);
  });

program.command('bench')
  .description('measure throughput: a pipeline (launch syntax or --yaml) run --runs times, or without one a built-in suite on generated input')
  .argument('[pipeline...]', 'elements separated by !')
  .option('--yaml <file>', 'a pipeline file instead of launch syntax')
  .option('--runs <n>', 'runs per pipeline; the median is reported', '3')
  .option('--seconds <s>', 'stop each run after this many seconds of playing (needed for endless sources); 0: run to EOS', '0')
  .option('--frames <n>', 'frames per case of the built-in suite', '300')
  .option('--ep <ep>', 'execution provider for the suite\'s inference cases', 'cpu')
  .option('--json <file>', 'write every run, the per-element reports and the machine to a JSON file')
  .action(async (words: string[], o: { yaml?: string; runs: string; seconds: string; frames: string; ep: string; json?: string }) => {
    const runs = Number(o.runs), seconds = Number(o.seconds);
    checkRuns(runs, seconds);
    let cases: BenchCase[];
    let cleanup = () => {};
    if (o.yaml) cases = [{ name: o.yaml, pipeline: o.yaml, spec: yamlSpec(o.yaml) }];
    else if (words.length) cases = [{ name: 'pipeline', pipeline: words.join(' '), spec: parseLaunch(words.join(' ')) }];
    else {
      const frames = Number(o.frames);
      if (!Number.isInteger(frames) || frames < 10) throw new Err.PROPERTY(`--frames must be a whole number >= 10 (got ${o.frames})`);
      process.stderr.write('generating the suite\'s input (a 1080p H.264 clip and a model built in code)...\n');
      ({ cases, cleanup } = await builtinSuite({ ep: o.ep, frames }));
    }
    // Build every graph once before running any, so a bad pipeline fails before minutes of work.
    for (const c of cases) buildPipeline(c.spec ?? parseLaunch(c.pipeline), registry(), { description: c.pipeline });
    const m = machine();
    process.stderr.write(`${m.cpus} x ${m.cpu}, Node ${m.node}; ${runs} run(s) per case\n`);
    const results: BenchResult[] = [];
    try {
      for (const c of cases) {
        results.push(await benchCase(c, { runs, seconds, onRun: (cc, r, i) => process.stderr.write(`  ${cc.name} run ${i + 1}: ${r.fps.toFixed(1)} fps (${r.frames} frames in ${r.wallSeconds.toFixed(2)} s)\n`) }));
      }
    } finally {
      cleanup();
    }
    process.stdout.write(formatBench(results) + '\n');
    if (cases.length === 1) process.stdout.write('\n' + formatTable(results[0]!.report) + '\n');
    if (o.json) writeFileSync(o.json, JSON.stringify({ machine: m, runs, seconds, results }, null, 2) + '\n');
  });

program.command('inspect')
  .description('list elements, or show one element\'s pads and properties')
  .argument('[element]', 'element name')
  .action((name?: string) => {
    process.stdout.write((name ? inspectOne(registry(), name) : inspectAll(registry())) + '\n');
  });

runOptions(program.command('demo')
  .description('run the built-in demo: synthetic moving objects into demo.mp4 with a report')
  .option('--out <file>', 'output video', 'demo.mp4')
  .option('--frames <n>', 'frames to render', '300'))
  .action(async (opts: RunOpts & { out: string; frames: string }) => {
    const text = demoPipeline({ out: opts.out, frames: Number(opts.frames) });
    process.stderr.write(`sluice demo: ${text}\n`);
    const pipeline = buildPipeline(parseLaunch(text), registry(), { description: text });
    const report = await play(pipeline, { ...opts, report: opts.report ?? 'demo-report.json' });
    // report.frames counts every stream's frames (two here); the file holds the tiled ones.
    const written = Object.values(report.elements).find((e) => e.type === 'file')?.framesIn ?? report.frames;
    process.stderr.write(`wrote ${opts.out} (${written} frames) and ${opts.report ?? 'demo-report.json'}\n`);
  });

const models = program.command('models').description('well-known models: list them or fetch one into the cache');
models.command('list').description('known models, their task, adapter, licence and whether they are cached').action(() => {
  const rows = KNOWN_MODELS.map((m) => {
    let where = 'not cached';
    try { where = resolveModel(m.name); } catch { /* not present */ }
    return `${m.name.padEnd(14)} ${m.adapter.padEnd(10)} ${m.licence.padEnd(11)} ${m.task.padEnd(34)} ${where}`;
  });
  process.stdout.write(`${'name'.padEnd(14)} ${'adapter'.padEnd(10)} ${'licence'.padEnd(11)} ${'task'.padEnd(34)} location\n${rows.join('\n')}\n`);
});
models.command('pull').description('fetch a model (from SLUICE_MODEL_DIR if it holds it, else upstream), verify its sha256, cache it')
  .argument('<name>', 'model name (sluice models list)')
  .action(async (name: string) => {
    const path = await pullModel(name, (l) => process.stderr.write(l + '\n'));
    process.stdout.write(path + '\n');
  });

models.command('compile').description('compile a model: uint8 NHWC input with its normalisation in the graph, dynamic batch, box decode and per-image top-k in the graph, optional fp16 (infer does this itself, cached, unless compile=off)')
  .argument('<in>', 'ONNX file or known model name')
  .requiredOption('-o, --output <file>', 'where to write the compiled model')
  .option('--adapter <name>', `how to read the outputs: ${ADAPTER_NAMES.join(', ')}`, 'auto')
  .option('--precision <p>', 'fp32 or fp16', 'fp32')
  .option('--top-k <k>', 'candidates per image kept before NMS', '200')
  .option('--channels <order>', 'rgb or bgr (default: the adapter\'s)')
  .option('--mean <m>', 'per-channel mean, in the units of --scale (default: the adapter\'s)')
  .option('--std <s>', 'per-channel std (default: the adapter\'s)')
  .option('--scale <x>', 'factor on 0-255 pixel values before mean/std (default: the adapter\'s)')
  .action(async (input: string, o: { output: string; adapter: string; precision: string; topK: string; channels?: string; mean?: string; std?: string; scale?: string }) => {
    const path = resolveModel(input);
    if (o.precision !== 'fp32' && o.precision !== 'fp16') throw new Err.PROPERTY(`--precision must be fp32 or fp16 (got ${o.precision})`);
    if (!ADAPTER_NAMES.includes(o.adapter as never)) throw new Err.PROPERTY(`--adapter must be one of ${ADAPTER_NAMES.join(', ')} (got ${o.adapter})`);
    const topK = Number(o.topK);
    if (!Number.isInteger(topK) || topK < 1) throw new Err.PROPERTY(`--top-k must be a positive integer (got ${o.topK})`);
    const bytes = readFileSync(path);
    const decoded = decodeModel(bytes);
    const already = compiledInfoOf(decoded);
    if (already) throw new Err.MODEL(`${path} is already compiled (${already.adapter}, uint8 ${already.height}x${already.width} ${already.order} in); infer model=${input} runs it as it is, or compile the original model`);
    const info = modelInfoOf(decoded);
    const ad = o.adapter === 'auto' ? detectAdapter(info) : adapters[o.adapter]!;
    const three = (v: string | undefined, d: [number, number, number], what: string): [number, number, number] => {
      if (v === undefined) return d;
      const n = v.split(',').map(Number);
      if (n.length === 1 && Number.isFinite(n[0])) return [n[0]!, n[0]!, n[0]!];
      if (n.length !== 3 || n.some((x) => !Number.isFinite(x))) throw new Err.PROPERTY(`--${what} must be one number or three comma-separated numbers (got ${v})`);
      return n as [number, number, number];
    };
    const order = (o.channels ?? ad.prep.order) as 'rgb' | 'bgr';
    if (order !== 'rgb' && order !== 'bgr') throw new Err.PROPERTY(`--channels must be rgb or bgr (got ${o.channels})`);
    const r = await compileModel(bytes, {
      adapter: ad.name, precision: o.precision, topK, order,
      scale: o.scale !== undefined ? Number(o.scale) : ad.prep.scale, mean: three(o.mean, ad.prep.mean, 'mean'), std: three(o.std, ad.prep.std, 'std'),
    });
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    writeFileSync(o.output, r.bytes);
    const i = r.info;
    process.stdout.write(`${o.output}: ${i.adapter}, ${i.precision}, ${i.batch === 'dynamic' ? 'dynamic batch' : `batch ${i.batch}`}, uint8 ${i.height}x${i.width}x3 ${i.order} in, ${i.post ? `top-${i.topK} candidates out (sluice_boxes/scores)` : 'the model\'s own outputs'}; run it with infer model=${o.output}\n`);
  });

program.command('doctor').description('what can run here: execution providers (and why not), hardware decoders, GPUs').action(() => {
  process.stdout.write(doctor() + '\n');
});

runOptions(program.command('remote')
  .description('serve a page that sends your browser\'s camera to a model here and shows the result (one port; use ssh -L for a remote GPU box)')
  .option('--task <task>', `what to run: ${Object.entries(REMOTE_TASKS).map(([k, v]) => `${k} (${v.about})`).join('; ')}; default auto with --model, else invert`)
  .option('--model <model>', 'ONNX file or known model name (sluice models list); each task has a default')
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--port <n>', 'HTTP port for the page and its WebSocket', '8080')
  .option('--token <secret>', 'shared secret (open the page with ?token=SECRET); default: --token-file, SLUICE_TOKEN, else a random one printed in the URL', '')
  .option('--token-file <file>', 'read the token from this file (never printed)')
  .option('--no-token', 'serve with no token at all (anyone who reaches the port may use it)')
  .option('--allow-host <name...>', 'Host header names to accept besides localhost, 127.0.0.1, ::1 and --host (a name you reach it by)')
  .option('--ep <ep>', 'execution provider for the model (auto, cpu, cuda, ...)')
  .option('--labels <file>', 'class names, one per line')
  .option('--threshold <t>', 'minimum score')
  .option('--no-live', 'no WebRTC live view (the page shows the JPEG frames of its WebSocket only; saves the H.264 encode)'))
  .action(async (o: RunOpts & { task?: string; model?: string; host: string; port: string; token: string | boolean; tokenFile?: string; allowHost?: string[]; ep?: string; labels?: string; threshold?: string; live: boolean }) => {
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Err.PROPERTY(`--port must be 0..65535 (got ${o.port})`);
    // commander: --no-token makes token false; otherwise it is the given string or ''.
    const tok = o.token === false ? { token: '', source: 'none' as const } : resolveToken({ token: String(o.token ?? ''), file: o.tokenFile, env: 'SLUICE_TOKEN', generate: true });
    if (o.token === false) process.stderr.write('warning: sluice remote runs with no token (--no-token): anyone who can reach the port can send frames and watch\n');
    const text = remotePipeline({ task: o.task, model: o.model, host: o.host, port, token: tok.token, allowHosts: o.allowHost, ep: o.ep, labels: o.labels, threshold: o.threshold === undefined ? undefined : Number(o.threshold), live: o.live });
    // The description shows no token taken from a file or the environment.
    const shown = tok.token ? text.replaceAll(tok.token, shownToken(tok)) : text;
    const pipeline = buildPipeline(parseLaunch(text), registry(), { description: shown });
    pipeline.bus.on('element', (m) => {
      if (m.name !== 'listening' || m.source !== 'camera') return;
      const a = m.data as { host: string; port: number };
      const q = tok.token ? `?token=${tok.source === 'given' || tok.source === 'generated' ? encodeURIComponent(tok.token) : '…'}` : '';
      const url = `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/${q}`;
      // The page plays the result over WebRTC where UDP reaches this host (LAN), else the WebSocket's JPEGs (ssh -L).
      const live = o.live && a.port ? `  live view alone (WebRTC): ${url.replace(/\/(\?|$)/, '/live$1')}\n` : '';
      process.stderr.write(`sluice remote: ${shown}\nopen ${url}\n${live}  from a laptop: ssh -L ${a.port}:127.0.0.1:${a.port} THIS_HOST, then http://localhost:${a.port}/${q}\n`);
    });
    await play(pipeline, o);
  });

program.command('webcam-client').description('stream a camera (V4L2 /dev/videoN, AVFoundation or DirectShow) or a video file to a netcam / WebcamServer')
  .option('--server <host:port>', 'camera server address')
  .option('--device <camera>', 'camera to stream: /dev/video0 on Linux, an index or name on macOS/Windows')
  .option('--file <video>', 'video file to stream as the camera, at its own frame rate')
  .option('--list-devices', 'list the cameras found here and exit')
  .option('--token <secret>', 'the server\'s token (or --token-file, or SLUICE_TOKEN)', '')
  .option('--token-file <file>', 'read the token from this file')
  .option('--size <WxH>', 'frame size sent', '640x480')
  .option('--quality <q>', 'JPEG quality, 2 (best) to 31', '5')
  .option('--loop', 'start the file again at its end')
  .option('--frames <n>', 'stop after this many frames', '-1')
  .option('--seconds <s>', 'stop after this many seconds (0: no limit)', '0')
  .option('--reconnect', 'when the server closes the connection, dial again every second instead of failing')
  .action(async (o: { server?: string; device?: string; file?: string; listDevices?: boolean; token: string; tokenFile?: string; size: string; quality: string; loop?: boolean; frames: string; seconds: string; reconnect?: boolean }) => {
    if (o.listDevices) {
      const { DeviceAPI } = await import('node-av/api');
      const list = (await DeviceAPI.list()).filter((d) => d.type === 'video');
      process.stdout.write(list.length ? list.map((d) => `${d.name}\t${d.description ?? ''}`).join('\n') + '\n' : `no cameras found (${DeviceAPI.getVideoFormat()})\n`);
      return;
    }
    if (!o.server) throw new Err.PROPERTY('webcam-client needs --server HOST:PORT');
    if (!!o.device === !!o.file) throw new Err.PROPERTY('webcam-client needs one of --device (a camera) or --file (a video)');
    const [w, h] = o.size.split('x').map(Number);
    if (!w || !h) throw new Err.PROPERTY(`--size must be WxH (got "${o.size}")`);
    const token = resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token;
    const n = await webcamClient({ server: o.server, file: o.file, device: o.device, token, width: w, height: h, quality: Number(o.quality), loop: !!o.loop, frames: Number(o.frames), seconds: Number(o.seconds), reconnect: !!o.reconnect });
    process.stderr.write(`sent ${n} frames\n`);
  });

program.command('view').description('receive a display / StreamServer: show it in a local browser page, or write it to a file with --out')
  .requiredOption('--server <host:port>', 'display server address')
  .option('--out <file>', 'write to this video file (.mp4, .mkv) instead of serving a page')
  .option('--token <secret>', 'the server\'s token (or --token-file, or SLUICE_TOKEN)', '')
  .option('--token-file <file>', 'read the token from this file')
  .option('--port <n>', 'local port of the page (without --out)', '8090')
  .option('--frames <n>', 'stop after this many frames (--out)', '-1')
  .option('--seconds <s>', 'stop after this many seconds (0: until the server closes)', '0')
  .option('--reconnect', 'when the server closes the connection, dial again every second instead of failing')
  .action(async (o: { server: string; out?: string; token: string; tokenFile?: string; port: string; frames: string; seconds: string; reconnect?: boolean }) => {
    const token = resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_TOKEN' }).token;
    // Ctrl-C finishes the file (a second one exits at once; the fragments written still play).
    const stop = new AbortController();
    process.on('SIGINT', () => { if (stop.signal.aborted) process.exit(130); stop.abort(); });
    if (!o.out) {
      if (Number(o.seconds) > 0) setTimeout(() => stop.abort(), Number(o.seconds) * 1000).unref();
      const n = await viewInBrowser({ server: o.server, token, host: '127.0.0.1', port: Number(o.port), signal: stop.signal, onListening: (url) => process.stderr.write(`open ${url}\n`) });
      process.stderr.write(`showed ${n} frames\n`);
      return;
    }
    const n = await view({ server: o.server, out: o.out, token, frames: Number(o.frames), seconds: Number(o.seconds), reconnect: !!o.reconnect, signal: stop.signal });
    process.stderr.write(n > 0 ? `wrote ${o.out} (${n} frames)\n` : `no frames arrived: ${o.out} was not written\n`);
  });

program.command('serve').description('run an analytics service: one pipeline whose streams are added and removed over a REST API (docs/serve.md)')
  .argument('[file]', 'serve file (YAML): source template, shared chain, initial streams (not with --nats)')
  .option('--nats <urls>', 'serve the REST API for a cluster of sluice workers on NATS JetStream instead of running a pipeline here')
  .option('--api <[host:]port>', 'REST API address (default: the file\'s api, else 127.0.0.1:8080)')
  .option('--token <secret>', 'API token (Authorization: Bearer); also SLUICE_API_TOKEN or --token-file', '')
  .option('--token-file <file>', 'read the API token from this file')
  .option('--state <file>', 'where the set of streams is kept across restarts (default: the file\'s state)')
  .option('--allow-host <name>', 'also answer requests whose Host is this name (DNS rebinding guard); repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--allow-dir <dir>', 'streams may read local files under this folder; repeatable (default: the serve file\'s allow-dirs, else its own folder)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--allow-scheme <scheme>', 'URL schemes streams may use; repeatable (default: rtsp, rtsps, http, https)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--allow-local-http', 'let http(s) sources reach loopback and link-local addresses (refused by default: they reach this host\'s private ports)')
  .option('-q, --quiet', 'no per-stream lines')
  .action(async (file: string | undefined, o: { api?: string; token: string; tokenFile?: string; state?: string; quiet?: boolean; nats?: string; allowHost: string[]; allowDir: string[]; allowScheme: string[]; allowLocalHttp?: boolean }) => {
    const token = resolveToken({ token: o.token, file: o.tokenFile, env: 'SLUICE_API_TOKEN' }).token;
    if (o.nats) {
      // The same API for the whole cluster: streams go into JetStream, workers take them.
      const { openCluster, clusterBackend } = await cluster();
      const c = await openCluster(o.nats);
      const api = await serveApi(clusterBackend(c), { ...parseListen(o.api ?? '127.0.0.1:8080', '--api'), token, allowHosts: o.allowHost });
      process.stderr.write(`sluice serve: cluster API at ${api.url}/v1/streams (NATS ${o.nats})${token ? ' (token required)' : ''}\n`);
      await new Promise<void>((r) => { process.once('SIGINT', () => r()); process.once('SIGTERM', () => r()); });
      await api.close();
      await c.close();
      return;
    }
    if (!file) throw new Err.PROPERTY('sluice serve needs a serve file (or --nats URL for a cluster)');
    const cfg = loadServeConfig(file);
    const listen = parseListen(o.api ?? cfg.api, '--api');
    if (!token && !['127.0.0.1', 'localhost', '::1'].includes(listen.host)) process.stderr.write(`warning: the API listens on ${listen.host} with no token: anyone who reaches it can add streams; set SLUICE_API_TOKEN or --token-file\n`);
    // --allow-dir folders are the user's own (relative to the working directory); the file's allow-dirs are relative to it.
    const sources = sourcePolicy({ dirs: o.allowDir.length ? o.allowDir : cfg['allow-dirs'].length ? cfg['allow-dirs'].map((d) => resolve(dirname(resolve(file)), d)) : [dirname(resolve(file))], schemes: o.allowScheme, localHttp: !!o.allowLocalHttp });
    const service = new Service(cfg, registry(), { state: o.state, sources });
    service.pipeline.bus.on('warning', (m) => process.stderr.write(`warning: ${m.source}: ${m.message}\n`));
    service.pipeline.bus.on('error', (m) => process.stderr.write(`error: ${m.source}: ${m.error.message}\n`));
    await service.start();
    const api = await serveApi(service, { ...listen, token, allowHosts: o.allowHost });
    process.stderr.write(`sluice serve: API at ${api.url}/v1/streams${token ? ' (token required)' : ''}, metrics at ${api.url}/metrics, ${service.list().length} stream(s)\n`);
    if (service.liveEnabled) process.stderr.write(`sluice serve: live view of a stream at ${api.url}/v1/streams/ID/live${token ? '#token=TOKEN' : ''}\n`);
    let signals = 0;
    const done = new Promise<void>((resolveDone) => {
      const onSignal = () => {
        if (++signals > 1) { process.stderr.write('aborted\n'); process.exit(130); }
        process.stderr.write('sluice serve: stopping (draining every stream; again to abort)\n');
        resolveDone();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // A fatal error of the shared chain ends the service too (a stream's own error ends only that stream).
      service.pipeline.wait().then(() => resolveDone(), () => resolveDone());
    });
    await done;
    await api.close();
    await service.shutdown();
    process.stderr.write('sluice serve: stopped\n');
  });

program.command('worker').description('run streams of a NATS JetStream cluster: claim desired streams while there is room, hold them with leases, publish their metadata (docs/cluster.md)')
  .argument('<file>', 'the same file as sluice serve (source template and shared chain; its streams are added to the cluster if absent)')
  .requiredOption('--nats <urls>', 'NATS servers, comma-separated (nats://h1:4222,nats://h2:4222)')
  .option('--capacity <n>', 'most streams this worker runs at once', '4')
  .option('--name <name>', 'worker name (default: host name and process id)')
  .option('--lease <ms>', 'lease time: a dead worker\'s streams move after at most this plus a third of it', '3000')
  .option('--replicas <n>', 'JetStream replicas of the buckets (3 on a 3-node cluster)', '1')
  .action(async (file: string, o: { nats: string; capacity: string; name?: string; lease: string; replicas: string }) => {
    const cfg = loadServeConfig(file);
    const { Worker, openCluster } = await cluster();
    const { hostname } = await import('node:os');
    const name = o.name ?? `${hostname()}-${process.pid}`;
    const service = new Service({ ...cfg, streams: [], state: '' }, registry(), { state: '' });
    service.pipeline.bus.on('warning', (m) => process.stderr.write(`warning: ${m.source}: ${m.message}\n`));
    const c = await openCluster(o.nats, { leaseMs: Number(o.lease), replicas: Number(o.replicas) });
    for (const s of cfg.streams) await c.desired.create(s.id, JSON.stringify(s)).catch(() => {});
    await service.start();
    const worker = new Worker(c, service, { name, capacity: Number(o.capacity), leaseMs: Number(o.lease), log: (l) => process.stderr.write(`worker ${name}: ${l}\n`) });
    worker.start();
    process.stderr.write(`worker ${name}: up, capacity ${o.capacity}, lease ${o.lease} ms\n`);
    await new Promise<void>((r) => { process.once('SIGINT', () => r()); process.once('SIGTERM', () => r()); });
    await worker.stop();
    await service.shutdown();
    await c.close();
  });

/** `sluice streams`: the cluster's API backend (the same calls as sluice serve --nats), then disconnect. */
async function withCluster<T>(nats: string, fn: (b: StreamsBackend) => Promise<T> | T): Promise<T> {
  const { openCluster, clusterBackend } = await cluster();
  const c = await openCluster(nats);
  try {
    return await fn(clusterBackend(c));
  } catch (e) {
    if (isSluiceError(e)) throw e;
    throw new Err.IO(`NATS JetStream did not answer: ${(e as Error).message}; try again (a cluster electing a leader answers within seconds)`);
  } finally {
    await c.close();
  }
}

const streamsCmd = program.command('streams').description('the desired streams of a NATS JetStream cluster of workers');
streamsCmd.command('add').argument('<id>').argument('<uri>').requiredOption('--nats <urls>', 'NATS servers').description('add a stream to the cluster (a worker with room takes it)')
  .action(async (id: string, uri: string, o: { nats: string }) => { await withCluster(o.nats, (b) => b.add(id, uri)); });
streamsCmd.command('rm').argument('<id>').requiredOption('--nats <urls>', 'NATS servers').description('remove a stream from the cluster (its worker stops it)')
  .action(async (id: string, o: { nats: string }) => { await withCluster(o.nats, (b) => b.remove(id)); });
streamsCmd.command('ls').requiredOption('--nats <urls>', 'NATS servers').option('--json', 'one JSON object per line').description('the streams, their owner, state and fps')
  .action(async (o: { nats: string; json?: boolean }) => {
    const rows = (await withCluster(o.nats, (b) => b.list())) as (StreamInfo & { owner: string })[];
    if (o.json) { for (const r of rows) process.stdout.write(JSON.stringify({ id: r.id, uri: r.uri, owner: r.owner, state: r.state, fps: r.fps }) + '\n'); return; }
    process.stdout.write(['id\turi\towner\tstate\tfps', ...rows.map((r) => `${r.id}\t${r.uri}\t${r.owner || '-'}\t${r.state}\t${r.fps}`)].join('\n') + '\n');
  });

try {
  await program.parseAsync(process.argv);
  // The command is done. A native call that cannot be interrupted (FFmpeg opening a camera that
  // never answers) must not keep the process alive past it: exit a second later at most.
  setTimeout(() => process.exit(), 1000).unref();
} catch (e) {
  if (isSluiceError(e)) {
    process.stderr.write(`error: ${e.format()}\n`);
    process.exitCode = 1;
    // The same second as on success: a failed run's leftovers (a worker's timer, a socket) must
    // not keep it alive either (an error while infer played took 31 s to exit).
    setTimeout(() => process.exit(), 1000).unref();
  } else {
    process.stderr.write(`internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    // Worker threads or sockets of a half-torn-down pipeline must not keep a crashed CLI alive.
    process.exit(2);
  }
}
