// `sluice doctor`'s Node section: the running Node against what Sluice and each installed runtime
// dependency declare (package.json `engines.node`), and the built-ins Sluice supplies itself.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFeatures } from '../node-compat.ts';

type Version = [number, number, number];

function parseVersion(v: string): Version | null {
  const m = /^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?/.exec(v.trim());
  if (!m) return null;
  const n = (s: string | undefined) => (s === undefined || /[xX*]/.test(s) ? NaN : Number(s));
  return [Number(m[1]), n(m[2]), n(m[3])];
}

const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** One comparator (`>=22.x`, `^20.3.0`, `~18.17`, `20`, `*`) against a version; null when not understood. */
function satisfiesOne(v: Version, c: string): boolean | null {
  if (c === '' || c === '*' || /^[xX]$/.test(c)) return true;
  const m = /^(>=|<=|>|<|=|\^|~)?\s*(v?\d[\w.*]*)$/.exec(c);
  if (!m) return null;
  const op = m[1] ?? '';
  const w = parseVersion(m[2]!);
  if (!w) return null;
  const partial = w.map((x) => (Number.isNaN(x) ? 0 : x)) as Version;
  const lo = partial;
  // The first version past a partial or caret/tilde range.
  const bump = (i: number): Version => { const r: Version = [...partial]; r[i]! += 1; for (let j = i + 1; j < 3; j++) r[j] = 0; return r; };
  const given = w.findIndex((x) => Number.isNaN(x));
  const hiPartial = given < 0 ? null : bump(given - 1);
  switch (op) {
    case '>=': return cmp(v, lo) >= 0;
    case '>': return hiPartial ? cmp(v, hiPartial) >= 0 : cmp(v, lo) > 0;
    case '<=': return hiPartial ? cmp(v, hiPartial) < 0 : cmp(v, lo) <= 0;
    case '<': return cmp(v, lo) < 0;
    case '^': return cmp(v, lo) >= 0 && cmp(v, bump(partial[0] > 0 || given === 1 ? 0 : partial[1] > 0 || given === 2 ? 1 : 2)) < 0;
    case '~': return cmp(v, lo) >= 0 && cmp(v, bump(given === 1 ? 0 : 1)) < 0;
    default: return cmp(v, lo) >= 0 && (hiPartial ? cmp(v, hiPartial) < 0 : cmp(v, lo) === 0);
  }
}

/** Does `version` satisfy an engines range (`a || b`, each a set of comparators)? null: not understood. */
export function satisfies(version: string, range: string): boolean | null {
  const v = parseVersion(version);
  if (!v || Number.isNaN(v[1]) || Number.isNaN(v[2])) return null;
  let unknown = false;
  for (const alt of range.split('||')) {
    // `>= 22.x` is written with a space after the operator.
    const parts = alt.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    const r = parts.map((p) => satisfiesOne(v, p));
    if (r.some((x) => x === null)) { unknown = true; continue; }
    if (r.every((x) => x)) return true;
  }
  return unknown ? null : false;
}

export interface EngineCheck { name: string; version: string; range: string; ok: boolean | null }

/** Sluice and every runtime dependency installed with it that declares `engines.node`. */
export function engineChecks(nodeVersion = process.version): EngineCheck[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== 'sluice') {
    const up = dirname(dir);
    if (up === dir) return [];
    dir = up;
  }
  const out: EngineCheck[] = [];
  const seen = new Set<string>();
  const visit = (pkgJson: string) => {
    if (seen.has(pkgJson)) return;
    seen.add(pkgJson);
    const p = JSON.parse(readFileSync(pkgJson, 'utf8')) as { name: string; version: string; engines?: { node?: string }; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    if (p.engines?.node) out.push({ name: p.name, version: p.version, range: p.engines.node, ok: satisfies(nodeVersion, p.engines.node) });
    const req = createRequire(pkgJson);
    for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
      // A package.json its exports do not list is still found beside the package's entry.
      let found: string | null = null;
      try { found = req.resolve(`${dep}/package.json`); } catch {
        for (let d = dirname(pkgJson); ; d = dirname(d)) {
          const c = join(d, 'node_modules', dep, 'package.json');
          if (existsSync(c)) { found = c; break; }
          if (dirname(d) === d) break;
        }
      }
      if (found) visit(found);
    }
  };
  visit(join(dir, 'package.json'));
  return out;
}

/** The doctor's lines about Node. */
export function nodeReport(nodeVersion = process.version): string[] {
  const checks = engineChecks(nodeVersion);
  const own = checks.find((c) => c.name === 'sluice');
  const lines = [`  ${nodeVersion}: ${own ? (own.ok === false ? `NOT SUPPORTED: sluice needs node ${own.range}` : `sluice needs node ${own.range}: ok`) : 'sluice\'s package.json not found'}`];
  for (const f of nodeFeatures) lines.push(`  ${f.name} (${f.neededBy}): ${f.native ? 'built in' : 'missing from this Node; Sluice supplies it'}`);
  const off = checks.filter((c) => c.name !== 'sluice' && c.ok !== true);
  for (const c of off) lines.push(`  ${c.name} ${c.version} declares node ${c.range}: ${c.ok === null ? 'range not understood' : 'this Node is older'}`);
  if (!off.length) lines.push(`  every installed dependency that declares a Node version (${checks.length - (own ? 1 : 0)}) accepts this one`);
  return lines;
}
