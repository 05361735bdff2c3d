// JPEG codec worker: decodes camera JPEGs to raw planes and encodes display frames to JPEG with
// FFmpeg's MJPEG codecs, off the main thread (the receive/send loops only move bytes).
import { parentPort } from 'node:worker_threads';
import { Codec, CodecContext, Frame, Packet } from 'node-av/lib';
import { AV_CODEC_ID_MJPEG, AV_CODEC_FLAG_QSCALE, AV_PIX_FMT_YUVJ420P, FF_QP2LAMBDA } from 'node-av/constants';
import { Log } from 'node-av/lib';
import { AV_LOG_QUIET } from 'node-av/constants';
import { Err } from '../core/errors.ts';

Log.setLevel(AV_LOG_QUIET);

export type JpegJob =
  | { op: 'decode'; jpeg: ArrayBuffer }
  | { op: 'encode'; width: number; height: number; planes: ArrayBuffer; quality: number };
export type JpegRequest = JpegJob & { id: number };

export type JpegResponse =
  | { id: number; ok: true; op: 'decode'; width: number; height: number; format: 'yuvj420p'; planes: ArrayBuffer }
  | { id: number; ok: true; op: 'encode'; jpeg: ArrayBuffer }
  | { id: number; ok: false; error: string };

let dec: CodecContext | null = null;
const encs = new Map<string, CodecContext>();
const frame = new Frame();
frame.alloc();
const packet = new Packet();
packet.alloc();

function decode(jpeg: Uint8Array): { width: number; height: number; planes: Buffer } {
  if (!dec) {
    const codec = Codec.findDecoder(AV_CODEC_ID_MJPEG)!;
    dec = new CodecContext();
    dec.allocContext3(codec);
    if (dec.open2Sync(codec, null) < 0) throw new Err.DECODE('cannot open the MJPEG decoder');
  }
  packet.unref();
  packet.data = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  let r = dec.sendPacketSync(packet);
  if (r < 0) throw new Err.DECODE(`not a decodable JPEG (${r})`);
  frame.unref();
  r = dec.receiveFrameSync(frame);
  if (r < 0) throw new Err.DECODE(`JPEG decoding gave no picture (${r})`);
  if (frame.format !== AV_PIX_FMT_YUVJ420P) throw new Err.DECODE('only 4:2:0 JPEGs are accepted (as browsers and cameras send)');
  return { width: frame.width, height: frame.height, planes: frame.toBuffer() };
}

function encode(width: number, height: number, planes: Uint8Array, quality: number): Buffer {
  const key = `${width}x${height}`;
  let enc = encs.get(key);
  if (!enc) {
    const codec = Codec.findEncoder(AV_CODEC_ID_MJPEG)!;
    enc = new CodecContext();
    enc.allocContext3(codec);
    enc.width = width;
    enc.height = height;
    enc.pixelFormat = AV_PIX_FMT_YUVJ420P;
    enc.timeBase = { num: 1, den: 30 } as never;
    enc.setFlags(AV_CODEC_FLAG_QSCALE);
    if (enc.open2Sync(codec, null) < 0) throw new Err.ENCODE('cannot open the MJPEG encoder');
    encs.set(key, enc);
  }
  const f = new Frame();
  f.alloc();
  f.width = width;
  f.height = height;
  f.format = AV_PIX_FMT_YUVJ420P;
  f.getBuffer(0);
  f.fromBuffer(Buffer.from(planes.buffer, planes.byteOffset, planes.byteLength));
  f.quality = Math.round(quality * FF_QP2LAMBDA);
  try {
    if (enc.sendFrameSync(f) < 0) throw new Err.ENCODE('JPEG encoding failed');
    packet.unref();
    if (enc.receivePacketSync(packet) < 0) throw new Err.ENCODE('JPEG encoder gave no packet');
    return Buffer.from(packet.data!);
  } finally {
    f.free();
  }
}

parentPort!.on('message', (m: JpegRequest) => {
  try {
    if (m.op === 'decode') {
      const d = decode(new Uint8Array(m.jpeg));
      const planes = d.planes.buffer.slice(d.planes.byteOffset, d.planes.byteOffset + d.planes.byteLength) as ArrayBuffer;
      parentPort!.postMessage({ id: m.id, ok: true, op: 'decode', width: d.width, height: d.height, format: 'yuvj420p', planes } satisfies JpegResponse, [planes]);
    } else {
      const j = encode(m.width, m.height, new Uint8Array(m.planes), m.quality);
      const jpeg = j.buffer.slice(j.byteOffset, j.byteOffset + j.byteLength) as ArrayBuffer;
      parentPort!.postMessage({ id: m.id, ok: true, op: 'encode', jpeg } satisfies JpegResponse, [jpeg]);
    }
  } catch (e) {
    parentPort!.postMessage({ id: m.id, ok: false, error: (e as Error).message } satisfies JpegResponse);
  }
});
