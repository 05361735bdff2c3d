// The machine's NVIDIA GPUs and driver: what decode (NVDEC), inference (CUDA/TensorRT) and
// `sluice doctor` all ask, so it lives below both media and infer.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function libcudaPresent(): boolean {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/local/nvidia/lib64', '/usr/lib/wsl/lib', ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  return dirs.some((d) => existsSync(join(d, 'libcuda.so.1')));
}

/** Whether this machine has an NVIDIA driver at all (advice about GPUs is given only where there is one). */
export function nvidiaDriverPresent(): boolean { return libcudaPresent(); }

export interface GpuInfo { index: number; name: string; memoryMiB: number; driver: string }
let gpus: GpuInfo[] | null = null;
/** The NVIDIA GPUs nvidia-smi lists (none without a driver), found once. */
export function listGpus(): GpuInfo[] {
  if (gpus) return gpus;
  gpus = [];
  if (!libcudaPresent()) return gpus;
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=index,name,memory.total,driver_version', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 });
    for (const l of out.trim().split('\n')) {
      const [i, name, mem, driver] = l.split(',').map((x) => x.trim());
      if (i && /^\d+$/.test(i)) gpus.push({ index: Number(i), name: name ?? '', memoryMiB: Number(mem) || 0, driver: driver ?? '' });
    }
  } catch { /* no nvidia-smi: no list */ }
  return gpus;
}
