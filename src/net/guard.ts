// What every HTTP server of Sluice applies before it looks at a request (the camera/display
// hub, --metrics, the serve API): connection caps in all and per address, timeouts for slow
// clients, and a Host allow list against DNS rebinding (a page on evil.example whose name
// resolves to 127.0.0.1 reaches a loopback server with a matching Origin).
import type { IncomingMessage, Server } from 'node:http';

export interface GuardOptions {
  /** The address the server binds (its own name is always allowed). */
  host: string;
  /** More Host names to accept ('*': any). */
  allowHosts?: string[];
  maxConnections?: number;
  maxPerAddress?: number;
  onReject?(reason: 'tooMany' | 'perAddress' | 'host'): void;
}

/** The host part of a Host header ("[::1]:8080" -> "::1", "localhost:80" -> "localhost"). */
export function hostName(h: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (m) return m[1]!.toLowerCase();
  return h.replace(/:\d+$/, '').toLowerCase();
}

export function allowedHosts(host: string, extra: string[] = []): Set<string> {
  return new Set(['localhost', '127.0.0.1', '::1', host.toLowerCase(), ...extra.map((h) => h.toLowerCase())]);
}

export function hostAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  return allowed.has('*') || allowed.has(hostName(req.headers.host ?? ''));
}

/**
 * Caps and timeouts on `server`; returns the Host check for its request handler. Connections
 * over a cap are closed as they arrive, before any request is read.
 */
export function guard(server: Server, o: GuardOptions): (req: IncomingMessage) => boolean {
  const perAddress = new Map<string, number>();
  let open = 0;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  server.on('connection', (s) => {
    const addr = s.remoteAddress ?? '';
    const n = perAddress.get(addr) ?? 0;
    if (open >= (o.maxConnections ?? 128)) { o.onReject?.('tooMany'); s.destroy(); return; }
    if (n >= (o.maxPerAddress ?? 32)) { o.onReject?.('perAddress'); s.destroy(); return; }
    open++;
    perAddress.set(addr, n + 1);
    s.once('close', () => {
      open--;
      const k = (perAddress.get(addr) ?? 1) - 1;
      if (k > 0) perAddress.set(addr, k); else perAddress.delete(addr);
    });
  });
  const allowed = allowedHosts(o.host, o.allowHosts);
  return (req) => {
    const ok = hostAllowed(req, allowed);
    if (!ok) o.onReject?.('host');
    return ok;
  };
}
