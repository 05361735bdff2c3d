// WHEP (RFC 9725) mounts of the live server: a viewer POSTs an SDP offer to /whep/{mount} and
// gets 201 with the answer and a Location (its session); DELETE there ends it. ICE, DTLS and SRTP
// are werift's (pure TypeScript, maintained, already installed as node-av's WebRTC dependency:
// nothing native to build); the H.264 payload (RFC 6184: single NAL units and FU-A) is made here,
// once per access unit for every viewer. A viewer joins at a keyframe (SPS/PPS prepended); PLI and
// FIR ask the encoder for one (rate-limited); a viewer whose unsent backlog passes its cap skips to
// the next keyframe (counted) instead of growing; sessions that never connect, or go silent, are
// closed. Session ids are 128 random bits: no viewer can name another's session.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { RTCPeerConnection, RTCRtpSender } from 'werift';
import { Err } from '../core/errors.ts';
import { NAL, nalType } from './rtp.ts';
import { MAX_SDP, readBody, type LiveMount, type LiveServer } from './live.ts';

export interface WhepOptions {
  /** Viewers of this mount in all and from one address. */
  maxSessions: number;
  maxPerAddress: number;
  /** A session must connect (ICE + DTLS) within this long, and is closed after this long without RTCP from its viewer. */
  connectMs: number;
  idleMs: number;
  /** Bytes handed to a viewer's transport and not yet sent before it skips to the next keyframe. */
  backlogBytes: number;
  /** STUN/TURN servers (none by default: host candidates on loopback/LAN). */
  iceServers: { urls: string; username?: string; credential?: string }[];
  /** The address media is sent from: the server's own when it listens on one address. */
  iceAddress: string;
  icePortRange?: [number, number];
  /** Ask the encoder for a keyframe (PLI/FIR, a viewer joining or skipping). */
  requestKeyframe(): void;
}

interface Session {
  id: string;
  address: string;
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
  pt: number;
  connected: boolean;
  waitKey: boolean;
  seq: number;
  /** Bytes given to werift whose send has not completed. */
  backlog: number;
  lastRtcp: number;
  created: number;
  timer: NodeJS.Timeout;
  closed: boolean;
}

const MTU = 1200;

/** werift, imported when a webrtc sink starts (not by every CLI run). */
let W: typeof import('werift') | null = null;
export async function loadWebRtc(): Promise<void> { W ??= await import('werift'); }

/** The payload types of each H.264 format of a video m-line with packetization-mode=1, and the profile (first byte of profile-level-id). */
export function h264Offers(sdp: string): { pt: number; profile: number; rtx: number | null; fmtp: string }[] {
  const out: { pt: number; profile: number; rtx: number | null; fmtp: string }[] = [];
  const video = sdp.split(/\r?\nm=/).find((s) => s.startsWith('video') || s.startsWith('m=video'));
  if (!video) return out;
  const rtpmap = [...video.matchAll(/a=rtpmap:(\d+) H264\/90000/gi)].map((m) => Number(m[1]));
  for (const pt of rtpmap) {
    const f = new RegExp(`a=fmtp:${pt} ([^\\r\\n]*)`).exec(video)?.[1] ?? '';
    if (!/packetization-mode=1/.test(f)) continue;
    const pl = /profile-level-id=([0-9a-f]{6})/i.exec(f)?.[1] ?? '42e01f';
    const rtx = new RegExp(`a=fmtp:(\\d+) apt=${pt}(?:\\D|$)`).exec(video);
    out.push({ pt, profile: parseInt(pl.slice(0, 2), 16), rtx: rtx ? Number(rtx[1]) : null, fmtp: f });
  }
  return out;
}

/** The offer with its video m-line cut down to the payload types in `keep` (the answer then names only those). */
export function keepVideoPayloads(sdp: string, keep: number[]): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  let inVideo = false;
  const out: string[] = [];
  for (const l of lines) {
    if (l.startsWith('m=')) {
      inVideo = l.startsWith('m=video');
      if (inVideo) {
        const [m, port, proto] = l.split(' ');
        out.push([m, port, proto, ...keep].join(' '));
        continue;
      }
    }
    if (inVideo) {
      const pt = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
      if (pt && !keep.includes(Number(pt[1]))) continue;
    }
    out.push(l);
  }
  return out.join(eol);
}

/** Whether `text` looks like an SDP offer we can answer, before werift parses it: the reason when not. */
export function offerProblem(text: string): string | null {
  if (!text.startsWith('v=0')) return 'an SDP offer starts with "v=0"';
  if (!/\r?\nm=video /.test(text)) return 'the offer has no video m-line (add a recvonly video transceiver)';
  if (!/a=ice-ufrag:/.test(text) || !/a=ice-pwd:/.test(text)) return 'the offer has no ICE credentials (a=ice-ufrag/a=ice-pwd)';
  if (!/a=fingerprint:/.test(text)) return 'the offer has no DTLS fingerprint';
  if (!h264Offers(text).length) return 'the offer has no H.264 with packetization-mode=1 (this mount sends H.264)';
  return null;
}

/** RTP payloads of one access unit (RFC 6184: single NAL unit packets, FU-A past the MTU); the last one carries the marker. */
export function h264Payloads(nals: Uint8Array[], mtu = MTU): { payload: Buffer; marker: boolean }[] {
  const out: { payload: Buffer; marker: boolean }[] = [];
  nals.forEach((nal, k) => {
    const last = k === nals.length - 1;
    if (nal.length <= mtu) { out.push({ payload: Buffer.from(nal), marker: last }); return; }
    const indicator = (nal[0]! & 0xe0) | 28;
    const type = nal[0]! & 0x1f;
    const body = nal.subarray(1);
    for (let off = 0; off < body.length; off += mtu - 2) {
      const chunk = body.subarray(off, Math.min(body.length, off + mtu - 2));
      const first = off === 0, end = off + chunk.length >= body.length;
      const p = Buffer.allocUnsafe(chunk.length + 2);
      p[0] = indicator;
      p[1] = (first ? 0x80 : 0) | (end ? 0x40 : 0) | type;
      p.set(chunk, 2);
      out.push({ payload: p, marker: last && end });
    }
  });
  return out;
}

export class WhepMount implements LiveMount {
  readonly kind = 'webrtc' as const;
  readonly name: string;
  private o: WhepOptions;
  private sessions = new Map<string, Session>();
  private params: Uint8Array[] = [];
  private profile = 0x42;
  private lastKeyRequest = 0;
  private size = { width: 0, height: 0 };
  /** Counts for describe(). */
  readonly counts = { viewersServed: 0, viewerSkips: 0, keyframeRequests: 0, viewersTimedOut: 0, viewersIdle: 0, framesSent: 0 };
  private server: LiveServer | null = null;

  constructor(name: string, o: WhepOptions) {
    this.name = name;
    this.o = o;
  }

  get viewers(): number { return this.sessions.size; }
  get connectedViewers(): number { let n = 0; for (const s of this.sessions.values()) if (s.connected) n++; return n; }

  info(): Record<string, unknown> {
    return { whep: `/whep/${encodeURIComponent(this.name)}`, viewers: this.sessions.size, width: this.size.width, height: this.size.height };
  }

  /** Out-of-band SPS/PPS (the encoder's global header), sent before every keyframe that lacks them. */
  seed(nals: Uint8Array[], width: number, height: number): void {
    this.params = nals.filter((n) => nalType(n) === NAL.SPS || nalType(n) === NAL.PPS).map((n) => Buffer.from(n));
    const sps = this.params.find((n) => nalType(n) === NAL.SPS);
    if (sps) this.profile = sps[1]!;
    this.size = { width, height };
  }

  private keyframe(): void {
    // At most two a second whatever viewers ask (a PLI flood must not turn the stream into keyframes).
    const now = performance.now();
    if (now - this.lastKeyRequest < 500) return;
    this.lastKeyRequest = now;
    this.counts.keyframeRequests++;
    this.o.requestKeyframe();
  }

  /** One access unit to every connected viewer. Never waits. */
  send(nals: Uint8Array[], pts: number, key: boolean): void {
    if (!this.sessions.size) return;
    let au = nals.filter((n) => nalType(n) !== NAL.AUD);
    if (key && this.params.length && !au.some((n) => nalType(n) === NAL.SPS)) au = [...this.params, ...au];
    let payloads: { payload: Buffer; marker: boolean }[] | null = null;
    const ts = Math.round(pts * 90000) >>> 0;
    for (const s of this.sessions.values()) {
      if (!s.connected || s.closed) continue;
      if (s.backlog > this.o.backlogBytes) {
        // Its transport cannot take more: drop until a keyframe, as RTSP's slow clients do.
        if (!s.waitKey) { s.waitKey = true; this.counts.viewerSkips++; this.keyframe(); }
        continue;
      }
      if (s.waitKey) { if (!key) continue; s.waitKey = false; }
      payloads ??= h264Payloads(au);
      for (const p of payloads) {
        const header = new W!.RtpHeader({ payloadType: s.pt, sequenceNumber: s.seq, timestamp: ts, marker: p.marker });
        s.seq = (s.seq + 1) & 0xffff;
        const n = p.payload.length;
        s.backlog += n;
        s.sender.sendRtp(new W!.RtpPacket(header, p.payload)).then(() => { s.backlog -= n; }, () => { s.backlog -= n; });
      }
      this.counts.framesSent++;
    }
  }

  handle(req: IncomingMessage, res: ServerResponse, rest: string[], _url: URL, server: LiveServer): void {
    this.server = server;
    const cors = { 'access-control-expose-headers': 'location, etag' };
    if (rest.length === 0) {
      if (req.method === 'OPTIONS') { res.writeHead(204, { 'accept-post': 'application/sdp', allow: 'POST, OPTIONS' }).end(); return; }
      if (req.method !== 'POST') { server.reject('method'); req.resume(); res.writeHead(405, { allow: 'POST, OPTIONS' }).end(); return; }
      void this.offer(req, res, server, cors);
      return;
    }
    const s = rest.length === 1 ? this.sessions.get(rest[0]!) : undefined;
    req.resume();
    if (!s) {
      server.reject('sessionNotFound');
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such session\n');
      return;
    }
    if (req.method === 'DELETE') { this.end(s); res.writeHead(200).end(); return; }
    // Trickle ICE is not needed: the answer carries every candidate (RFC 9725 4.3.1 lets a server refuse PATCH).
    if (req.method === 'PATCH') { res.writeHead(405, { allow: 'DELETE' }).end(); return; }
    server.reject('method');
    res.writeHead(405, { allow: 'DELETE' }).end();
  }

  /** Offers being answered (body read, SDP negotiated): they hold a viewer's place until they end. */
  private pending = 0;
  private pendingBy = new Map<string, number>();

  private async offer(req: IncomingMessage, res: ServerResponse, server: LiveServer, cors: Record<string, string>): Promise<void> {
    const addr = req.socket.remoteAddress ?? '';
    // The caps count offers still being answered, so simultaneous ones cannot all get in.
    if (this.sessions.size + this.pending >= this.o.maxSessions) { req.resume(); server.reject('sessions'); res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end(`this mount has ${this.o.maxSessions} viewers already\n`); return; }
    this.pending++;
    this.pendingBy.set(addr, (this.pendingBy.get(addr) ?? 0) + 1);
    try {
      await this.answer(req, res, server, cors, addr);
    } finally {
      this.pending--;
      const k = (this.pendingBy.get(addr) ?? 1) - 1;
      if (k > 0) this.pendingBy.set(addr, k); else this.pendingBy.delete(addr);
    }
  }

  private async answer(req: IncomingMessage, res: ServerResponse, server: LiveServer, cors: Record<string, string>, addr: string): Promise<void> {
    const refuse = (status: number, reason: Parameters<LiveServer['reject']>[0], why: string, extra: Record<string, string> = {}) => {
      server.reject(reason);
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain', ...extra }).end(`${why}\n`);
    };
    // Caps before the body is read: a flood of offers costs a header each.
    // (This offer is counted in pending: the others are.)
    let mine = (this.pendingBy.get(addr) ?? 1) - 1;
    for (const s of this.sessions.values()) if (s.address === addr) mine++;
    if (mine >= this.o.maxPerAddress) { req.resume(); return refuse(429, 'sessionsPerAddress', `${addr} has ${this.o.maxPerAddress} viewers of this mount already; end one (DELETE its Location) first`, { 'retry-after': '5' }); }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/sdp') { req.resume(); return refuse(415, 'badSdp', 'send the offer as Content-Type: application/sdp'); }
    const body = await readBody(req, res, MAX_SDP, () => server.reject('tooLarge'));
    if (!body) return;
    const text = body.toString('utf8');
    const problem = offerProblem(text);
    if (problem) return refuse(400, 'badSdp', problem);
    // The H.264 format closest to what the encoder makes (same profile, else constrained baseline, else any).
    const offers = h264Offers(text);
    const pick = offers.find((x) => x.profile === this.profile) ?? offers.find((x) => x.profile === 0x42) ?? offers[0]!;
    const loopback = /^(127\.|::1$|localhost$)/.test(this.o.iceAddress);
    const any = this.o.iceAddress === '0.0.0.0' || this.o.iceAddress === '::';
    const pc = new W!.RTCPeerConnection({
      codecs: {
        video: [new W!.RTCRtpCodecParameters({
          mimeType: 'video/H264', clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
          parameters: pick.fmtp,
        })],
        audio: [new W!.RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      },
      iceServers: this.o.iceServers,
      icePortRange: this.o.icePortRange,
      // Media from the address the server listens on: loopback only by default, as its HTTP.
      iceInterfaceAddresses: any ? undefined : { udp4: this.o.iceAddress },
      iceAdditionalHostAddresses: loopback ? [this.o.iceAddress] : undefined,
      iceUseIpv6: false,
      bundlePolicy: 'max-bundle',
    } as never);
    const id = randomBytes(16).toString('hex');
    let session: Session | null = null;
    try {
      const t = pc.addTransceiver('video', { direction: 'sendonly' });
      // werift's ICE falls back to a public STUN server when none is configured (a request off
      // this machine, and a 5 s wait for its answer): none means none here.
      if (!this.o.iceServers.some((x) => x.urls.startsWith('stun:'))) {
        (t.dtlsTransport.iceTransport as unknown as { connection: { stunServer?: unknown } }).connection.stunServer = undefined;
      }
      await pc.setRemoteDescription({ type: 'offer', sdp: keepVideoPayloads(text, [pick.pt, ...(pick.rtx !== null ? [pick.rtx] : [])]) } as never);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      // No trickle: wait for the host candidates (there are no STUN round trips by default).
      const deadline = Date.now() + 3000;
      while (pc.iceGatheringState !== 'complete' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      let sdp = pc.localDescription?.sdp;
      if (!sdp) throw new Err.ELEMENT('the WebRTC stack made no answer');
      // Bound to one address, only its candidates can answer (werift lists every interface's).
      if (!any) sdp = sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || l.split(' ')[4] === this.o.iceAddress || / typ (srflx|relay)/.test(l)).join('\r\n');
      const now = performance.now();
      const s: Session = {
        id, address: addr, pc, sender: t.sender, pt: pick.pt, connected: false, waitKey: true,
        seq: (Math.random() * 0x10000) | 0, backlog: 0, lastRtcp: now, created: now, closed: false,
        timer: setInterval(() => this.watch(s), 1000),
      };
      session = s;
      s.timer.unref();
      this.sessions.set(id, s);
      t.sender.onPictureLossIndication.subscribe(() => this.keyframe());
      t.sender.onRtcp.subscribe((p) => {
        s.lastRtcp = performance.now();
        // FIR (RFC 5104: payload-specific feedback, FMT 4); werift hands PLI out itself.
        const pk = p as { type?: number; feedback?: { count?: number } };
        if (pk.type === 206 && pk.feedback?.count === 4) this.keyframe();
      });
      pc.connectionStateChange.subscribe((st) => {
        if (st === 'connected' && !s.connected) { s.connected = true; s.lastRtcp = performance.now(); this.counts.viewersServed++; this.lastKeyRequest = 0; this.keyframe(); }
        if (st === 'failed' || st === 'closed') this.end(s);
      });
      res.writeHead(201, {
        'content-type': 'application/sdp',
        location: `${server.prefix}/whep/${encodeURIComponent(this.name)}/${id}`,
        etag: `"${id.slice(0, 8)}"`,
        ...cors,
      }).end(sdp);
    } catch (e) {
      if (session) this.end(session); else void pc.close().catch(() => {});
      refuse(400, 'badSdp', `the offer cannot be answered: ${(e as Error).message}`);
    }
  }

  /** Once a second per session: one that never connected, or whose viewer went silent, is closed. */
  private watch(s: Session): void {
    const now = performance.now();
    if (!s.connected && now - s.created > this.o.connectMs) {
      this.counts.viewersTimedOut++;
      this.server?.reject('iceTimeout');
      this.end(s);
    } else if (s.connected && now - s.lastRtcp > this.o.idleMs) {
      this.counts.viewersIdle++;
      this.end(s);
    }
  }

  private end(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    clearInterval(s.timer);
    this.sessions.delete(s.id);
    void s.pc.close().catch(() => {});
  }

  close(): void {
    for (const s of [...this.sessions.values()]) this.end(s);
  }
}
