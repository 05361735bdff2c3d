// What a NATS failure means, in one place: by the error classes and JetStream API codes of
// nats.js (@nats-io/*), not by message text; text only where the library gives nothing else.
// No runtime import of @nats-io: the nats sink loads the client lazily, and these checks (used
// by its self-healing connection) must not load it for pipelines that never publish to NATS.

/**
 * JetStream API error codes (the server's `err_code`), as nats.js's JetStreamApiCodes names them
 * (test/nats-errors.test.ts checks they agree with the installed library).
 */
export const JS_CODES = {
  /** A conditional write (KV create/update, publish with an expected last sequence) lost its race. */
  StreamWrongLastSequence: 10071,
  StreamWrongLastSequenceUnknown: 10164,
  StreamNotFound: 10059,
  ConsumerNotFound: 10014,
  NoMessageFound: 10037,
  JetStreamNotEnabledForAccount: 10039,
} as const;

interface NatsLike { name?: string; message?: string; cause?: unknown; code?: unknown; isNoResponders?: () => boolean; apiError?: () => { err_code?: number; description?: string } }

/** `e` and the errors it wraps (a few levels of `cause`). */
function* causes(e: unknown): Generator<NatsLike> {
  for (let x = e as NatsLike | undefined, i = 0; x && typeof x === 'object' && i < 5; x = x.cause as NatsLike | undefined, i++) yield x;
}

/** The first JetStreamApiError in `e`'s chain (the server's answer to a JetStream request), by its shape: a numeric code and apiError(). */
function apiErrorOf(e: unknown): { code: number; description: string } | undefined {
  for (const x of causes(e)) {
    if (typeof x.apiError === 'function' && typeof x.code === 'number') return { code: x.code, description: x.apiError().description ?? x.message ?? '' };
  }
  return undefined;
}

/** The JetStream API error code (`err_code`) `e` carries, if the server answered with one. */
export function jsApiCode(e: unknown): number | undefined {
  return apiErrorOf(e)?.code;
}

/**
 * True when `e` (or an error it wraps) is NATS's "no responders": nothing takes the subject, or
 * no JetStream there (nats.js: RequestError whose cause is NoRespondersError, or JetStreamNotEnabled).
 */
export function isNoResponders(e: unknown): boolean {
  for (const x of causes(e)) {
    // NoRespondersError names itself "NoResponders".
    if (x.name === 'JetStreamNotEnabled' || x.name === 'NoResponders' || x.name === 'NoRespondersError' || (typeof x.isNoResponders === 'function' && x.isNoResponders())) return true;
  }
  return false;
}

/** True when `e` (or an error it wraps) is a request that got no answer in time (nats.js TimeoutError). */
export function isTimeout(e: unknown): boolean {
  for (const x of causes(e)) if (x.name === 'TimeoutError') return true;
  return false;
}

/**
 * True when a conditional write lost: the subject's last sequence was not the one expected (a KV
 * create of a key that exists, an update at a revision that is no longer the latest). By API code;
 * by the server's text only for an error that carries no code.
 */
export function isWrongLastSequence(e: unknown): boolean {
  const api = apiErrorOf(e);
  if (api) return api.code === JS_CODES.StreamWrongLastSequence || api.code === JS_CODES.StreamWrongLastSequenceUnknown;
  return /wrong last sequence|key exists/i.test((e as Error | undefined)?.message ?? '');
}

/**
 * For a wrong-last-sequence answer: the subject's actual last sequence, which the server gives
 * only in its description ("wrong last sequence: 5"); undefined for any other error.
 */
export function actualLastSequence(e: unknown): number | undefined {
  if (!isWrongLastSequence(e)) return undefined;
  const m = /wrong last sequence: (\d+)\b/.exec(apiErrorOf(e)?.description ?? (e as Error | undefined)?.message ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * A conditional write to a key the answering server (the stream's leader) holds no entry for:
 * "wrong last sequence: 0" (the key expired, or was never written there).
 */
export function isNoEntryForKey(e: unknown): boolean {
  return actualLastSequence(e) === 0;
}
