// Shared test helpers: where the real test assets are, and FFmpeg's own ffprobe as an
// independent reader of what we write.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const ASSETS = resolve(ROOT, process.env.SLUICE_TEST_ASSETS ?? '../shared');
export const media = (name: string) => join(ASSETS, 'media', name);
export const tmp = () => mkdtempSync(join(tmpdir(), 'sluice-test-'));

export interface Probe { frames: number; width: number; height: number; codec: string; duration: number }

/** Count decoded frames and read size/codec with FFmpeg's ffprobe (not our code). */
export function ffprobe(file: string): Probe {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=nb_read_frames,width,height,codec_name,duration', '-of', 'json', file], { encoding: 'utf8' });
  const s = JSON.parse(out).streams[0];
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height, codec: s.codec_name, duration: Number(s.duration) };
}

/** Decode one frame of a video to raw RGB24 with ffmpeg. */
export function ffmpegFrameRgb(file: string, index: number, width: number, height: number): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `select=eq(n\\,${index})`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-'], { maxBuffer: 64 << 20 });
}

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run the real `sluice` CLI as a user would. */
export function sluice(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; onSpawn?: (p: ReturnType<typeof spawn>) => void; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'sluice.js'), ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('error', rej);
    p.on('close', (code, signal) => { clearTimeout(t); res({ code, signal, stdout, stderr }); });
    opts.onSpawn?.(p);
  });
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1 (for servers that need a fixed port), from
 * the kernel. (Picking ports below the ephemeral range instead, to
 * dodge outgoing connections, was tried: the NATS cluster case then failed to recover from a
 * node loss in 3 of 5 runs against 0 of 4 with kernel ports; the package case, whose npm install
 * makes most outgoing connections, now runs alone instead.)
 */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a ? a.port : 0;
}

// A real gc() without --expose-gc on the command line (node --test spawns its own children).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Memory that survives collection, in MB: the JS heap, ArrayBuffers/Buffers and RSS. ArrayBuffer
 * backing stores are freed by a background sweeper after gc(), so collect, let it run, collect
 * again; otherwise the Buffer count reads as a sawtooth of already-dead buffers.
 */
export async function liveMemoryMB(): Promise<{ heap: number; buffers: number; rss: number }> {
  for (let i = 0; i < 3; i++) { gc(); await sleep(30); }
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 2 ** 20, buffers: m.arrayBuffers / 2 ** 20, rss: m.rss / 2 ** 20 };
}

/** Debian's Chromium, headless, via playwright-core; `args` adds flags (e.g. a fake camera). */
export function launchChromium(args: string[] = []): Promise<Browser> {
  const path = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
  assert.ok(existsSync(path), `${path} is missing: install Debian's chromium (apt-get install chromium), or set SLUICE_CHROMIUM`);
  return chromium.launch({
    executablePath: path,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...args],
  });
}
