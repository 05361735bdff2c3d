// Per-address backoff after failed authentication, shared by every server that checks a secret
// (RTSP Basic/Digest, the netcam/display token, the serve API, --metrics), as fail2ban or
// nginx's limit_req do it in front of a login. A few wrong guesses are free (a user mistyping);
// after that the address is refused for a time that doubles with each further failure, up to a
// cap, and while refused even a right secret is turned away without being checked, so a guessing
// loop learns nothing and costs the server no hashing. An address is forgotten after a quiet
// spell, and the table is bounded, so a flood from many addresses cannot grow it without end.

export interface BackoffOptions {
  /** Failures allowed before an address is refused. */
  free?: number;
  /** The first refusal's length (ms); each further failure doubles it. */
  baseMs?: number;
  /** The longest refusal (ms). */
  maxMs?: number;
  /** An address with no failure for this long starts again from zero (ms). */
  forgetMs?: number;
  /** Addresses remembered at most (the least recently failing go first). */
  maxEntries?: number;
}

interface Entry { failures: number; until: number; last: number }

/**
 * The key an address is counted under: IPv4 (and IPv4-mapped IPv6) as is, IPv6 by its /64, the
 * block one host is usually given (so rotating through its own addresses does not reset the count).
 */
export function addressKey(addr: string): string {
  const a = addr.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!a.includes(':')) return a;
  const [head = '', tail = ''] = a.split('::');
  const h = head ? head.split(':') : [], t = tail ? tail.split(':') : [];
  const full = a.includes('::') ? [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return `${full.slice(0, 4).map((x) => x.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class AuthBackoff {
  private free: number;
  private baseMs: number;
  private maxMs: number;
  private forgetMs: number;
  private maxEntries: number;
  private entries = new Map<string, Entry>();
  /** Requests refused because their address was backing off (each server also counts its own reason). */
  refused = 0;

  constructor(o: BackoffOptions = {}) {
    this.free = o.free ?? Number(process.env.SLUICE_AUTH_FREE_FAILURES ?? 5);
    this.baseMs = o.baseMs ?? 1000;
    this.maxMs = o.maxMs ?? 60_000;
    this.forgetMs = o.forgetMs ?? 10 * 60_000;
    this.maxEntries = o.maxEntries ?? 10_000;
  }

  private entry(addr: string, now: number): Entry | undefined {
    const k = addressKey(addr);
    const e = this.entries.get(k);
    if (e && now - e.last > this.forgetMs && now >= e.until) { this.entries.delete(k); return undefined; }
    return e;
  }

  /**
   * Milliseconds `addr` must still wait before its secret is looked at (0: go ahead). Counted in
   * `refused` when not 0; the caller answers cheaply (no challenge, no hash) and closes.
   */
  blocked(addr: string, now = Date.now()): number {
    const e = this.entry(addr, now);
    const wait = e && e.until > now ? e.until - now : 0;
    if (wait) this.refused++;
    return wait;
  }

  /** A wrong or missing secret from `addr`. */
  failure(addr: string, now = Date.now()): void {
    const k = addressKey(addr);
    const e = this.entry(addr, now) ?? { failures: 0, until: 0, last: now };
    e.failures++;
    e.last = now;
    const over = e.failures - this.free;
    if (over > 0) e.until = now + Math.min(this.maxMs, this.baseMs * 2 ** Math.min(30, over - 1));
    // Most recent last: the oldest entry is the one evicted when the table is full.
    this.entries.delete(k);
    this.entries.set(k, e);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** A right secret from `addr`: its count starts again. */
  success(addr: string): void {
    this.entries.delete(addressKey(addr));
  }

  /** Addresses being tracked (for tests and describe()). */
  get size(): number { return this.entries.size; }
}

/** Seconds to put in Retry-After for a wait of `ms`. */
export const retryAfter = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/**
 * The credentials of an Authorization header for `scheme` (case-insensitive, RFC 7235 2.1:
 * "bearer TOKEN" is "Bearer TOKEN"), or null when the header uses another scheme or none.
 */
export function authCredentials(header: string | undefined, scheme: string): string | null {
  if (!header) return null;
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+(.*?))?\s*$/.exec(header);
  if (!m || m[1]!.toLowerCase() !== scheme.toLowerCase()) return null;
  return m[2] ?? '';
}

/** The token of `Authorization: Bearer TOKEN` (any case of "Bearer"), or '' when there is none. */
export const bearerToken = (header: string | undefined): string => authCredentials(header, 'bearer') ?? '';
