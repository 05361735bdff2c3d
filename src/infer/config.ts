// infer's configuration: the properties given in the pipeline merged with a config file (YAML
// of the same properties, or a DeepStream nvinfer config), and the property strings that need
// the model's labels to mean anything (classes=, class-thresholds=). Errors name the property
// and show the form it takes.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import { Err } from '../core/errors.ts';
import { propKey } from '../core/props.ts';
import { isKeyFile, readNvinferConfig } from './deepstream.ts';

/** The properties the merge reads itself (the rest pass through). */
export interface ConfigProps { config: string; adapter: string }

/**
 * Merge a config file into the given properties: what the file names fills what the pipeline
 * did not set; `parse` validates the file's values as the element's properties.
 */
export function applyConfig<O extends ConfigProps>(o: O, name: string, explicit: ReadonlySet<string>, warn: (m: string) => void, parse: (raw: Record<string, unknown>) => Record<string, unknown>): O {
  if (!o.config) return o;
  if (!existsSync(o.config)) throw new Err.FILE_NOT_FOUND(`${name}: config file not found: ${o.config}`);
  const text = readFileSync(o.config, 'utf8');
  let raw: Record<string, unknown>;
  if (isKeyFile(text)) {
    // A DeepStream nvinfer config ([property] onnx-file= net-scale-factor= ...).
    const ds = readNvinferConfig(text, o.config, { adapter: explicit.has('adapter') ? o.adapter : undefined });
    for (const w of ds.warnings) warn(`${o.config}: ${w}`);
    raw = ds.props;
  } else {
    try {
      raw = parseYamlText(text) as Record<string, unknown>;
    } catch (e) {
      throw new Err.YAML(`${o.config}: not YAML, nor a DeepStream nvinfer config ([property] ...): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!raw || typeof raw !== 'object') throw new Err.YAML(`${o.config}: expected a mapping of infer properties`);
  const fromFile = parse(raw);
  const merged = { ...o } as Record<string, unknown>;
  // What the file names fills what the pipeline did not set (an explicit ep=auto still wins
  // over the file's ep: cpu); paths resolve next to the file.
  for (const k of Object.keys(raw).map(propKey)) {
    if (explicit.has(k)) continue;
    const v = fromFile[k];
    merged[k] = (k === 'model' || k === 'labels') && typeof v === 'string' && v && !v.startsWith('/') && existsSync(resolve(dirname(o.config), v)) ? resolve(dirname(o.config), v) : v;
  }
  return merged as O;
}

/** mean=/std=: one number for every channel, or three. */
export function triple(s: string, what: string): [number, number, number] | null {
  if (!s) return null;
  const v = s.split(',').map(Number);
  if (v.length === 1 && Number.isFinite(v[0])) return [v[0]!, v[0]!, v[0]!];
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new Err.PROPERTY(`${what} must be one number or three comma-separated numbers (got "${s}")`);
  return v as [number, number, number];
}

/** A labels file, one class name per line. */
export function readLabels(file: string): string[] {
  if (!existsSync(file)) throw new Err.FILE_NOT_FOUND(`labels file not found: ${file}`);
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  while (lines.length && lines.at(-1)!.trim() === '') lines.pop();
  // ImageNet synset lines: "n01440764 tench, Tinca tinca" -> "tench".
  return lines.map((l) => (/^n\d{8} /.test(l) ? l.slice(10).split(',')[0]!.trim() : l.trim()));
}

/** classes=: ids or label names, to the set of class ids kept. */
export function parseClasses(s: string, labels: readonly string[] | undefined, name: string): Set<number> | null {
  if (!s) return null;
  return new Set(s.split(',').map((c) => {
    const t = c.trim();
    if (/^\d+$/.test(t)) return Number(t);
    const i = labels?.indexOf(t) ?? -1;
    if (i < 0) throw new Err.PROPERTY(`${name}: classes= names "${t}", which is not among the labels`);
    return i;
  }));
}

/** class-thresholds=: "CLASS:SCORE,..." with ids or label names, to minimum scores per class id. */
export function parseClassThresholds(s: string, labels: readonly string[] | undefined, name: string): Map<number, number> | null {
  if (!s) return null;
  const classMin = new Map<number, number>();
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(.+):\s*([0-9.]+)$/.exec(part);
    const cls = m ? (/^\d+$/.test(m[1]!.trim()) ? Number(m[1]) : labels?.indexOf(m[1]!.trim()) ?? -1) : -1;
    if (!m || !Number.isFinite(Number(m[2])) || cls < 0) {
      throw new Err.PROPERTY(`${name}: class-thresholds="${s}": "${part}" must be CLASS:SCORE with a class id or one of the labels, e.g. "2:0.6,person:0.4"`);
    }
    classMin.set(cls, Number(m[2]));
  }
  return classMin;
}
