// Sluice camera/display wire protocol (see docs/protocol.md): length-prefixed messages over TCP.
// Header, 28 bytes, big-endian:
//   0  magic "SLC1" (4)   4 version u8 (=1)   5 type u8   6 format u8   7 flags u8 (0)
//   8  seq u32            12 capture time f64 (ms since the Unix epoch, sender's clock)
//   20 width u16          22 height u16        24 payload length u32
// Types: 1 hello (payload: UTF-8 token, may be empty), 2 frame (payload: image bytes).
// Formats: 1 JPEG. The parser enforces limits and throws ProtocolError on anything else, and
// the server then drops that one connection.

export const MAGIC = 0x534c4331; // "SLC1"
export const VERSION = 1;
export const HEADER_BYTES = 28;
export const TYPE_HELLO = 1;
export const TYPE_FRAME = 2;
/** Server to client, just before it closes the connection: the reason (UTF-8), so clients can say why. */
export const TYPE_ERROR = 3;
export const FORMAT_JPEG = 1;

export interface Message { type: number; format: number; seq: number; ts: number; width: number; height: number; payload: Buffer }

export interface Limits {
  maxPayload: number; maxWidth: number; maxHeight: number;
  /** Largest message accepted before the hello has authenticated the connection (a token fits). */
  preAuthPayload: number;
  /** Milliseconds a new connection has to send its hello. */
  handshakeMs: number;
  /** Camera servers: milliseconds without data after which a connection is closed (0: never). */
  idleMs: number;
  /** Open connections in all, and from one address. */
  maxConnections: number;
  maxPerAddress: number;
}
export const DEFAULT_LIMITS: Limits = { maxPayload: 8 << 20, maxWidth: 8192, maxHeight: 8192, preAuthPayload: 4096, handshakeMs: 5000, idleMs: 30_000, maxConnections: 64, maxPerAddress: 8 };

/** The reason a server gives when its pipeline ended normally. */
export const END_OF_STREAM = 'end of stream';

export const errorMessage = (why: string) => encodeMessage({ type: TYPE_ERROR, format: 0, seq: 0, ts: Date.now(), width: 0, height: 0, payload: Buffer.from(why) });

export class ProtocolError extends Error {
  constructor(msg: string) { super(msg); this.name = 'ProtocolError'; }
}

export function encodeMessage(m: Omit<Message, 'payload'> & { payload: Uint8Array }): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(MAGIC, 0);
  h.writeUInt8(VERSION, 4);
  h.writeUInt8(m.type, 5);
  h.writeUInt8(m.format, 6);
  h.writeUInt8(0, 7);
  h.writeUInt32BE(m.seq >>> 0, 8);
  h.writeDoubleBE(m.ts, 12);
  h.writeUInt16BE(m.width, 20);
  h.writeUInt16BE(m.height, 22);
  h.writeUInt32BE(m.payload.length, 24);
  return Buffer.concat([h, m.payload]);
}

export const EMPTY = Buffer.alloc(0);

/** Incremental parser: feed TCP chunks, get whole messages. Memory is bounded by the limits. */
export class MessageParser {
  // A growable buffer: chunks are appended once (no quadratic re-concatenation of big frames).
  private data: Buffer = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;
  private limits: Limits;
  /** Largest payload taken now: limits.preAuthPayload until authorise(), then limits.maxPayload. */
  private maxPayload: number;
  constructor(limits: Limits = DEFAULT_LIMITS, opts: { preAuth?: boolean } = {}) {
    this.limits = limits;
    this.maxPayload = opts.preAuth ? limits.preAuthPayload : limits.maxPayload;
  }

  /** The hello was good: full-size messages from now on. */
  authorise(): void { this.maxPayload = this.limits.maxPayload; }

  /** Bytes buffered but not yet part of a whole message. */
  get pending(): number { return this.end - this.start; }

  push(chunk: Buffer): Message[] {
    if (this.end + chunk.length > this.data.length) {
      const live = this.end - this.start;
      const need = live + chunk.length;
      if (need > this.data.length) {
        const next = Buffer.alloc(Math.max(need, this.data.length * 2));
        this.data.copy(next, 0, this.start, this.end);
        this.data = next;
      } else {
        this.data.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = live;
    }
    chunk.copy(this.data, this.end);
    this.end += chunk.length;
    const out: Message[] = [];
    while (this.end - this.start >= HEADER_BYTES) {
      const b = this.data, o = this.start;
      if (b.readUInt32BE(o) !== MAGIC) throw new ProtocolError('bad magic: not a Sluice camera stream');
      if (b.readUInt8(o + 4) !== VERSION) throw new ProtocolError(`unsupported protocol version ${b.readUInt8(o + 4)} (this server speaks ${VERSION})`);
      const type = b.readUInt8(o + 5);
      if (type !== TYPE_HELLO && type !== TYPE_FRAME && type !== TYPE_ERROR) throw new ProtocolError(`unknown message type ${type}`);
      const len = b.readUInt32BE(o + 24);
      // Checked on the header: a declared 8 MiB hello is refused after 28 bytes, not buffered.
      if (len > this.maxPayload) throw new ProtocolError(this.maxPayload < this.limits.maxPayload ? `a ${len}-byte message before authentication (the hello takes at most ${this.maxPayload})` : `payload of ${len} bytes exceeds the ${this.maxPayload}-byte limit`);
      const width = b.readUInt16BE(o + 20), height = b.readUInt16BE(o + 22);
      if (type === TYPE_FRAME && (width === 0 || height === 0 || width > this.limits.maxWidth || height > this.limits.maxHeight)) throw new ProtocolError(`frame size ${width}x${height} is out of range`);
      if (this.end - o < HEADER_BYTES + len) break;
      out.push({ type, format: b.readUInt8(o + 5 + 1), seq: b.readUInt32BE(o + 8), ts: b.readDoubleBE(o + 12), width, height, payload: ownCopy(b.subarray(o + HEADER_BYTES, o + HEADER_BYTES + len)) });
      this.start = o + HEADER_BYTES + len;
      // Before authentication one message at a time: what follows the hello in the same chunk
      // is judged by the limits that apply once the hello is accepted (push(EMPTY) again).
      if (this.maxPayload < this.limits.maxPayload) break;
    }
    if (this.start === this.end) { this.start = 0; this.end = 0; }
    // Shrink back after a large frame so an idle connection does not keep megabytes.
    if (this.end === 0 && this.data.length > 1 << 20) this.data = Buffer.alloc(64 * 1024);
    return out;
  }
}

/** A copy backed by its own ArrayBuffer (not Node's shared pool), so it can be transferred to a worker as is. */
function ownCopy(src: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(src.length);
  src.copy(out);
  return out;
}
