// A small JSON Schema (2020-12) checker for the keywords docs/events.schema.json uses: type,
// const, enum, required, properties, items, min/maxItems, minimum/maximum, minLength, pattern,
// allOf, if/then, $ref to #/$defs, format date-time. (No validator package is a dependency; this
// covers that schema, and refuses a keyword it does not know, so the schema cannot outgrow it.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.ts';

type Schema = Record<string, unknown>;
const KNOWN = new Set(['$schema', '$id', 'title', 'description', 'type', 'const', 'enum', 'required', 'properties', 'items', 'minItems', 'maxItems', 'minimum', 'maximum', 'minLength', 'pattern', 'allOf', 'if', 'then', '$ref', '$defs', 'format']);

export const EVENT_SCHEMA = JSON.parse(readFileSync(join(ROOT, 'docs', 'events.schema.json'), 'utf8')) as Schema;

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object': return !!v && typeof v === 'object' && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    default: throw new Error(`unknown type ${t}`);
  }
}

/** The errors of `v` against `s` (empty: valid). */
export function validate(v: unknown, s: Schema = EVENT_SCHEMA, root: Schema = EVENT_SCHEMA, at = '$'): string[] {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} is not checked by test/event-schema.ts`);
  if (s.$ref) {
    const name = String(s.$ref).replace('#/$defs/', '');
    return validate(v, (root.$defs as Record<string, Schema>)[name]!, root, at);
  }
  const errs: string[] = [];
  if (s.type && !typeOk(String(s.type), v)) return [`${at}: expected ${String(s.type)}, got ${JSON.stringify(v)}`];
  if ('const' in s && v !== s.const) errs.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !(s.enum as unknown[]).includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) errs.push(`${at}: ${v} < ${s.minimum}`);
    if (typeof s.maximum === 'number' && v > s.maximum) errs.push(`${at}: ${v} > ${s.maximum}`);
  }
  if (typeof v === 'string') {
    if (typeof s.minLength === 'number' && v.length < s.minLength) errs.push(`${at}: shorter than ${s.minLength}`);
    if (s.pattern && !new RegExp(String(s.pattern)).test(v)) errs.push(`${at}: does not match ${String(s.pattern)}`);
    if (s.format === 'date-time' && Number.isNaN(Date.parse(v))) errs.push(`${at}: not a date-time`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) errs.push(`${at}: fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) errs.push(`${at}: more than ${s.maxItems} items`);
    if (s.items) v.forEach((x, i) => errs.push(...validate(x, s.items as Schema, root, `${at}[${i}]`)));
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) errs.push(`${at}: missing ${r}`);
    for (const [k, sub] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) if (k in o) errs.push(...validate(o[k], sub, root, `${at}.${k}`));
  }
  for (const sub of (s.allOf as Schema[] | undefined) ?? []) errs.push(...validate(v, sub, root, at));
  if (s.if && validate(v, s.if as Schema, root, at).length === 0 && s.then) errs.push(...validate(v, s.then as Schema, root, at));
  return errs;
}
