// The module graph of src/ has no cycles (type-only imports included: a cycle of types still
// couples two files that should not know each other), core/ imports nothing outside core/, and
// no layer imports one above it (LAYERS below).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

// The layers of src/, lowest first. A module may import its own directory and the layers its
// row names, never one above: the engine and the parts below elements/ stay usable (and
// testable) without the elements, and an element is wiring over them. docs/architecture.md
// shows the same order.
const LAYERS: Record<string, readonly string[]> = {
  core: [],
  meta: ['core'],
  // draw and media are one layer: planes are media's canvas, masks are drawn into AVFrames.
  draw: ['core', 'meta', 'media'],
  media: ['core', 'meta', 'draw'],
  infer: ['core', 'meta', 'media', 'draw'],
  track: ['core', 'meta'],
  net: ['core', 'meta'],
  trace: ['core', 'meta', 'net'],
  elements: ['core', 'meta', 'draw', 'media', 'infer', 'track', 'net', 'trace'],
  serve: ['core', 'meta', 'draw', 'media', 'infer', 'track', 'net', 'trace', 'elements', 'plugins.ts'],
  cli: ['core', 'meta', 'draw', 'media', 'infer', 'track', 'net', 'trace', 'elements', 'serve', 'plugins.ts', 'node-compat.ts', 'index.ts'],
  'plugins.ts': ['core'],
  'node-compat.ts': [],
  'index.ts': ['core', 'meta', 'draw', 'media', 'infer', 'track', 'net', 'trace', 'elements', 'serve', 'plugins.ts'],
};

/** The layer of a file under src/: its top directory, or the file itself at the top. */
const layerOf = (f: string) => relative(SRC, f).split(sep)[0]!;

export function layerViolations(): string[] {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    const from = layerOf(f);
    const may = LAYERS[from];
    if (!may) { bad.push(`${relative(SRC, f)}: src/${from} has no row in LAYERS (add it where it belongs)`); continue; }
    for (const i of importsOf(f)) {
      const to = layerOf(i);
      if (to !== from && !may.includes(to)) bad.push(`${relative(SRC, f)} -> ${relative(SRC, i)}`);
    }
  }
  return bad;
}

test('layers import only downward (core, meta, media/draw, infer/track/net, trace, elements, serve, cli/index)', () => {
  assert.deepEqual(layerViolations(), []);
});

test('nothing outside src/elements, src/cli, src/serve and src/index.ts imports src/elements/', () => {
  const allowed = new Set(['elements', 'cli', 'serve', 'index.ts']);
  const bad: string[] = [];
  for (const f of files(SRC)) {
    if (allowed.has(layerOf(f))) continue;
    for (const i of importsOf(f)) if (layerOf(i) === 'elements') bad.push(`${relative(SRC, f)} -> ${relative(SRC, i)}`);
  }
  assert.deepEqual(bad, []);
});

test('media/ and track/ import nothing from infer/ (the decoder and the tracker work without a model runtime)', () => {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    if (!['media', 'track'].includes(layerOf(f))) continue;
    for (const i of importsOf(f)) if (layerOf(i) === 'infer') bad.push(`${relative(SRC, f)} -> ${relative(SRC, i)}`);
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
