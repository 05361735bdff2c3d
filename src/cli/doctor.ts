// `sluice doctor`: what can run here — execution providers (and why not), hardware decoders,
// GPUs, versions, and the Node version against what the dependencies need.
import { createRequire } from 'node:module';
import { HardwareContext } from 'node-av/api';
import { getFFmpegInfo } from 'node-av/lib';
import { listBackends, listGpus } from '../infer/backends.ts';
import { openCuda } from '../media/source.ts';
import { nodeReport } from './node-check.ts';

export function doctor(): string {
  const out: string[] = [];
  const req = createRequire(import.meta.url);
  const ortVersion = (req('onnxruntime-node/package.json') as { version: string }).version;
  let ff = 'unknown';
  try { ff = String((getFFmpegInfo() as { version?: string }).version ?? 'unknown'); } catch { /* older binding */ }
  out.push(`node ${process.version}, onnxruntime-node ${ortVersion}, FFmpeg ${ff}`);
  out.push('', 'Node (package.json engines of sluice and its dependencies):', ...nodeReport());
  out.push('', 'Execution providers (infer ep=):');
  for (const [name, s] of Object.entries(listBackends())) out.push(`  ${name.padEnd(9)} ${s.usable ? 'usable ' : 'missing'}  ${s.why}`);
  out.push('', 'Hardware decoding (uri hw=):');
  const types = HardwareContext.listAvailable();
  out.push(`  FFmpeg build supports: ${types.join(', ') || 'none'}`);
  const gpus = listGpus();
  // One line per GPU: NVDEC is opened on each (uri gpu-id=N), as infer gpu-id=all would use them.
  if (!gpus.length) {
    const cuda = openCuda();
    out.push(`  cuda (NVDEC): ${cuda ? 'a CUDA device opened' : 'no CUDA device could be opened (no NVIDIA driver or GPU)'}`);
  }
  for (const g of gpus) out.push(`  cuda (NVDEC) on GPU ${g.index}: ${openCuda(g.index) ? 'opened' : 'could not be opened'}`);
  out.push('', 'GPUs (infer gpu-id=N, a list 0,1 or all; uri gpu-id=N):');
  if (gpus.length) for (const g of gpus) out.push(`  ${g.index}: ${g.name}, ${g.memoryMiB} MiB, driver ${g.driver}`);
  else out.push('  none found (no NVIDIA driver, or nvidia-smi is not available)');
  return out.join('\n');
}
