// One catalogue of coded errors (as Fastify's FST_ERR_*): every failure a user can hit has a
// stable code and a message that says what to fix.
import { distance } from 'fastest-levenshtein';

export const ErrorCodes = {
  SLUICE_ERR_PARSE: 'launch string could not be parsed',
  SLUICE_ERR_NO_ELEMENT: 'no element of that name',
  SLUICE_ERR_PROPERTY: 'bad property',
  SLUICE_ERR_LINK: 'elements cannot be linked',
  SLUICE_ERR_CAPS: 'pad capabilities do not intersect',
  SLUICE_ERR_NOT_LINKED: 'a pad that must be linked is not',
  SLUICE_ERR_NO_REF: 'reference to an element name that does not exist',
  SLUICE_ERR_DUP_NAME: 'two elements share a name',
  SLUICE_ERR_YAML: 'pipeline file is invalid',
  SLUICE_ERR_FILE_NOT_FOUND: 'input file does not exist',
  SLUICE_ERR_MEDIA_OPEN: 'media could not be opened',
  SLUICE_ERR_TIMEOUT: 'a network source did not answer in time',
  SLUICE_ERR_STREAM_ENDED: 'a network source ended and is not reconnected',
  SLUICE_ERR_NO_VIDEO: 'input has no video stream',
  SLUICE_ERR_DECODE: 'decoding failed',
  SLUICE_ERR_NO_FRAMES: 'a file declares frames but none of them could be read',
  SLUICE_ERR_ENCODE: 'encoding failed',
  SLUICE_ERR_MUX: 'writing the output file failed',
  SLUICE_ERR_FORMAT: 'unsupported pixel format or size',
  SLUICE_ERR_STATE: 'invalid state change',
  SLUICE_ERR_ELEMENT: 'an element failed while running',
  SLUICE_ERR_IO: 'reading or writing a file failed',
  SLUICE_ERR_NO_SPACE: 'the disk (or device) an output is written to is full',
  SLUICE_ERR_MODEL: 'the model cannot be loaded or does not fit the adapter',
  SLUICE_ERR_EP: 'the execution provider is not available',
  SLUICE_ERR_LABELS: 'the labels file does not fit the model',
  SLUICE_ERR_INFER: 'inference failed',
  SLUICE_ERR_PLUGIN: 'a plugin could not be loaded',
  SLUICE_ERR_SAME_FILE: 'an output would overwrite an input or another output',
  SLUICE_ERR_API_BODY: 'a service API request is malformed',
  SLUICE_ERR_AUTH: 'a request has no token or the wrong one',
  SLUICE_ERR_NOT_FOUND: 'no stream with that id',
  SLUICE_ERR_CONFLICT: 'a stream with that id already exists',
  SLUICE_ERR_API_TOO_LARGE: 'a service API request body is over the size limit',
  SLUICE_ERR_TOKEN_FILE: 'the token file is missing, empty or unreadable',
  SLUICE_ERR_STATE_LOCKED: 'another process holds the state file',
  SLUICE_ERR_STATE_FILE: 'the state file does not have the expected shape',
  SLUICE_ERR_SOURCE_DENIED: 'the source is not allowed for streams of this service',
  SLUICE_ERR_LIVE_OFF: 'this service has no live view (no live: in its serve file)',
  SLUICE_ERR_LIVE: 'the live view of a stream cannot start',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  /** Extra lines shown under the message (e.g. the launch line with a caret). */
  readonly detail: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { detail?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.detail = opts.detail;
  }
  /** The full human text: code, message and detail. */
  format(): string {
    return `${this.code}: ${this.message}${this.detail ? `\n${this.detail}` : ''}`;
  }
}

type Short<C> = C extends `SLUICE_ERR_${infer N}` ? N : never;
export type CodedError = new (message: string, opts?: { detail?: string; cause?: unknown }) => SluiceError;

/**
 * One constructor per code (as Fastify's createError): `throw new Err.PROPERTY('...')` makes a
 * SluiceError whose code cannot be mistyped, and `e instanceof Err.PROPERTY` tells them apart.
 * The message is the site's own (what to fix there); the catalogue above says what the code means.
 */
export const Err = Object.fromEntries((Object.keys(ErrorCodes) as ErrorCode[]).map((code) => {
  const ctor = class extends SluiceError {
    constructor(message: string, opts: { detail?: string; cause?: unknown } = {}) { super(code, message, opts); }
  };
  Object.defineProperty(ctor, 'name', { value: code });
  return [code.slice('SLUICE_ERR_'.length), ctor];
})) as unknown as { readonly [K in ErrorCode as Short<K>]: CodedError };

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}

/** Print `text` with a caret under column `col` (1-based) and a message. */
export function caretAt(text: string, col: number, width = 1): string {
  const pad = ' '.repeat(Math.max(0, col - 1));
  return `  ${text}\n  ${pad}${'^'.repeat(Math.max(1, width))}`;
}

/** Closest candidate by edit distance, for "did you mean" hints. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) { bestD = d; best = c; }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

