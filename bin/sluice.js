#!/usr/bin/env node
// Entry point. From the built package it runs dist/ (plain JavaScript, Node 20 or newer). In a
// clone it runs the TypeScript sources directly, which needs Node 24 (type stripping); under an
// older Node it re-runs itself with the Node 24 that the repository installs as a dev dependency.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
// package.json engines: older Nodes fail later in ways that do not say why.
if (major < 20) {
  console.error(`sluice needs Node 20 or newer (package.json "engines"); this is ${process.version}`);
  process.exit(1);
}
const sources = join(here, '..', 'src', 'cli', 'main.ts');
const built = join(here, '..', 'dist', 'cli', 'main.js');

// FFmpeg work (decode, scale, encode) and inference calls run on libuv's pool, set before it
// first starts: two threads per core, since many of its jobs wait (a decoder's own threads, the
// GPU). Measured on an H200, 16 x 1080p to YOLOX: 1,751 fps with 16 threads, 2,196 with 32.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, 2 * availableParallelism()));

if (existsSync(sources) && major >= 24) await import(sources);
else if (existsSync(built)) await import(built);
else {
  const local = join(here, '..', 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(local)) {
    console.error(`sluice needs Node 24 or newer to run from its sources (this is ${process.version}); run \`npm ci\` in the clone to get it, or \`npm run build\`.`);
    process.exit(1);
  }
  const child = spawn(local, [join(here, 'sluice.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
  // Let the child handle Ctrl-C itself (it drains and finalises files); don't die first.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
