// `sluice doctor`: what can run here — execution providers (and why not), hardware decoders,
// GPUs, versions.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { HardwareContext } from 'node-av/api';
import { getFFmpegInfo } from 'node-av/lib';
import { listBackends } from '../infer/backends.ts';
import { openCuda } from '../media/source.ts';

export function doctor(): string {
  const out: string[] = [];
  const req = createRequire(import.meta.url);
  const ortVersion = (req('onnxruntime-node/package.json') as { version: string }).version;
  let ff = 'unknown';
  try { ff = String((getFFmpegInfo() as { version?: string }).version ?? 'unknown'); } catch { /* older binding */ }
  out.push(`node ${process.version}, onnxruntime-node ${ortVersion}, FFmpeg ${ff}`);
  out.push('', 'Execution providers (infer ep=):');
  for (const [name, s] of Object.entries(listBackends())) out.push(`  ${name.padEnd(9)} ${s.usable ? 'usable ' : 'missing'}  ${s.why}`);
  out.push('', 'Hardware decoding (uri hw=):');
  const types = HardwareContext.listAvailable();
  out.push(`  FFmpeg build supports: ${types.join(', ') || 'none'}`);
  const cuda = openCuda();
  out.push(`  cuda (NVDEC): ${cuda ? 'a CUDA device opened' : 'no CUDA device could be opened (no NVIDIA driver or GPU)'}`);
  cuda?.dispose();
  out.push('', 'GPUs:');
  try {
    const smi = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 }).trim();
    for (const l of smi.split('\n')) out.push(`  ${l}`);
  } catch {
    out.push('  none found (nvidia-smi is not available)');
  }
  return out.join('\n');
}
