// A NATS server can be left without the interest of a JetStream leader that lives on another
// server after a cluster node is lost: nats-server 2.9 (Debian's) then answers "no responders"
// to publishes and direct gets on that one server for minutes, while the rest of the cluster
// works (restarting a node cures it). A leader election lasts seconds, so a client that sees
// nothing but "no responders" for longer than that moves itself to another server of its list.
import type { NatsConnection } from '@nats-io/transport-node';
import { isNoResponders, isTimeout } from './nats-errors.ts';

export interface NatsHeal {
  /** A JetStream request went through. */
  ok(): void;
  /** A JetStream request failed; returns true when this failure made the client move server. */
  failed(e: unknown): boolean;
}

/**
 * Watch one connection's JetStream requests: after `afterMs` of "no responders" (or twice that
 * of requests timing out: longer than any election the cluster test saw) and no success,
 * reconnect (nats.js takes the next server of its pool), at most once per `afterMs`.
 */
export function natsHeal(nc: () => NatsConnection | null, o: { afterMs?: number; onMove?: (why: string) => void } = {}): NatsHeal {
  const after = o.afterMs ?? Number(process.env.SLUICE_NATS_HEAL_MS ?? 10_000);
  let since = 0;
  let timeouts = 0;
  let moved = 0;
  return {
    ok: () => { since = 0; timeouts = 0; },
    failed(e) {
      const now = Date.now();
      const deaf = isNoResponders(e);
      if (!deaf && !isTimeout(e)) return false;
      if (deaf && !since) since = now;
      if (!deaf && !timeouts) timeouts = now;
      const c = nc();
      const stuck = (since && now - since >= after) ? 'no responders' : (timeouts && now - timeouts >= 2 * after) ? 'every request timing out' : '';
      if (!c || c.isClosed() || !stuck || now - moved < after) return false;
      moved = now;
      since = 0;
      timeouts = 0;
      o.onMove?.(`${stuck} for JetStream on ${c.getServer()} for ${Math.round((stuck === 'no responders' ? after : 2 * after) / 1000)} s (no stream takes the subject there, or that server lost the cluster's interest or its way to the leader); moving to another server`);
      c.reconnect().catch(() => {});
      return true;
    },
  };
}
