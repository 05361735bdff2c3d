// RTP for H.264 (RFC 6184): access units split into NAL units, each sent as one packet when it
// fits, else as FU-A fragments; the marker bit ends an access unit; 90 kHz timestamps. Plus the
// SDP fmtp values (profile-level-id, sprop-parameter-sets) and RTCP sender reports (RFC 3550).

/** NAL units of an Annex B byte stream (start codes 00 00 01 / 00 00 00 01), without start codes. */
export function annexBNals(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  const n = buf.length;
  while (i + 2 < n) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) {
        // A 4-byte start code's leading zero belongs to it, not to the NAL before.
        let end = i;
        if (end > start && buf[end - 1] === 0) end--;
        if (end > start) out.push(buf.subarray(start, end));
      }
      i += 3;
      start = i;
    } else i++;
  }
  if (start >= 0 && start < n) out.push(buf.subarray(start));
  return out;
}

export const nalType = (nal: Uint8Array) => nal[0]! & 0x1f;
export const NAL = { IDR: 5, SPS: 7, PPS: 8, AUD: 9 } as const;

export interface RtpPacketizer {
  /** RTP packets (without any TCP framing) for one access unit. */
  packetize(nals: Uint8Array[], timestamp: number): Buffer[];
  readonly ssrc: number;
  /** Sequence number of the next packet. */
  readonly seq: number;
  packets: number;
  octets: number;
}

/** A packetizer for one client (its own sequence numbers and SSRC, as each RTP session has). */
export function h264Packetizer(mtu = 1400, payloadType = 96): RtpPacketizer {
  let seq = (Math.random() * 0x10000) | 0;
  const ssrc = (Math.random() * 0x100000000) >>> 0;
  const header = (marker: boolean, ts: number) => {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | payloadType;
    h.writeUInt16BE(seq, 2);
    seq = (seq + 1) & 0xffff;
    h.writeUInt32BE(ts >>> 0, 4);
    h.writeUInt32BE(ssrc, 8);
    return h;
  };
  const p: RtpPacketizer = {
    ssrc,
    get seq() { return seq; },
    packets: 0,
    octets: 0,
    packetize(nals, timestamp) {
      const out: Buffer[] = [];
      nals.forEach((nal, k) => {
        const last = k === nals.length - 1;
        if (nal.length <= mtu) {
          out.push(Buffer.concat([header(last, timestamp), nal]));
          return;
        }
        // FU-A: the NAL header's F/NRI bits in the indicator, its type in the FU header.
        const indicator = (nal[0]! & 0xe0) | 28;
        const type = nal[0]! & 0x1f;
        const body = nal.subarray(1);
        for (let off = 0; off < body.length; off += mtu - 2) {
          const chunk = body.subarray(off, Math.min(body.length, off + mtu - 2));
          const first = off === 0, end = off + chunk.length >= body.length;
          const fu = Buffer.from([indicator, (first ? 0x80 : 0) | (end ? 0x40 : 0) | type]);
          out.push(Buffer.concat([header(last && end, timestamp), fu, chunk]));
        }
      });
      p.packets += out.length;
      for (const b of out) p.octets += b.length - 12;
      return out;
    },
  };
  return p;
}

/** RTCP sender report: NTP and RTP time now, packets and octets sent. */
export function senderReport(p: RtpPacketizer, rtpTimestamp: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(p.ssrc, 4);
  const ms = Date.now() + 2208988800000; // NTP epoch 1900
  const sec = Math.floor(ms / 1000);
  b.writeUInt32BE(sec >>> 0, 8);
  b.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 0x100000000) >>> 0, 12);
  b.writeUInt32BE(rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(p.packets >>> 0, 20);
  b.writeUInt32BE(p.octets >>> 0, 24);
  return b;
}

/** SDP fmtp parameters from SPS and PPS. */
export function fmtp(sps: Uint8Array, pps: Uint8Array): string {
  const pli = Buffer.from(sps.subarray(1, 4)).toString('hex');
  return `packetization-mode=1;profile-level-id=${pli};sprop-parameter-sets=${Buffer.from(sps).toString('base64')},${Buffer.from(pps).toString('base64')}`;
}
