// npm run build (and prepack): the package's JavaScript and type declarations in dist/, from the
// TypeScript sources the repository runs directly, plus the pages the servers read at run time.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
// typescript's exports do not list its bin; it sits beside the package.json they do list.
const tsc = join(createRequire(import.meta.url).resolve('typescript/package.json'), '..', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: ['ignore', 2, 2] }); // stdout stays clean: npm pack --json prints there

function copyAssets(dir: string): void {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) copyAssets(p);
    else if (f.endsWith('.html')) cpSync(p, join(dist, relative(join(root, 'src'), p)));
  }
}
copyAssets(join(root, 'src'));
console.error(`built ${relative(process.cwd(), dist) || dist}`);
