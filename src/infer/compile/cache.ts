// Compiled models cached by content: sha256 of the source model, the options and the compiler
// version name the entry, so a changed model or option rebuilds and nothing else does. Each
// entry carries the sha256 of its own bytes; one that does not match (torn write, disk fault)
// is rebuilt with a warning.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { COMPILER_VERSION, compileModel, type CompileOptions, type CompiledInfo } from './compile.ts';

export function cacheDir(): string {
  if (process.env.SLUICE_CACHE_DIR) return process.env.SLUICE_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sluice');
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface Cached { path: string; info: CompiledInfo; warnings: string[]; cached: boolean; ms: number }

interface Entry { sha256: string; info: CompiledInfo; warnings: string[]; source: string }

/** `bytes`: the model file already read (infer reads it for its tensors), so it is read once. */
export async function compileCached(modelPath: string, o: CompileOptions, opts: { dir?: string; bytes?: Uint8Array } = {}): Promise<Cached> {
  const t0 = performance.now();
  const dir = opts.dir ?? join(cacheDir(), 'compiled');
  const src = opts.bytes ?? readFileSync(modelPath);
  const key = sha(JSON.stringify({ v: COMPILER_VERSION, model: sha(src), o: { ...o, verify: undefined } })).slice(0, 32);
  const onnxPath = join(dir, `${key}.onnx`), metaPath = join(dir, `${key}.json`);
  const notes: string[] = [];
  if (existsSync(onnxPath) && existsSync(metaPath)) {
    try {
      const e = JSON.parse(readFileSync(metaPath, 'utf8')) as Entry;
      if (e.sha256 === sha(readFileSync(onnxPath))) return { path: onnxPath, info: e.info, warnings: e.warnings, cached: true, ms: performance.now() - t0 };
      notes.push(`cached compiled model ${onnxPath} is corrupt (checksum mismatch); rebuilt it`);
    } catch {
      notes.push(`cached compiled model ${metaPath} is unreadable; rebuilt it`);
    }
  }
  const r = await compileModel(src, o);
  mkdirSync(dir, { recursive: true });
  // Write then rename: a reader never sees half a model.
  const tmp = `${onnxPath}.${process.pid}.tmp`;
  writeFileSync(tmp, r.bytes);
  renameSync(tmp, onnxPath);
  const entry: Entry = { sha256: sha(r.bytes), info: r.info, warnings: r.warnings, source: modelPath };
  writeFileSync(`${metaPath}.${process.pid}.tmp`, JSON.stringify(entry, null, 1));
  renameSync(`${metaPath}.${process.pid}.tmp`, metaPath);
  return { path: onnxPath, info: r.info, warnings: [...notes, ...r.warnings], cached: false, ms: performance.now() - t0 };
}
