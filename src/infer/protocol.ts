// Messages between the infer element (main thread) and its session workers.
import type { DecodeParams, Decoded, ModelInfo, TensorOut } from './adapters/types.ts';

export type { ModelInfo, TensorMeta, TensorOut } from './adapters/types.ts';

export type Ep = 'cpu' | 'cuda' | 'webgpu' | 'tensorrt';

export interface WorkerInit { model: string; ep: Ep; gpuId: number; intraOpThreads: number }


/** Channel order a model expects, and how u8 pixels become its input: value = (x * scale - mean[c]) / std[c]. */
export interface Normalisation {
  order: 'rgb' | 'bgr';
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * An image already at the model's size and channel order, still in its decoding thread's shared
 * slot: the worker copies it into the batch (bytes from src at srcOffset to pixels at dst) and
 * fills the rest of the image's rows [start, end) with pad, so the main thread copies nothing.
 */
/** Milliseconds a call spent in its worker: staging (copies, tensor), the session's run, decoding its outputs. */
export interface CallTiming { prep: number; run: number; decode: number }

export interface PackedCopy { src: SharedArrayBuffer; srcOffset: number; bytes: number; dst: number; start: number; end: number; pad: number }

export interface PrepSpec extends Normalisation {
  width: number;
  height: number;
  layout: 'nchw' | 'nhwc';
  /** A compiled model takes the staged uint8 NHWC pixels as they are (normalisation is in its graph). */
  uint8?: boolean;
}


/** Decode in the worker: only detections/labels/masks cross back, not the raw output tensors. */
export interface DecodeSpec {
  adapter: string;
  params: DecodeParams;
  /** Outputs are a compiled model's top-k candidates; classAware false: one-class head. */
  candidates?: { classAware: boolean };
}

export type WorkerRequest =
  /** warm: batch sizes to run once before playing (each new shape costs CUDA an algorithm search). */
  | { type: 'open'; id: number; warm: number[] }
  /** n images are staged; the call runs `runAs` >= n of them (a warmed-up batch size), and decodes n. */
  | { type: 'run'; id: number; inputName: string; pixels: SharedArrayBuffer; offset: number; n: number; runAs?: number; prep: PrepSpec; decode?: DecodeSpec; copies?: PackedCopy[] }
  | { type: 'close'; id: number };

export type WorkerResponse =
  | { type: 'opened'; id: number; info: ModelInfo }
  | { type: 'result'; id: number; outputs: Record<string, TensorOut> | null; decoded: Decoded[] | null; timing: CallTiming }
  | { type: 'closed'; id: number }
  /** code: the SluiceError code when the worker threw one. */
  | { type: 'error'; id: number; message: string; code?: string };
