// Low-latency HLS (RFC 8216bis: EXT-X-PART, blocking playlist reload, preload hints) of one
// mount of the live server: fMP4 segments that start at keyframes, each made of parts of
// `partMs` or so, in a rolling window of `window` segments held in memory (no files). Any HLS
// reader plays the segments (FFmpeg, Safari, hls.js); LL-HLS players take the parts as they come.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NAL, nalType } from './rtp.ts';
import { TIMESCALE, avccSample, avcCodecs, fragment, initSegment, type Sample } from './fmp4.ts';
import type { LiveMount, LiveServer } from './live.ts';

export interface HlsOptions {
  /** Target part and segment length (ms); a segment ends at the first keyframe past its target. */
  partMs: number;
  segmentMs: number;
  /** Complete segments kept. */
  window: number;
}

interface Part { data: Buffer; duration: number; independent: boolean }
interface Segment { msn: number; parts: Part[]; duration: number; done: boolean }

/** Requests waiting for a part or a playlist at once (blocking reload, preload hints). */
const MAX_WAITERS = 256;

export class HlsMount implements LiveMount {
  readonly kind = 'hls' as const;
  readonly name: string;
  private o: HlsOptions;
  private init: Buffer | null = null;
  private codecs = '';
  private size = { width: 0, height: 0 };
  private params: Uint8Array[] = [];
  private segments: Segment[] = [];
  private open: Segment | null = null;
  private nextMsn = 0;
  private samples: Sample[] = [];
  private pending: Sample | null = null;
  private fragSeq = 1;
  private waiters = new Set<() => void>();
  private frameTicks = 3000;
  readonly counts = { segments: 0, parts: 0, requests: 0, waitersRefused: 0 };

  constructor(name: string, o: HlsOptions) {
    this.name = name;
    this.o = o;
  }

  info(): Record<string, unknown> {
    return { playlist: `/hls/${encodeURIComponent(this.name)}/index.m3u8`, codecs: this.codecs, width: this.size.width, height: this.size.height, ready: this.segments.length > 0 };
  }

  /** The encoder's SPS/PPS (global header) and frame size. */
  seed(nals: Uint8Array[], width: number, height: number, rate: number): void {
    this.params = nals.filter((n) => nalType(n) === NAL.SPS || nalType(n) === NAL.PPS).map((n) => Buffer.from(n));
    this.size = { width, height };
    if (rate > 0) this.frameTicks = Math.round(TIMESCALE / rate);
    this.makeInit();
  }

  private makeInit(): void {
    const sps = this.params.find((n) => nalType(n) === NAL.SPS), pps = this.params.find((n) => nalType(n) === NAL.PPS);
    if (!sps || !pps || this.init) return;
    this.init = initSegment(sps, pps, this.size.width, this.size.height);
    this.codecs = avcCodecs(sps);
  }

  /** One access unit; dts/pts in seconds. */
  send(nals: Uint8Array[], dts: number, pts: number, key: boolean): void {
    if (!this.init) {
      // No global header: the first keyframe's in-band parameter sets.
      const inBand = nals.filter((n) => nalType(n) === NAL.SPS || nalType(n) === NAL.PPS);
      if (inBand.length) { this.params = inBand.map((n) => Buffer.from(n)); this.makeInit(); }
      if (!this.init) return;
    }
    if (!this.open && !key) return;
    const body = nals.filter((n) => { const t = nalType(n); return t !== NAL.AUD && t !== NAL.SPS && t !== NAL.PPS; });
    const d = Math.round(dts * TIMESCALE);
    const s: Sample = { data: avccSample(body), dts: d, duration: this.frameTicks, cts: Math.round(pts * TIMESCALE) - d, key };
    if (this.pending) {
      // A sample's duration is known when the next one comes.
      const p = this.pending;
      if (s.dts > p.dts) p.duration = s.dts - p.dts;
      this.samples.push(p);
    }
    this.pending = null;
    this.cut(key, s.dts);
    this.pending = s;
  }

  /** Ends the part (and at a keyframe past the target, the segment) before a sample at `dts`. */
  private cut(key: boolean, dts: number): void {
    const seg = this.open;
    const partTicks = (this.o.partMs / 1000) * TIMESCALE, segTicks = (this.o.segmentMs / 1000) * TIMESCALE;
    const inPart = this.samples.length ? dts - this.samples[0]!.dts : 0;
    const segLen = (seg ? seg.duration * TIMESCALE : 0) + inPart;
    const endSegment = key && (!seg || segLen >= segTicks * 0.999);
    if (this.samples.length && (endSegment || inPart >= partTicks * 0.999)) this.closePart();
    if (endSegment) {
      if (seg) this.closeSegment(seg);
      this.open = { msn: this.nextMsn++, parts: [], duration: 0, done: false };
    }
  }

  private closePart(): void {
    const seg = this.open;
    if (!seg || !this.samples.length) { this.samples = []; return; }
    const duration = this.samples.reduce((t, s) => t + s.duration, 0) / TIMESCALE;
    seg.parts.push({ data: fragment(this.fragSeq++, this.samples), duration, independent: this.samples[0]!.key });
    seg.duration += duration;
    this.samples = [];
    this.counts.parts++;
    this.wake();
  }

  private closeSegment(seg: Segment): void {
    seg.done = true;
    this.segments.push(seg);
    this.counts.segments++;
    while (this.segments.length > this.o.window) this.segments.shift();
    this.wake();
  }

  private wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** Waits until `ready()` or `ms` pass; false when too many wait already. */
  private waitFor(ready: () => boolean, ms: number, res: ServerResponse): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (this.waiters.size >= MAX_WAITERS) { this.counts.waitersRefused++; return Promise.resolve(false); }
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters.delete(check); resolve(ready()); }, ms);
      const check = () => {
        if (ready()) { clearTimeout(t); resolve(true); } else this.waiters.add(check);
      };
      this.waiters.add(check);
      res.once('close', () => { clearTimeout(t); this.waiters.delete(check); resolve(false); });
    });
  }

  private all(): Segment[] { return this.open ? [...this.segments, this.open] : this.segments; }

  private has(msn: number, part: number | null): boolean {
    const open = this.open;
    if (!open) return false;
    if (part === null) return open.msn > msn;
    return open.msn > msn || (open.msn === msn && open.parts.length > part);
  }

  playlist(q: string): string {
    const partTarget = this.o.partMs / 1000;
    const segs = this.segments;
    const target = Math.max(1, Math.ceil(Math.max(this.o.segmentMs / 1000, ...segs.map((s) => s.duration))));
    const out = [
      '#EXTM3U', '#EXT-X-VERSION:9', `#EXT-X-TARGETDURATION:${target}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(partTarget * 3).toFixed(3)}`,
      `#EXT-X-PART-INF:PART-TARGET=${partTarget.toFixed(3)}`,
      `#EXT-X-MEDIA-SEQUENCE:${segs[0]?.msn ?? this.open?.msn ?? 0}`,
      `#EXT-X-MAP:URI="init.mp4${q}"`,
    ];
    const withParts = new Set(this.all().slice(-4).map((s) => s.msn));
    for (const s of this.all()) {
      if (withParts.has(s.msn)) {
        s.parts.forEach((p, i) => out.push(`#EXT-X-PART:DURATION=${p.duration.toFixed(5)},URI="part${s.msn}.${i}.m4s${q}"${p.independent ? ',INDEPENDENT=YES' : ''}`));
      }
      if (s.done) out.push(`#EXTINF:${s.duration.toFixed(5)},`, `seg${s.msn}.m4s${q}`);
    }
    if (this.open) out.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part${this.open.msn}.${this.open.parts.length}.m4s${q}"`);
    return `${out.join('\n')}\n`;
  }

  handle(req: IncomingMessage, res: ServerResponse, rest: string[], url: URL, server: LiveServer): void {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') { server.reject('method'); res.writeHead(405, { allow: 'GET' }).end(); return; }
    this.counts.requests++;
    // The token travels in the URIs of the playlist when it came in the query (players that cannot set headers).
    const token = url.searchParams.get('token');
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    const file = rest.join('/');
    const wait = Math.max(3000, this.o.segmentMs * 3);
    const busy = () => { res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('too many waiting requests\n'); };
    if (file === 'index.m3u8') {
      const msn = url.searchParams.get('_HLS_msn'), part = url.searchParams.get('_HLS_part');
      const m = msn === null ? null : Number(msn), p = part === null ? null : Number(part);
      if ((m !== null && !(Number.isInteger(m) && m >= 0)) || (p !== null && !(Number.isInteger(p) && p >= 0)) || (p !== null && m === null)) {
        server.reject('badRequest');
        res.writeHead(400, { 'content-type': 'text/plain' }).end('_HLS_msn and _HLS_part are whole numbers, _HLS_part only with _HLS_msn\n');
        return;
      }
      // RFC 8216bis 6.2.5.2: more than two segments ahead is a client error.
      if (m !== null && m > (this.open?.msn ?? 0) + 2) { server.reject('badRequest'); res.writeHead(400).end(); return; }
      const send = () => {
        if (!this.open && !this.segments.length) { res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('no keyframe yet\n'); return; }
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'cache-control': 'no-cache' }).end(this.playlist(q));
      };
      if (m === null && this.segments.length) { send(); return; }
      // A first playlist (or a blocking reload) waits for what it asks: a complete segment to list, or the part named.
      void this.waitFor(() => (m === null ? this.segments.length > 0 : this.has(m, p)), wait, res).then((ok) => { if (!res.writableEnded && !res.destroyed) { if (!ok && this.waiters.size >= MAX_WAITERS) busy(); else send(); } });
      return;
    }
    if (file === 'init.mp4') {
      if (!this.init) { res.writeHead(503, { 'retry-after': '1' }).end(); return; }
      res.writeHead(200, { 'content-type': 'video/mp4', 'cache-control': 'max-age=3600' }).end(this.init);
      return;
    }
    const seg = /^seg(\d+)\.m4s$/.exec(file), part = /^part(\d+)\.(\d+)\.m4s$/.exec(file);
    if (seg) {
      const s = this.segments.find((x) => x.msn === Number(seg[1]));
      if (!s) { server.reject('notFound'); res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'video/iso.segment', 'cache-control': 'max-age=60' }).end(Buffer.concat(s.parts.map((x) => x.data)));
      return;
    }
    if (part) {
      const msn = Number(part[1]), i = Number(part[2]);
      const find = () => this.all().find((x) => x.msn === msn)?.parts[i];
      // The preload hint's part is answered once it exists (a request for the part after the newest).
      const next = this.open && ((msn === this.open.msn && i === this.open.parts.length) || (msn === this.open.msn + 1 && i === 0));
      if (!find() && !next) { server.reject('notFound'); res.writeHead(404).end(); return; }
      void this.waitFor(() => !!find(), wait, res).then((ok) => {
        if (res.writableEnded || res.destroyed) return;
        const x = find();
        if (!x) { if (!ok && this.waiters.size >= MAX_WAITERS) busy(); else res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-type': 'video/iso.segment', 'cache-control': 'max-age=60' }).end(x.data);
      });
      return;
    }
    server.reject('notFound');
    res.writeHead(404).end();
  }

  close(): void { this.wake(); }
}
