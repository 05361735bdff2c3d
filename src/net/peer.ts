// A client connection as the camera/display servers see it, whatever transport carries it
// (TCP in servers.ts, WebSocket in web.ts): its own module so neither transport imports the other.

/**
 * One client connection, whatever carries it: a TCP socket speaking the length-prefixed
 * protocol, or a browser's WebSocket (one protocol message per WebSocket message).
 */
export interface Peer {
  /** Unique in this process; a browser's WebSocket is one Peer for its camera and its display. */
  readonly id: number;
  /** The remote address (wrong tokens are counted per address: auth-backoff.ts). */
  readonly address?: string;
  /** Set once this peer has sent camera frames: it then sees only the results of its own camera. */
  sendsCamera?: boolean;
  /** Queue one encoded protocol message. */
  send(msg: Buffer): void;
  /** Bytes queued and not yet written out (a slow viewer skips frames instead of buffering). */
  backlog(): number;
  close(why?: string): void;
}

let lastPeerId = 0;
/** A fresh Peer id (transports call it once per connection). */
export function newPeerId(): number { return ++lastPeerId; }

/** What a transport feeds a server: bytes from a peer, and the peer's end. */
export interface PeerHandler { data(chunk: Buffer): void; close(): void }
