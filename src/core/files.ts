// Files elements read and write, declared by data (ElementDef.files) so the pipeline can refuse,
// before anything opens, an output that would overwrite an input or another output.
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { SluiceError, Err } from './errors.ts';

/** One spelling per file: symlinks and relative paths resolved as far as the path exists. */
export function canonicalPath(p: string): string {
  const abs = resolve(p.startsWith('file://') ? new URL(p).pathname : p);
  if (existsSync(abs)) return realpathSync(abs);
  const dir = dirname(abs);
  return existsSync(dir) ? resolve(realpathSync(dir), basename(abs)) : abs;
}

/** A local path (not rtsp://, http://...), as read by uri. */
export function isLocalPath(location: string): boolean {
  return location !== '' && (location.startsWith('file://') || !/^[a-z][a-z0-9+.-]*:\/\//i.test(location));
}

/**
 * The folder an output goes into must exist: a typo must not silently create /no/such/dir (as
 * root, anywhere). `create` (the element's create-dirs=true) makes it on purpose.
 */
export function ensureParentDir(file: string, create: boolean, who: string): void {
  const dir = dirname(resolve(file));
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new Err.IO(`${who}: ${dir} is not a directory`);
    return;
  }
  if (!create) throw new Err.IO(`${who}: directory ${dir} does not exist; create it, or set create-dirs=true to have it made`);
  mkdirSync(dir, { recursive: true });
}

/**
 * A module beside `base` (import.meta.url) by name without extension: .ts when running from the
 * TypeScript sources, .js in the built package (dist/), for worker threads' entry files.
 */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * The coded error for a failed write to `file` by `who`: a full disk (ENOSPC, FFmpeg's -28)
 * is SLUICE_ERR_NO_SPACE, anything else SLUICE_ERR_IO; both name the file.
 */
export function writeFailed(who: string, file: string, e: unknown, keeps = ''): SluiceError {
  const code = typeof e === 'number' ? e : (e as NodeJS.ErrnoException)?.code;
  const tail = keeps ? `; ${keeps}` : '';
  const head = who ? `${who}: ` : '';
  if (code === 'ENOSPC' || code === -28) return new Err.NO_SPACE(`${head}no space left on the device holding ${file}: free some space or write elsewhere${tail}`, { cause: e });
  const why = typeof e === 'number' ? `FFmpeg error ${e}` : ((e as Error)?.message ?? String(e));
  return new Err.IO(`${head}writing ${file} failed (${why})${tail}`, { cause: e });
}
