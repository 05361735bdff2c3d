// Fragmented MP4 (ISO/IEC 14496-12, CMAF-style) for one H.264 track, as low-latency HLS wants it:
// an init segment (ftyp + moov with the avcC from SPS/PPS) and fragments (moof + mdat) of a few
// samples each, written here so that a fragment can be cut at any frame (a part) without a muxer
// round trip; FFmpeg's hls muxer writes files and has no LL-HLS parts.

const u8 = (...b: number[]) => Buffer.from(b);
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n | 0); return b; };
const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(Math.max(0, Math.round(n)))); return b; };

function box(type: string, ...parts: Buffer[]): Buffer {
  const len = 8 + parts.reduce((s, p) => s + p.length, 0);
  return Buffer.concat([u32(len), Buffer.from(type, 'latin1'), ...parts]);
}
const full = (type: string, version: number, flags: number, ...parts: Buffer[]) => box(type, u8(version, (flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff), ...parts);
const MATRIX = Buffer.concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);

export const TIMESCALE = 90000;

/** The RFC 6381 codecs string of an SPS ("avc1.64001f"). */
export const avcCodecs = (sps: Uint8Array) => `avc1.${Buffer.from(sps.subarray(1, 4)).toString('hex')}`;

/** ftyp + moov for one H.264 track of `width` x `height` (timescale 90 kHz). */
export function initSegment(sps: Uint8Array, pps: Uint8Array, width: number, height: number): Buffer {
  const ftyp = box('ftyp', Buffer.from('iso5', 'latin1'), u32(512), Buffer.from('iso5iso6avc1mp41', 'latin1'));
  const mvhd = full('mvhd', 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x10000), u16(0x100), Buffer.alloc(10), MATRIX, Buffer.alloc(24), u32(2));
  const tkhd = full('tkhd', 0, 3, u32(0), u32(0), u32(1), u32(0), u32(0), Buffer.alloc(8), u16(0), u16(0), u16(0), u16(0), MATRIX, u32(width << 16), u32(height << 16));
  const mdhd = full('mdhd', 0, 0, u32(0), u32(0), u32(TIMESCALE), u32(0), u16(0x55c4), u16(0));
  const hdlr = full('hdlr', 0, 0, u32(0), Buffer.from('vide', 'latin1'), Buffer.alloc(12), Buffer.from('VideoHandler\0', 'latin1'));
  const high = sps[1]! >= 100;
  const avcC = box('avcC', u8(1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1), u16(sps.length), Buffer.from(sps), u8(1), u16(pps.length), Buffer.from(pps),
    // High profiles carry chroma format and bit depths (4:2:0, 8 bits), no SPS extensions.
    ...(high ? [u8(0xfd, 0xf8, 0xf8, 0)] : []));
  const avc1 = box('avc1', Buffer.alloc(6), u16(1), u16(0), u16(0), Buffer.alloc(12), u16(width), u16(height), u32(0x480000), u32(0x480000), u32(0), u16(1), Buffer.alloc(32), u16(0x18), u16(0xffff), avcC);
  const stbl = box('stbl', full('stsd', 0, 0, u32(1), avc1), full('stts', 0, 0, u32(0)), full('stsc', 0, 0, u32(0)), full('stsz', 0, 0, u32(0), u32(0)), full('stco', 0, 0, u32(0)));
  const minf = box('minf', full('vmhd', 0, 1, Buffer.alloc(8)), box('dinf', full('dref', 0, 0, u32(1), full('url ', 0, 1))), stbl);
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, minf));
  const mvex = box('mvex', full('trex', 0, 0, u32(1), u32(1), u32(0), u32(0), u32(0)));
  return Buffer.concat([ftyp, box('moov', mvhd, trak, mvex)]);
}

export interface Sample {
  /** Length-prefixed NAL units (AVCC), 4-byte lengths. */
  data: Buffer;
  /** Decode time and duration in 1/90000 s; cts: presentation minus decode time. */
  dts: number;
  duration: number;
  cts: number;
  key: boolean;
}

/** NAL units (without start codes) as one AVCC sample. */
export function avccSample(nals: Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nals) { parts.push(u32(n.length), Buffer.from(n.buffer, n.byteOffset, n.byteLength)); }
  return Buffer.concat(parts);
}

/** moof + mdat of `samples` (decode order), fragment number `seq` (from 1). */
export function fragment(seq: number, samples: Sample[]): Buffer {
  const flags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
  const entries = samples.map((s) => Buffer.concat([u32(s.duration), u32(s.data.length), u32(s.key ? 0x02000000 : 0x01010000), i32(s.cts)]));
  const build = (offset: number) => box('moof',
    full('mfhd', 0, 0, u32(seq)),
    box('traf',
      full('tfhd', 0, 0x020000, u32(1)),
      full('tfdt', 1, 0, u64(samples[0]?.dts ?? 0)),
      full('trun', 1, flags, u32(samples.length), i32(offset), ...entries)));
  const size = build(0).length;
  const moof = build(size + 8);
  return Buffer.concat([moof, box('mdat', ...samples.map((s) => s.data))]);
}
