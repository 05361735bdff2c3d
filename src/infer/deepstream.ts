// DeepStream's nvinfer configuration files (GLib key files: [property], [class-attrs-all],
// [class-attrs-N]), read into infer properties so a DeepStream user's config runs as it is.
// Parsed by the `ini` package; values are quoted first, because key files separate lists with
// ';' (offsets=123.675;116.28;103.53), which plain INI takes for a comment. docs/from-deepstream.md
// maps every key.
import { parse } from 'ini';
import { dirname, resolve } from 'node:path';
import { Err } from '../core/errors.ts';
import { adapters } from './adapters/index.ts';

export interface NvinferConfig {
  /** infer properties (camelCase), paths resolved next to the file. */
  props: Record<string, unknown>;
  /** One line per key that was read but means nothing here, or is only partly honoured. */
  warnings: string[];
}

/** Keys with no meaning for onnxruntime (TensorRT engines, calibration, GPU placement); noted, not errors. */
const IGNORED: Record<string, string> = {
  'model-engine-file': 'TensorRT engines are not used; the ONNX file (onnx-file) is run by onnxruntime',
  'int8-calib-file': 'int8 calibration is TensorRT-only',
  'network-mode': 'precision: use infer precision=fp16 (network-mode=2 maps to it)',
  'workspace-size': 'a TensorRT builder setting',
  'gpu-id': 'mapped to gpu-id',
  'gie-unique-id': 'ids only matter between DeepStream elements; operate-on-gie-id needs nothing here',
  'operate-on-gie-id': 'the secondary infer takes the objects of the detector before it',
  'output-blob-names': 'outputs are found from the model by the adapter',
  'uff-input-blob-name': '',
  'force-implicit-batch-dim': 'batch handling comes from the model',
  'scaling-filter': 'frames are scaled bilinearly',
  'scaling-compute-hw': 'scaling runs in FFmpeg',
  'output-tensor-meta': 'tensors are decoded into objects; raw tensors are not attached',
  'network-type': 'mapped from the model by the adapter',
  'num-detected-classes': 'checked against the model by the adapter',
  'cluster-mode': 'NMS (cluster-mode=2) is what infer does; other modes run NMS too',
};

/** Keys that need what Sluice does not have: an error naming the key and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  'tlt-encoded-model': 'convert the .etlt model to ONNX and give it as onnx-file',
  'tlt-model-key': 'convert the .etlt model to ONNX and give it as onnx-file',
  'uff-file': 'convert the UFF model to ONNX and give it as onnx-file',
  'model-file': 'convert the Caffe model to ONNX and give it as onnx-file',
  'proto-file': 'convert the Caffe model to ONNX and give it as onnx-file',
  'custom-network-config': 'a Darknet .cfg/.weights network is built by the custom library; export it to ONNX (DeepStream-Yolo\'s utils/export_*.py) and give it as onnx-file',
};

/**
 * Box parsers of DeepStream-Yolo (libnvdsinfer_custom_impl_Yolo, the configs most DeepStream
 * users start from), each run by the adapter that reads the same tensors; the library itself
 * is never loaded.
 */
export const KNOWN_PARSERS: Record<string, { adapter: string; reads: string }> = {
  NvDsInferParseYolo: { adapter: 'deepstream-yolo', reads: 'output [B,N,6] x1,y1,x2,y2,score,class, or the older boxes (cx,cy,w,h), scores, classes' },
  NvDsInferParseYoloCuda: { adapter: 'deepstream-yolo', reads: 'output [B,N,6] x1,y1,x2,y2,score,class, or the older boxes (cx,cy,w,h), scores, classes' },
  NvDsInferParseYoloE: { adapter: 'deepstream-yolo-e', reads: 'boxes (x1,y1,x2,y2), scores, classes, or output [B,N,6]' },
  NvDsInferParseYoloECuda: { adapter: 'deepstream-yolo-e', reads: 'boxes (x1,y1,x2,y2), scores, classes, or output [B,N,6]' },
};

export interface NvinferOptions {
  /** The adapter given on the infer element itself: it wins over the file, and makes an unknown parser no error. */
  adapter?: string;
}

const num = (file: string, k: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Err.PROPERTY(`${file}: ${k}=${v} is not a number`);
  return n;
};

/** A GLib key file's sections (DeepStream's config format), every value a string. */
export function parseKeyFile(text: string): Record<string, Record<string, string>> {
  // Quote every value (after dropping an inline "# comment") so ';' lists survive the parser.
  const quoted = text.split(/\r?\n/).map((l) => {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(l);
    if (!m) return l;
    const v = m[2]!.replace(/\s+#.*$/, '').trim().replace(/^"(.*)"$/, '$1');
    return `${m[1]}="${v.replace(/"/g, '\\"')}"`;
  }).join('\n');
  return parse(quoted) as Record<string, Record<string, string>>;
}

/** Parse an nvinfer config file's text. */
export function readNvinferConfig(text: string, file: string, opts: NvinferOptions = {}): NvinferConfig {
  const ini = parseKeyFile(text);
  const p = ini.property;
  if (!p) throw new Err.YAML(`${file}: no [property] section; an nvinfer config starts with [property]`);
  const props: Record<string, unknown> = {};
  const warnings: string[] = [];
  const unknown: string[] = [];
  const here = (v: string) => resolve(dirname(resolve(file)), v);
  const custom: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    switch (k) {
      case 'custom-lib-path': case 'parse-bbox-func-name': case 'engine-create-func-name': custom[k] = v; break;
      case 'onnx-file': props.model = here(v); break;
      case 'labelfile-path': props.labels = here(v); break;
      case 'net-scale-factor': props.scale = num(file, k, v); break;
      // DeepStream: y = net-scale-factor * (x - offsets); infer: y = (x * scale - mean) / std.
      case 'offsets': props.offsets = v.split(';').filter(Boolean).map((x) => num(file, k, x)); break;
      case 'model-color-format': {
        const c = { 0: 'rgb', 1: 'bgr' }[num(file, k, v) as 0 | 1];
        if (!c) throw new Err.PROPERTY(`${file}: model-color-format=${v} (gray) is not supported; the models here take RGB (0) or BGR (1)`);
        props.channels = c;
        break;
      }
      case 'batch-size': props.batchSize = num(file, k, v); break;
      // DeepStream's interval is the frames skipped between inferences; infer's is "every Nth".
      case 'interval': props.interval = num(file, k, v) + 1; break;
      case 'process-mode': props.mode = num(file, k, v) === 2 ? 'secondary' : 'primary'; break;
      case 'operate-on-class-ids': props.onClass = v.split(';').filter(Boolean).join(','); break;
      case 'is-classifier': if (num(file, k, v) === 1) props.adapter = 'classify'; break;
      case 'classifier-threshold': props.threshold = num(file, k, v); break;
      case 'input-object-min-width':
      case 'input-object-min-height': props.minSize = Math.max(Number(props.minSize ?? 0), num(file, k, v)); break;
      case 'maintain-aspect-ratio': props.maintainAspect = num(file, k, v) === 1; break;
      case 'symmetric-padding': props.symmetric = num(file, k, v) === 1; break;
      case 'gpu-id': props.gpuId = num(file, k, v); break;
      case 'network-mode': if (num(file, k, v) === 2) props.precision = 'fp16'; warnings.push(`${k}=${v}: ${IGNORED[k]}`); break;
      case 'infer-dims': warnings.push(`infer-dims=${v}: the input size is read from the model (an ONNX file knows its dims)`); break;
      default:
        if (k in UNSUPPORTED) throw new Err.MODEL(`${file}: ${k} is not supported: ${UNSUPPORTED[k]}`);
        if (k in IGNORED) { if (IGNORED[k]) warnings.push(`${k}: ${IGNORED[k]}`); break; }
        unknown.push(k);
    }
  }
  customParser(custom, file, opts, props, warnings);
  // mean/std from offsets and scale: (x*s - s*o) / 1.
  if (props.offsets) {
    const s = Number(props.scale ?? 1);
    const o = props.offsets as number[];
    const three = o.length === 1 ? [o[0]!, o[0]!, o[0]!] : o;
    props.mean = three.map((x) => Math.round(x * s * 1e6) / 1e6).join(',');
    props.std = '1';
    delete props.offsets;
  } else if (props.scale !== undefined) { props.mean = '0'; props.std = '1'; }
  if (props.maintainAspect !== undefined) {
    props.letterbox = props.maintainAspect ? (props.symmetric ? 'center' : 'top-left') : 'none';
  }
  delete props.maintainAspect;
  delete props.symmetric;
  const perClass: string[] = [];
  for (const [sec, kv] of Object.entries(ini)) {
    if (sec === 'property') continue;
    const m = /^class-attrs-(all|\d+)$/.exec(sec);
    if (!m) { unknown.push(`[${sec}]`); continue; }
    for (const [k, v] of Object.entries(kv)) {
      if (m[1] !== 'all') {
        // A class's own threshold (nvinfer's perClassPreclusterThreshold); the rest is per run.
        if (k === 'pre-cluster-threshold' || k === 'threshold') perClass.push(`${m[1]}:${num(file, k, v)}`);
        else warnings.push(`[${sec}] ${k}: only pre-cluster-threshold is per class here; the [class-attrs-all] value applies to every class`);
        continue;
      }
      if (k === 'pre-cluster-threshold' || k === 'threshold') props.threshold = num(file, k, v);
      else if (k === 'nms-iou-threshold') props.nmsIou = num(file, k, v);
      else if (k === 'topk') props.candidates = num(file, k, v);
      else if (k === 'post-cluster-threshold' || k === 'eps' || k === 'group-threshold' || k === 'minBoxes' || k === 'dbscan-min-score') warnings.push(`[class-attrs-all] ${k}: only NMS clustering is done (nms-iou-threshold)`);
      else unknown.push(`[${sec}] ${k}`);
    }
  }
  if (perClass.length) props.classThresholds = perClass.join(',');
  if (unknown.length) warnings.push(`keys not known to nvinfer or Sluice, ignored: ${unknown.join(', ')}`);
  return { props, warnings };
}

/**
 * custom-lib-path / parse-bbox-func-name / engine-create-func-name: a parser DeepStream-Yolo ships
 * becomes the adapter reading the same tensors, said in one warning; an unknown one is an error
 * naming the adapters, unless the infer element names its own adapter.
 */
function customParser(c: Record<string, string>, file: string, opts: NvinferOptions, props: Record<string, unknown>, warnings: string[]): void {
  const lib = c['custom-lib-path'], fn = c['parse-bbox-func-name'], engine = c['engine-create-func-name'];
  if (lib === undefined && fn === undefined && engine === undefined) return;
  const known = fn ? KNOWN_PARSERS[fn] : undefined;
  const notLoaded = lib !== undefined ? `custom-lib-path=${lib} is not loaded (C++ libraries are not run here)` : '';
  const engineNote = engine ? `engine-create-func-name=${engine}: onnxruntime runs onnx-file, no engine is built` : '';
  let runs: string;
  if (opts.adapter && opts.adapter !== 'auto') {
    runs = `${fn ? `parse-bbox-func-name=${fn}: ` : ''}adapter=${opts.adapter} (given on the element) reads the outputs`;
  } else if (known) {
    props.adapter = known.adapter;
    runs = `parse-bbox-func-name=${fn} runs as adapter=${known.adapter}, which reads the same tensors (${known.reads})`;
  } else if (lib !== undefined) {
    const names = Object.keys(adapters).join(', ');
    const what = fn ? `parse-bbox-func-name=${fn} is not a parser Sluice knows (${Object.keys(KNOWN_PARSERS).join(', ')})` : 'no parse-bbox-func-name names its parser';
    throw new Err.MODEL(`${file}: custom-lib-path=${lib} cannot be loaded and ${what}; set infer adapter= to the one that reads the model's outputs (${names}), or write a plugin element (docs/writing-elements.md)`);
  } else {
    // A parser named without a library: nvinfer's built-in ones; the adapter reads the outputs.
    runs = fn ? `parse-bbox-func-name=${fn}: box parsing is done by the adapter (adapter=...)` : '';
  }
  warnings.push([notLoaded, runs, engineNote].filter(Boolean).join('; '));
}

/** Whether a config file is a DeepStream key file rather than YAML. */
export const isKeyFile = (text: string) => /^\s*\[property\]/m.test(text);
