// Plugins: ES modules (.ts or .js) whose default export is an element made with defineElement,
// or an array of them, loaded by `sluice --plugin FILE` and from SLUICE_PLUGIN_PATH (files or
// folders, separated by ':' as GST_PLUGIN_PATH is), into the same registry as the built-ins.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineElement, type ElementDef } from './core/element.ts';
import type { Registry } from './core/registry.ts';
import { Err } from './core/errors.ts';
import { siblingModule } from './core/files.ts';
import * as nodeModule from 'node:module';

const EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.mts']);

/**
 * Why `x` is not an element declaration (the field missing or wrong), or null when it is one.
 * `props` may be left out: an element without properties gets the empty schema.
 */
function notAnElement(x: unknown): string | null {
  if (!x || typeof x !== 'object') return `got ${x === null ? 'null' : typeof x}`;
  const d = x as Partial<ElementDef>;
  if (typeof d.name !== 'string' || !d.name) return 'its "name" must be a non-empty string (the name launch lines use)';
  if (typeof d.create !== 'function') return `element "${d.name}": its "create" must be a function (props, ctx) returning { start?, process | produce, flush?, stop? }; got ${typeof d.create}`;
  if (!Array.isArray(d.pads)) return `element "${d.name}": its "pads" must be an array of pad templates (e.g. [sinkPad(), srcPad()]); got ${typeof d.pads}`;
  if (d.props !== undefined && typeof (d.props as { safeParse?: unknown } | null)?.safeParse !== 'function') return `element "${d.name}": its "props" must be a zod object (z.object({...})), or left out for no properties; got ${d.props === null ? 'null' : typeof d.props}`;
  return null;
}

let selfHooked = false;
/**
 * A plugin's `import ... from 'sluice'` resolves to the Sluice that is running (its sources in a
 * clone, dist/ when installed), wherever the plugin lives: a second copy would have a registry
 * of its own, and a plugin folder need not have node_modules at all.
 */
function resolveSelf(): void {
  if (selfHooked) return;
  selfHooked = true;
  const target = siblingModule(import.meta.url, 'index').href;
  const m = nodeModule as typeof nodeModule & { registerHooks?: (h: { resolve: (s: string, c: unknown, next: (s: string, c: unknown) => unknown) => unknown }) => void };
  if (typeof m.registerHooks === 'function') {
    m.registerHooks({ resolve: (spec, ctx, next) => (spec === 'sluice' ? { url: target, shortCircuit: true } : next(spec, ctx)) });
  } else {
    // Node 20: the off-thread loader hooks.
    const src = `export async function resolve(s, c, next) { return s === 'sluice' ? { url: ${JSON.stringify(target)}, shortCircuit: true } : next(s, c); }`;
    m.register(`data:text/javascript,${encodeURIComponent(src)}`);
  }
}

/** Load one plugin module and register its elements; returns their names. */
export async function loadPlugin(file: string, reg: Registry): Promise<string[]> {
  const path = resolve(file);
  if (!existsSync(path)) throw new Err.PLUGIN(`plugin ${file} not found`);
  resolveSelf();
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(path).href) as { default?: unknown };
  } catch (e) {
    throw new Err.PLUGIN(`plugin ${file} failed to load: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const given = (Array.isArray(mod.default) ? mod.default : [mod.default]) as unknown[];
  const why = given.map(notAnElement);
  const bad = why.findIndex((w) => w !== null);
  if (given.length === 0 || bad >= 0) {
    throw new Err.PLUGIN(`plugin ${file}: its default export must be an element made with defineElement (or an array of them); ${given.length === 0 ? 'the array is empty' : `${why[bad]}${given.length > 1 ? ` (at index ${bad})` : ''}`}`);
  }
  // A plain declaration (not through defineElement) without props gets the same default.
  const defs = given.map((d) => defineElement(d as ElementDef));
  for (const d of defs) {
    const had = reg.originOf(d.name);
    if (had) throw new Err.PLUGIN(`plugin ${file} defines element "${d.name}", which ${had === 'builtin' ? 'is built in' : `${had} already defines`}; rename it`);
    reg.register(d, path);
  }
  return defs.map((d) => d.name);
}

/** The plugin files a SLUICE_PLUGIN_PATH value names: files as given, folders' modules in name order. */
export function pluginFiles(pathList: string | undefined): string[] {
  if (!pathList) return [];
  const out: string[] = [];
  for (const entry of pathList.split(delimiter).filter(Boolean)) {
    if (!existsSync(entry)) throw new Err.PLUGIN(`SLUICE_PLUGIN_PATH names ${entry}, which does not exist`);
    if (statSync(entry).isDirectory()) {
      for (const f of readdirSync(entry).sort()) if (EXTENSIONS.has(extname(f)) && !f.endsWith('.d.ts')) out.push(join(entry, f));
    } else out.push(entry);
  }
  return out;
}

/** Load SLUICE_PLUGIN_PATH, then the files given (--plugin), into `reg`. */
export async function loadPlugins(reg: Registry, files: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const names: string[] = [];
  for (const f of [...pluginFiles(env.SLUICE_PLUGIN_PATH), ...files]) names.push(...await loadPlugin(f, reg));
  return names;
}
