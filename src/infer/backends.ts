// Which onnxruntime execution providers can run here, and if not, why (for ep=auto, errors
// and `sluice doctor`).
import { existsSync, readdirSync } from 'node:fs';
import { Err } from '../core/errors.ts';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { listGpus, nvidiaDriverPresent } from '../media/gpus.ts';

export interface BackendState { usable: boolean; why: string }
export type Backends = Record<'cpu' | 'cuda' | 'webgpu' | 'tensorrt', BackendState>;

let cached: Backends | null = null;

function bindingDir(): string | null {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve('onnxruntime-node/package.json'));
    const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(dir) ? dir : null;
  } catch {
    return null;
  }
}

function renderNode(): boolean {
  try { return readdirSync('/dev/dri').some((f) => f.startsWith('renderD')); } catch { return false; }
}

// The GPU list is media's (decode asks it too); re-exported for infer's callers.
export { listGpus, nvidiaDriverPresent, type GpuInfo } from '../media/gpus.ts';

/**
 * infer gpu-id: "0", "0,1" or "all" -> device indices. "all" is every GPU nvidia-smi lists (0
 * alone where it lists none, so a CPU run still resolves).
 */
export function parseGpuIds(v: string, who: string): number[] {
  const t = v.trim().toLowerCase();
  if (t === 'all') { const g = listGpus().map((x) => x.index); return g.length ? g : [0]; }
  const ids = t.split(',').map((x) => x.trim()).filter(Boolean);
  if (!ids.length || ids.some((x) => !/^\d+$/.test(x))) throw new Err.PROPERTY(`${who}: gpu-id must be a GPU index, a comma-separated list (0,1) or all (got "${v}")`);
  const out = [...new Set(ids.map(Number))];
  const known = listGpus();
  const missing = known.length ? out.filter((d) => !known.some((g) => g.index === d)) : [];
  if (missing.length) throw new Err.PROPERTY(`${who}: gpu-id names GPU ${missing.join(', ')}, but this machine has ${known.map((g) => g.index).join(', ')} (sluice doctor lists them)`);
  return out;
}

export function listBackends(): Backends {
  if (cached) return cached;
  const dir = bindingDir();
  const has = (f: string) => !!dir && existsSync(join(dir, f));
  const driver = nvidiaDriverPresent();
  const cudaLib = has('libonnxruntime_providers_cuda.so');
  cached = {
    cpu: { usable: true, why: 'always available' },
    cuda: cudaLib && driver
      ? { usable: true, why: 'CUDA provider library and NVIDIA driver found' }
      : {
        usable: false,
        why: !cudaLib
          ? `libonnxruntime_providers_cuda.so is not next to onnxruntime-node's binding${dir ? ` (${dir})` : ''}; install the CUDA execution provider built for onnxruntime 1.29.0 there (CUDA 12: \`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12\` fetches it; other CUDA versions: copy the provider .so files there; README "Install")`
          : 'no NVIDIA driver (libcuda.so.1) found on this machine',
      },
    tensorrt: has('libonnxruntime_providers_tensorrt.so') && driver
      ? { usable: true, why: 'TensorRT provider library found' }
      : { usable: false, why: 'libonnxruntime_providers_tensorrt.so is not installed next to onnxruntime-node\'s binding' },
    // WebGPU ships inside onnxruntime-node, but needs a GPU: an NVIDIA driver or a DRM render node.
    webgpu: driver || renderNode()
      ? { usable: true, why: 'bundled with onnxruntime-node (a GPU is present; a Vulkan adapter is checked at session start)' }
      : { usable: false, why: 'no GPU found (no NVIDIA driver, no /dev/dri render node)' },
  };
  return cached;
}
