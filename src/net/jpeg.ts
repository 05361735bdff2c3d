// Main-thread side of the JPEG worker: promise-based decode/encode, buffers transferred.
import { Worker } from 'node:worker_threads';
import type { JpegJob, JpegResponse } from './jpeg-worker.ts';
import { Err } from '../core/errors.ts';
import { siblingModule } from '../core/files.ts';

/** A raw picture: yuv420p/yuvj420p planes packed tightly (Y, then U, then V). */
export interface RawImage { width: number; height: number; format: 'yuvj420p' | 'yuv420p'; data: Uint8Array }

export class JpegCodec {
  private worker: Worker;
  private next = 1;
  private pending = new Map<number, { resolve: (r: JpegResponse) => void; reject: (e: Error) => void }>();
  constructor() {
    this.worker = new Worker(siblingModule(import.meta.url, 'jpeg-worker'));
    this.worker.unref();
    this.worker.on('message', (r: JpegResponse) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new Error(r.error));
    });
    this.worker.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
  }
  get busy(): number { return this.pending.size; }

  private call(req: JpegJob, transfer: ArrayBuffer[]): Promise<JpegResponse> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  /** Decode; `jpeg` may be transferred to the worker (unusable afterwards) when it owns its buffer. */
  async decode(jpeg: Uint8Array): Promise<RawImage> {
    // Transfer without copying when the bytes own their buffer (the protocol parser's payloads do).
    const whole = jpeg.byteOffset === 0 && jpeg.byteLength === jpeg.buffer.byteLength && jpeg.buffer instanceof ArrayBuffer;
    const ab = whole ? (jpeg.buffer as ArrayBuffer) : (jpeg.buffer.slice(jpeg.byteOffset, jpeg.byteOffset + jpeg.byteLength) as ArrayBuffer);
    const r = await this.call({ op: 'decode', jpeg: ab }, [ab]);
    if (r.ok && r.op === 'decode') return { width: r.width, height: r.height, format: r.format, data: new Uint8Array(r.planes) };
    throw new Err.ELEMENT('the JPEG worker sent an unexpected reply');
  }

  /** quality: MJPEG qscale, 2 (best) .. 31. */
  async encode(img: RawImage, quality: number): Promise<Buffer> {
    const ab = img.data.buffer.slice(img.data.byteOffset, img.data.byteOffset + img.data.byteLength) as ArrayBuffer;
    const r = await this.call({ op: 'encode', width: img.width, height: img.height, planes: ab, quality }, [ab]);
    if (r.ok && r.op === 'encode') return Buffer.from(r.jpeg);
    throw new Err.ELEMENT('the JPEG worker sent an unexpected reply');
  }

  async close(): Promise<void> { await this.worker.terminate(); }
}
