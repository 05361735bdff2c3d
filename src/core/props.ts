// Property schema helpers. Launch strings give every value as text; YAML and the API give
// typed values. These helpers accept both, and record type/default/doc for `sluice inspect`.
import { z } from 'zod';
import type { ElementDef } from './element.ts';
import { closest, Err } from './errors.ts';

export interface PropInfo {
  type: 'int' | 'number' | 'boolean' | 'string' | 'enum';
  default: unknown;
  doc: string;
  values?: readonly string[];
  min?: number;
  max?: number;
}

const infos = new WeakMap<z.ZodType, PropInfo>();
export function propInfo(schema: z.ZodType): PropInfo | undefined {
  return infos.get(schema);
}
function reg<T extends z.ZodType>(schema: T, info: PropInfo): T {
  infos.set(schema, info);
  return schema;
}

function toNumber(v: unknown): unknown {
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return v;
}

export const p = {
  int(def: number, doc: string, range: { min?: number; max?: number } = {}) {
    let s = z.number().int();
    if (range.min !== undefined) s = s.min(range.min);
    if (range.max !== undefined) s = s.max(range.max);
    return reg(z.preprocess(toNumber, s).default(def), { type: 'int', default: def, doc, ...range });
  },
  num(def: number, doc: string, range: { min?: number; max?: number } = {}) {
    let s = z.number();
    if (range.min !== undefined) s = s.min(range.min);
    if (range.max !== undefined) s = s.max(range.max);
    return reg(z.preprocess(toNumber, s).default(def), { type: 'number', default: def, doc, ...range });
  },
  bool(def: boolean, doc: string) {
    const s = z.preprocess((v) => {
      if (typeof v !== 'string') return v;
      const t = v.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(t)) return true;
      if (['false', 'no', '0', 'off'].includes(t)) return false;
      return v;
    }, z.boolean());
    return reg(s.default(def), { type: 'boolean', default: def, doc });
  },
  str(def: string, doc: string) {
    return reg(z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string()).default(def), { type: 'string', default: def, doc });
  },
  enum<const T extends readonly [string, ...string[]]>(values: T, def: T[number], doc: string, aliases: Record<string, T[number]> = {}) {
    const s = z.preprocess((v) => (typeof v === 'string' && v in aliases ? aliases[v] : v), z.enum(values));
    return reg(s.default(def as never), { type: 'enum', default: def, doc, values });
  },
};

/** launch/YAML spelling (num-frames, num_frames, numFrames) -> schema key (numFrames). */
export function propKey(name: string): string {
  return name.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
/** schema key -> launch spelling. */
export function propDashed(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Validate launch/YAML/API properties against the element's schema, with actionable errors. */
export function parseProps(def: ElementDef, raw: Record<string, unknown>): Record<string, unknown> {
  const shape = def.props.shape as Record<string, z.ZodType>;
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const key = propKey(k);
    if (!(key in shape)) {
      const names = Object.keys(shape).map(propDashed);
      const hint = closest(propDashed(key), names);
      throw new Err.PROPERTY(`${def.name} has no property "${k}"${hint ? `; did you mean "${hint}"?` : ''} (properties: ${names.join(', ') || 'none'})`, { cause: { property: k } });
    }
    input[key] = v;
  }
  const r = def.props.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const got = input[key];
    throw new Err.PROPERTY(`bad value ${JSON.stringify(got)} for property "${propDashed(key)}" of ${def.name}: ${describeIssue(issue)}`, { cause: { property: propDashed(key) } });
  }
  return r.data as Record<string, unknown>;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected === 'number' ? 'a number' : issue.expected === 'boolean' ? 'true or false' : issue.expected}`;
  if (issue.code === 'too_small') return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big') return `must be at most ${String(issue.maximum)}`;
  return issue.message;
}
