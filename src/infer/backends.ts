// Which onnxruntime execution providers can run here, and if not, why (for ep=auto, errors
// and `sluice doctor`).
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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

function libcudaPresent(): boolean {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/local/nvidia/lib64', '/usr/lib/wsl/lib', ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(join(d, 'libcuda.so.1')));
}

/** Whether this machine has an NVIDIA driver at all (advice about GPUs is given only where there is one). */
export function nvidiaDriverPresent(): boolean { return libcudaPresent(); }

export function listBackends(): Backends {
  if (cached) return cached;
  const dir = bindingDir();
  const has = (f: string) => !!dir && existsSync(join(dir, f));
  const driver = libcudaPresent();
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
