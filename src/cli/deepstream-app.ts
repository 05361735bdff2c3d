// deepstream-app configuration files ([application] [source0] [streammux] [primary-gie]
// [tracker] [osd] [tiled-display] [sink0] ...) turned into a Sluice launch line, so `sluice run
// deepstream_app_config.txt` runs a DeepStream user's app config. Each section maps onto the
// elements that do its job (docs/from-deepstream.md has the table); units are converted; keys
// that need what Sluice lacks are one warning or a coded error each, and unknown keys are listed.
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Err } from '../core/errors.ts';
import { parseKeyFile } from '../infer/deepstream.ts';

export interface AppConfig {
  /** The equivalent launch line. */
  launch: string;
  warnings: string[];
}

/** Whether a key file is a deepstream-app config (rather than an nvinfer one, or YAML). */
export const isDeepstreamApp = (text: string) => /^\s*\[(application|source\d+|streammux|primary-gie|sink\d+|tiled-display)\]/m.test(text);

/** Keys read but not honoured here, each with what happens instead (one warning per key). */
const NOTED: Record<string, string> = {
  'gpu-id': 'GPU placement is per source (uri gpu-id) and per model (the nvinfer config\'s gpu-id)',
  'nvbuf-memory-type': 'buffers live in CPU memory here',
  'cudadec-memtype': 'NVDEC frames are downloaded to CPU memory here',
  'enable-perf-measurement': 'the end-of-run table, --report and --progress measure every element',
  'perf-measurement-interval-sec': 'see --progress for periodic lines',
  'live-source': 'uri knows whether its input is live',
  'enable-padding': 'mux width/height always keep each stream\'s aspect ratio and pad (as enable-padding=1): stretched pictures cost detections',
  'attach-sys-ts-as-ntp': 'frames carry their stream timestamps',
  'model-engine-file': 'TensorRT engines are not used; the nvinfer config\'s onnx-file is run',
  'll-lib-file': 'Sluice\'s own SORT/ByteTrack tracker (track) runs instead of the low-level library',
  'll-config-file': 'tracker settings are track properties (docs/from-deepstream.md)',
  'tracker-width': 'the tracker works in stream pixels',
  'tracker-height': 'the tracker works in stream pixels',
  'display-tracking-id': 'osd shows track ids when track runs',
  'enable-batch-process': 'every stream is tracked',
  'enable-past-frame': 'not needed by track',
  'sync': 'sinks write as fast as frames come',
  'qos': 'no QoS events here',
  'profile': 'x264 picks the profile',
  'enc-type': 'encoding is libx264 on the CPU (no NVENC on Hopper anyway)',
  'iframeinterval': 'mapped to encode gop',
  'show-clock': 'osd has no clock; text= draws free text',
  'clock-x-offset': 'osd has no clock', 'clock-y-offset': 'osd has no clock', 'clock-text-size': 'osd has no clock', 'clock-color': 'osd has no clock',
  'font': 'osd draws with DejaVu Sans', 'text-color': 'osd picks text colour by contrast with its badge', 'text-bg-color': 'osd colours badges by class or track',
  'process-mode': 'osd draws on the CPU',
  'display-text': 'osd draws labels unless labels=false', 'display-bbox': 'osd always draws boxes', 'display-mask': 'osd blends masks unless masks=false',
  'square-seq-grid': 'tile picks its grid from the streams unless rows/columns are given',
  'drop-frame-interval': 'use a rate element after the source (rate fps=...)',
  'intra-decode-enable': 'every frame is decoded',
  'num-extra-surfaces': 'decoder buffers are FFmpeg\'s',
  'camera-id': 'streams are numbered in source order',
  'buffer-pool-size': 'buffers are FFmpeg\'s; queues bound memory',
  'config-file-path': 'not read',
  'labelfile-path': 'labels come from the nvinfer config',
};

const SUPPORTED = ['application', 'tiled-display', 'streammux', 'primary-gie', 'tracker', 'osd', 'tests'];

/** Read a deepstream-app config's text (paths resolve next to `file`). */
export function readDeepstreamApp(text: string, file: string): AppConfig {
  const ini = parseKeyFile(text);
  const warnings: string[] = [];
  const unknown: string[] = [];
  const noted = new Set<string>();
  const here = (v: string) => (isAbsolute(v) ? v : resolve(dirname(resolve(file)), v));
  const num = (sec: string, k: string, v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Err.PROPERTY(`${file}: [${sec}] ${k}=${v} is not a number`);
    return n;
  };
  const on = (sec: Record<string, string> | undefined) => !!sec && (sec.enable === undefined || sec.enable === '1');
  /** Mark keys as read; the rest are noted (once per key) or unknown. */
  const take = (name: string, sec: Record<string, string>, used: string[]) => {
    for (const k of Object.keys(sec)) {
      if (k === 'enable' || used.includes(k)) continue;
      if (k in NOTED) {
        // Once per key, in the first section that has it.
        if (!noted.has(k)) { noted.add(k); warnings.push(`[${name}] ${k}: ${NOTED[k]}`); }
        continue;
      }
      unknown.push(`[${name}] ${k}`);
    }
  };
  const loop = ini.tests?.['file-loop'] === '1';
  if (ini.tests) take('tests', ini.tests, ['file-loop']);
  if (ini.application) take('application', ini.application, []);

  // Sources: every enabled [sourceN], in number order; type 3 (MultiURI) repeats its uri.
  const sources: string[] = [];
  /** Per source (same index): the smart-record branch after it, if any. */
  const records: (string | null)[] = [];
  const sourceNames = Object.keys(ini).filter((s) => /^source\d+$/.test(s)).sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
  for (const name of sourceNames) {
    const s = ini[name]!;
    if (!on(s)) continue;
    const type = num(name, 'type', s.type ?? '2');
    if (type === 1 || type === 5) throw new Err.PROPERTY(`${file}: [${name}] type=${type} (${type === 1 ? 'V4L2 camera' : 'CSI camera'}) is not read by deepstream-app configs here; stream the camera with "sluice webcam-client" to a netcam element, or give a file/RTSP uri with type=2 or 4`);
    if (![2, 3, 4].includes(type)) throw new Err.PROPERTY(`${file}: [${name}] type=${type} is not a DeepStream source type (2 URI, 3 MultiURI, 4 RTSP)`);
    if (!s.uri) throw new Err.PROPERTY(`${file}: [${name}] needs uri=`);
    // file:///abs/path is a URL; file://rel/path (the samples write it) is next to the config file.
    const loc = s.uri.startsWith('file:///') ? fileURLToPath(s.uri) : s.uri.startsWith('file://') ? here(s.uri.slice(7)) : s.uri;
    const extra: string[] = [];
    if (s.latency !== undefined) extra.push(`latency=${num(name, 'latency', s.latency)}`);
    if (s['rtsp-reconnect-interval-sec'] !== undefined) extra.push(`reconnect-interval=${num(name, 'rtsp-reconnect-interval-sec', s['rtsp-reconnect-interval-sec']) * 1000}`);
    if (s['select-rtp-protocol'] !== undefined) extra.push(`protocols=${s['select-rtp-protocol'] === '4' ? 'tcp' : 'auto'}`);
    if (s['file-loop'] === '1' || loop) extra.push('loop=true');
    // The GPU whose NVDEC decodes this source (uri picks one round-robin when it is not given).
    if (s['gpu-id'] !== undefined) extra.push(`gpu-id=${num(name, 'gpu-id', s['gpu-id'])}`);
    const count = type === 3 ? Math.max(1, num(name, 'num-sources', s['num-sources'] ?? '1')) : 1;
    const rec = smartRecord(name, s, type === 4, (k, v) => num(name, k, v), here, warnings);
    for (let i = 0; i < count; i++) {
      sources.push([quote(loc), ...extra].join(' '));
      records.push(rec ? rec.branch(sources.length - 1) : null);
    }
    take(name, s, [...SR_KEYS, 'type', 'uri', 'num-sources', 'latency', 'rtsp-reconnect-interval-sec', 'select-rtp-protocol', 'file-loop', 'gpu-id']);
  }
  if (!sources.length) throw new Err.PROPERTY(`${file}: no enabled [sourceN] section with a uri`);
  const chain: string[] = [];

  const mux = ini.streammux ?? {};
  const muxProps: string[] = ['name=m'];
  if (mux['batch-size']) muxProps.push(`batch-size=${num('streammux', 'batch-size', mux['batch-size'])}`);
  // DeepStream's batched-push-timeout is in microseconds; mux timeout is milliseconds.
  if (mux['batched-push-timeout']) muxProps.push(`timeout=${num('streammux', 'batched-push-timeout', mux['batched-push-timeout']) / 1000}`);
  if (mux.width) muxProps.push(`width=${num('streammux', 'width', mux.width)}`);
  if (mux.height) muxProps.push(`height=${num('streammux', 'height', mux.height)}`);
  take('streammux', mux, ['batch-size', 'batched-push-timeout', 'width', 'height']);
  chain.push(`mux ${muxProps.join(' ')}`);

  const gie = (name: string, sec: Record<string, string>, secondary: boolean) => {
    if (!sec['config-file']) throw new Err.PROPERTY(`${file}: [${name}] needs config-file= (an nvinfer config with onnx-file=)`);
    const props = [`config=${quote(here(sec['config-file']))}`];
    if (secondary) props.push('mode=secondary');
    if (sec['batch-size'] && !secondary) props.push(`batch-size=${num(name, 'batch-size', sec['batch-size'])}`);
    if (sec.interval !== undefined) props.push(`interval=${num(name, 'interval', sec.interval) + 1}`);
    if (sec['operate-on-class-ids']) props.push(`on-class=${sec['operate-on-class-ids'].split(';').filter(Boolean).join(',')}`);
    const colours = Object.keys(sec).filter((k) => /^(bbox-border-color|bbox-bg-color)\d+$/.test(k));
    if (colours.length) warnings.push(`[${name}] ${colours.join(', ')}: osd colours each class itself`);
    take(name, sec, ['config-file', 'batch-size', 'interval', 'operate-on-class-ids', 'gie-unique-id', 'operate-on-gie-id', 'unique-id', ...colours]);
    chain.push(`infer ${props.join(' ')}`);
  };
  if (on(ini['primary-gie'])) gie('primary-gie', ini['primary-gie']!, false);
  else if (ini['primary-gie']) warnings.push('[primary-gie] is disabled: no detector runs');
  if (on(ini.tracker)) {
    take('tracker', ini.tracker!, []);
    chain.push('track');
  }
  for (const name of Object.keys(ini).filter((s) => /^secondary-gie\d+$/.test(s)).sort()) {
    if (on(ini[name])) gie(name, ini[name]!, true);
  }
  if (on(ini.osd)) {
    const o = ini.osd!;
    const props: string[] = [];
    if (o['border-width']) props.push(`thickness=${num('osd', 'border-width', o['border-width'])}`);
    if (o['text-size']) props.push(`font-size=${num('osd', 'text-size', o['text-size'])}`);
    take('osd', o, ['border-width', 'text-size']);
    chain.push(['osd', ...props].join(' '));
  }
  const tiled = ini['tiled-display'];
  if (on(tiled)) {
    const t = tiled!;
    const props: string[] = [];
    for (const [k, p] of [['rows', 'rows'], ['columns', 'cols'], ['width', 'width'], ['height', 'height']] as const) if (t[k]) props.push(`${p}=${num('tiled-display', k, t[k])}`);
    take('tiled-display', t, ['rows', 'columns', 'width', 'height']);
    chain.push(['tile', ...props].join(' '));
  } else if (sources.length > 1 && Object.keys(ini).some((s) => /^sink\d+$/.test(s) && on(ini[s]) && ['3', '4'].includes(ini[s]!.type ?? ''))) {
    warnings.push('[tiled-display] is off: frames of every stream go to the video sinks one after another (enable it to compose them)');
  }

  // Sinks: each enabled [sinkN]; several go through a tee.
  const sinks: string[] = [];
  for (const name of Object.keys(ini).filter((s) => /^sink\d+$/.test(s)).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))) {
    const s = ini[name]!;
    if (!on(s)) continue;
    const type = num(name, 'type', s.type ?? '1');
    const enc = () => {
      const e = ['encode'];
      if (s.codec && s.codec !== '1') warnings.push(`[${name}] codec=${s.codec}: only H.264 is encoded here (codec=1)`);
      if (s.bitrate) e.push(`bitrate=${num(name, 'bitrate', s.bitrate)}`);
      if (s.iframeinterval) e.push(`gop=${num(name, 'iframeinterval', s.iframeinterval)}`);
      return e;
    };
    const used = ['type', 'codec', 'bitrate', 'iframeinterval', 'source-id'];
    if (type === 1) sinks.push('fakesink');
    else if (type === 2 || type === 5) {
      warnings.push(`[${name}] type=${type} (on-screen display): there is no window here; frames go to a fakesink (use a display element and "sluice view" to watch)`);
      sinks.push('fakesink');
    } else if (type === 3) {
      if (!s['output-file']) throw new Err.PROPERTY(`${file}: [${name}] type=3 needs output-file=`);
      const container = s.container === '2' ? ' format=matroska' : '';
      sinks.push(`${enc().join(' ')} ! file location=${quote(here(s['output-file']))}${container} create-dirs=true`);
      used.push('output-file', 'container');
    } else if (type === 4) {
      // deepstream-app serves its RTSP output at rtsp://HOST:rtsp-port/ds-test.
      const e = enc();
      if (!s.iframeinterval) e.push('gop=30');
      sinks.push(`${e.join(' ')} tune=zerolatency ! rtsp port=${num(name, 'rtsp-port', s['rtsp-port'] ?? '8554')} mount=/ds-test`);
      used.push('rtsp-port', 'udp-port', 'udp-buffer-size');
    } else if (type === 6) {
      throw new Err.PROPERTY(`${file}: [${name}] type=6 (nvmsgbroker) is not read here; use a meta, mqtt, nats or redis element in a launch line or YAML pipeline (docs/serve.md)`);
    } else throw new Err.PROPERTY(`${file}: [${name}] type=${type} is not a DeepStream sink type (1 fakesink, 2 display, 3 file, 4 RTSP)`);
    if (s['source-id'] !== undefined) warnings.push(`[${name}] source-id: every stream goes to this sink`);
    take(name, s, used);
  }
  if (!sinks.length) sinks.push('fakesink');

  for (const sec of Object.keys(ini)) {
    if (SUPPORTED.includes(sec) || /^(source|sink|secondary-gie)\d+$/.test(sec)) continue;
    if (/^message-(converter|consumer)\d*$/.test(sec) || /^(pre-process|secondary-pre-process)\d*$/.test(sec) || sec === 'img-save' || sec === 'nvds-analytics' || sec === 'ds-example') {
      if (on(ini[sec])) warnings.push(`[${sec}] is not supported here and is skipped (analytics: the analytics element; metadata out: meta/mqtt/nats/redis)`);
      continue;
    }
    unknown.push(`[${sec}]`);
  }
  if (unknown.length) warnings.push(`keys not known to deepstream-app or Sluice, ignored: ${unknown.join(', ')}`);

  // A source with smart-record goes through a tee: one branch to mux, one to encode ! record.
  const srcs = sources.map((u, i) => (records[i] ? `uri location=${u} ! tee name=sr${i}  sr${i}. ! queue ! m.  sr${i}. ! ${records[i]}` : `uri location=${u} ! m.`)).join('  ');
  const body = chain.join(' ! ');
  const out = sinks.length === 1 ? `${body} ! ${sinks[0]}` : `${body} ! tee name=t  ${sinks.map((s) => `t. ! queue ! ${s}`).join('  ')}`;
  return { launch: `${srcs}  ${out}`, warnings };
}

/** deepstream-app's defaults for the smart-record keys (deepstream_config_file_parser). */
const SR_DEFAULTS = { cache: 20, defaultDuration: 20, interval: 10, startTime: 0, duration: 0 };
/** The bitrate the record branch encodes at: smart-rec-cache (seconds) becomes bytes through it. */
const SR_BITRATE = 4_000_000;
const SR_KEYS = ['smart-record', 'smart-rec-dir-path', 'smart-rec-file-prefix', 'smart-rec-cache', 'smart-rec-video-cache', 'smart-rec-start-time', 'smart-rec-duration', 'smart-rec-default-duration', 'smart-rec-interval', 'smart-rec-container'];

/**
 * [sourceN] smart-record: DeepStream records the source's own packets (before decode); Sluice's
 * record takes encoded packets after the decoder, so the branch re-encodes the source's frames
 * (x264 at SR_BITRATE, one keyframe a second at 30 fps so the pre-roll starts near its time).
 * smart-record=1 starts clips only on cloud messages: here POST /v1/streams/{id}/record (serve)
 * or triggerRecord() from code. smart-record=2 adds deepstream-app's local events: every
 * smart-rec-interval seconds a timer starts a recording, or stops the one still running, so a
 * recording lasts min(duration, interval) after its start and, when the timer had to stop one,
 * the next starts one interval later.
 */
function smartRecord(name: string, s: Record<string, string>, live: boolean, num: (k: string, v: string) => number, here: (v: string) => string, warnings: string[]) {
  const mode = s['smart-record'];
  if (mode === undefined || mode === '0') return null;
  if (mode !== '1' && mode !== '2') throw new Err.PROPERTY(`[${name}] smart-record=${mode}: DeepStream takes 0 (off), 1 (cloud messages) or 2 (cloud messages and local events)`);
  const val = (k: string, d: number) => {
    const v = s[k];
    if (v === undefined) return d;
    const n = num(k, v);
    if (n < 0) throw new Err.PROPERTY(`[${name}] ${k}=${v}: seconds must not be negative`);
    return n;
  };
  const cache = val('smart-rec-cache', val('smart-rec-video-cache', SR_DEFAULTS.cache));
  let pre = val('smart-rec-start-time', SR_DEFAULTS.startTime);
  // NvDsSRStart with duration 0 records until a stop, or smart-rec-default-duration.
  const duration = val('smart-rec-duration', SR_DEFAULTS.duration) || val('smart-rec-default-duration', SR_DEFAULTS.defaultDuration);
  const interval = val('smart-rec-interval', SR_DEFAULTS.interval);
  if (pre > cache) {
    warnings.push(`[${name}] smart-rec-start-time=${pre} is more than smart-rec-cache=${cache}: DeepStream cannot reach back further than its cache; pre-roll is ${cache} s`);
    pre = cache;
  }
  const props = [`location=${quote(here(s['smart-rec-dir-path'] ?? '.'))}`, `pre=${pre}`];
  if (mode === '2') {
    if (interval <= 0) throw new Err.PROPERTY(`[${name}] smart-rec-interval=${interval}: smart-record=2 needs an interval in seconds (above 0)`);
    const stopped = duration >= interval;
    props.push(`post=${stopped ? interval : duration}`, `every=${stopped ? 2 * interval : interval}`);
  } else {
    props.push(`post=${duration}`);
    warnings.push(`[${name}] smart-record=1: clips start on cloud messages only; here POST /v1/streams/{id}/record in sluice serve, or triggerRecord() from code`);
  }
  // The cache is seconds in DeepStream, bytes here: seconds x the branch's bitrate, doubled for
  // keyframes and rate-control overshoot (the ring itself holds only pre seconds).
  props.push(`cache-bytes=${Math.max(64 << 10, Math.ceil((cache * SR_BITRATE) / 8) * 2)}`);
  if (s['smart-rec-container'] === '1') warnings.push(`[${name}] smart-rec-container=1 (MKV): clips are fragmented MP4 here (a kill leaves a file that plays)`);
  const prefix = s['smart-rec-file-prefix'];
  return {
    // Live sources drop raw frames to the encoder rather than hold detection back.
    branch: (stream: number) => `queue${live ? ' leaky=oldest' : ''} ! encode bitrate=${SR_BITRATE} gop=30 ! record ${[...props, ...(prefix ? [`prefix=${quote(`${prefix}_${stream}`)}`] : [])].join(' ')}`,
  };
}

/** A launch-syntax value, quoted when it has spaces. */
const quote = (v: string) => (/\s/.test(v) ? `"${v}"` : v);
