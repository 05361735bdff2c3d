// The module graph of src/ has no cycles (type-only imports included: a cycle of types still
// couples two files that should not know each other), and core/ imports nothing outside core/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a module (static `import`/`export ... from` and `import()` of literals). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out.map((s) => resolve(dirname(file), s)).filter((p) => p.startsWith(SRC) && p.endsWith('.ts'));
}

export function cycles(): string[][] {
  const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g].map((x) => relative(SRC, x)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('src/ has no import cycles', () => {
  assert.deepEqual(cycles(), []);
});

test('core/ imports only core/ (trace, media and the rest subscribe to it, not the reverse)', () => {
  const bad: string[] = [];
  for (const f of files(join(SRC, 'core'))) {
    for (const i of importsOf(f)) if (!i.startsWith(join(SRC, 'core'))) bad.push(`${relative(SRC, f)} -> ${relative(SRC, i)}`);
  }
  assert.deepEqual(bad, []);
});

test('every throw site in src/ raises a coded error through the catalogue (Err.X), not a bare Error', () => {
  const bare: string[] = [];
  for (const f of files(SRC)) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (/throw new (Error|TypeError|RangeError)\(/.test(line) || /new SluiceError\('SLUICE_ERR_/.test(line)) bare.push(`${relative(SRC, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(bare, []);
});
