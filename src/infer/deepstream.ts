// DeepStream's nvinfer configuration files (GLib key files: [property], [class-attrs-all],
// [class-attrs-N]), read into infer properties so a DeepStream user's config runs as it is.
// Parsed by the `ini` package; values are quoted first, because key files separate lists with
// ';' (offsets=123.675;116.28;103.53), which plain INI takes for a comment. docs/from-deepstream.md
// maps every key.
import { parse } from 'ini';
import { dirname, resolve } from 'node:path';
import { Err } from '../core/errors.ts';

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
  'parse-bbox-func-name': 'box parsing is done by the adapter (adapter=...)',
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
  'custom-lib-path': 'custom C++ parsers cannot be loaded; pick the adapter= that reads the model\'s outputs, or write a plugin element (docs/writing-elements.md)',
};

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
export function readNvinferConfig(text: string, file: string): NvinferConfig {
  const ini = parseKeyFile(text);
  const p = ini.property;
  if (!p) throw new Err.YAML(`${file}: no [property] section; an nvinfer config starts with [property]`);
  const props: Record<string, unknown> = {};
  const warnings: string[] = [];
  const unknown: string[] = [];
  const here = (v: string) => resolve(dirname(resolve(file)), v);
  for (const [k, v] of Object.entries(p)) {
    switch (k) {
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
  for (const [sec, kv] of Object.entries(ini)) {
    if (sec === 'property') continue;
    const m = /^class-attrs-(all|\d+)$/.exec(sec);
    if (!m) { unknown.push(`[${sec}]`); continue; }
    for (const [k, v] of Object.entries(kv)) {
      if (m[1] !== 'all') { warnings.push(`[${sec}] ${k}: per-class settings are not supported; the [class-attrs-all] value applies to every class`); continue; }
      if (k === 'pre-cluster-threshold' || k === 'threshold') props.threshold = num(file, k, v);
      else if (k === 'nms-iou-threshold') props.nmsIou = num(file, k, v);
      else if (k === 'topk') props.candidates = num(file, k, v);
      else if (k === 'post-cluster-threshold' || k === 'eps' || k === 'group-threshold' || k === 'minBoxes' || k === 'dbscan-min-score') warnings.push(`[class-attrs-all] ${k}: only NMS clustering is done (nms-iou-threshold)`);
      else unknown.push(`[${sec}] ${k}`);
    }
  }
  if (unknown.length) warnings.push(`keys not known to nvinfer or Sluice, ignored: ${unknown.join(', ')}`);
  return { props, warnings };
}

/** Whether a config file is a DeepStream key file rather than YAML. */
export const isKeyFile = (text: string) => /^\s*\[property\]/m.test(text);
