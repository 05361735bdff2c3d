// `sluice inspect`: generated from the element declarations, never written by hand.
import type { z } from 'zod';
import type { Registry } from '../core/registry.ts';
import { closest, Err } from '../core/errors.ts';
import { propDashed, propInfo } from '../core/props.ts';

export function inspectAll(reg: Registry): string {
  const defs = reg.all();
  const w = Math.max(...defs.map((d) => d.name.length));
  const origin = (d: { name: string }) => { const o = reg.originOf(d.name); return o && o !== 'builtin' ? `  [plugin ${o}]` : ''; };
  return defs.map((d) => `${d.name.padEnd(w)}  ${d.kind.padEnd(6)}  ${d.summary}${origin(d)}`).join('\n') + `\n\n${defs.length} elements; \`sluice inspect NAME\` for details`;
}

export function inspectOne(reg: Registry, name: string): string {
  const d = reg.get(name);
  if (!d) {
    const hint = closest(name, reg.names());
    throw new Err.NO_ELEMENT(`no element named "${name}"${hint ? `; did you mean "${hint}"?` : ''}`);
  }
  const from = reg.originOf(name);
  const out: string[] = [`${d.name} (${d.kind}): ${d.summary}`, ...(from && from !== 'builtin' ? [`From plugin ${from}`] : []), ''];
  if (d.doc) out.push(d.doc, '');
  out.push('Pads:');
  for (const p of d.pads) out.push(`  ${p.direction.padEnd(4)} ${p.name.padEnd(8)} ${p.presence.padEnd(7)} ${p.caps.join(', ')}`);
  if (d.kind !== 'source') {
    // With default properties: what it reads of a frame's pixels, and whether views pass it (docs/writing-elements.md).
    const defaults = d.props.safeParse({});
    if (defaults.success) {
      const reads = d.pixels?.(defaults.data as never) ?? 'full';
      const passes = d.kind === 'filter' ? (d.passesPixels?.(defaults.data as never) ?? false) : null;
      out.push('', `Pixels: reads ${reads === 'none' ? 'none' : reads === 'view' ? 'views it asks for (requestView)' : 'full frames'}${passes === null ? '' : passes ? '; sends them on unchanged (views requested after it pass through)' : '; may edit or replace them (views requested after it stop here)'}`);
    }
  }
  out.push('', 'Properties:');
  const shape = d.props.shape as Record<string, z.ZodType>;
  const keys = Object.keys(shape);
  if (keys.length === 0) out.push('  (none)');
  for (const k of keys) {
    const info = propInfo(shape[k]!);
    const type = info ? (info.type === 'enum' ? info.values!.join('|') : info.type) : 'value';
    const range = info && (info.min !== undefined || info.max !== undefined) ? ` [${info.min ?? ''}..${info.max ?? ''}]` : '';
    out.push(`  ${propDashed(k)}: ${type}${range}, default ${JSON.stringify(info?.default)}`);
    if (info?.doc) out.push(`      ${info.doc}`);
  }
  out.push('  name: string', '      instance name, for references such as name. in launch strings');
  return out.join('\n');
}
