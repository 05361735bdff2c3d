// Where a server's or client's token comes from: the command line or a property, a file
// (--token-file, token-file=), or an environment variable. Tokens from a file or the
// environment never appear in printed URLs or pipeline descriptions (argv shows in `ps`; those
// do not).
import { readFileSync } from 'node:fs';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Err } from '../core/errors.ts';

export type TokenSource = 'given' | 'file' | 'env' | 'generated' | 'none';
export interface Token { token: string; source: TokenSource }

export function resolveToken(o: { token?: string; file?: string; env?: string; generate?: boolean }): Token {
  if (o.token) return { token: o.token, source: 'given' };
  if (o.file) {
    // A token file that was asked for but gives no token must stop the server: running open
    // because a file was empty or unreadable is how a service ends up without authentication.
    let t: string;
    try {
      t = readFileSync(o.file, 'utf8').trim();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read by this user' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? (e as Error).message})`;
      throw new Err.TOKEN_FILE(`token file ${o.file} ${why}; write the token into it (one line), or leave the option out`, { cause: e });
    }
    if (!t) throw new Err.TOKEN_FILE(`token file ${o.file} is empty; write the token into it (one line), or leave the option out`);
    return { token: t, source: 'file' };
  }
  const fromEnv = o.env ? process.env[o.env] : undefined;
  if (fromEnv) return { token: fromEnv, source: 'env' };
  // As Jupyter does: a server nobody asked to be open gets a random token, printed once.
  if (o.generate) return { token: randomBytes(16).toString('hex'), source: 'generated' };
  return { token: '', source: 'none' };
}

/** The token as it may be shown: in full only when the user typed it or it was just made. */
export const shownToken = (t: Token) => (t.source === 'given' || t.source === 'generated' ? t.token : '…');

/** Whether `given` is the token, in constant time; no token set means anyone may come in. */
export function tokenMatches(expected: string, given: string | Buffer): boolean {
  if (!expected) return true;
  const a = Buffer.from(expected), b = typeof given === 'string' ? Buffer.from(given) : given;
  return a.length === b.length && timingSafeEqual(a, b);
}
