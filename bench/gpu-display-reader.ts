// The RTSP client of bench/gpu-display.ts, in a process of its own so that reading ~60 MB/s of
// pictures does not load the pipeline's main thread. FFmpeg reads the tiled stream (the ffmpeg
// CLI as test/live/latency.test.ts does; where it is not installed, as on the GPU machine,
// FFmpeg's own libraries through node-av, the same RTSP client and decoder), and for every
// composite this prints one line: its arrival (epoch ms) and, per cell, the clip frame number
// burned into that stream's picture (realisticClip's code strip; -1 where it does not read back).
//   node bench/gpu-display-reader.ts URL STREAMS WIDTH HEIGHT SECONDS
import { spawn, spawnSync } from 'node:child_process';
import { CLIP_CODE_CELL } from '../src/cli/bench.ts';
import { readCode } from '../src/elements/testsrc.ts';
import { cellFor, chooseGrid } from '../src/elements/tile.ts';

const [url, nArg, wArg, hArg, sArg] = process.argv.slice(2);
const N = Number(nArg), W = Number(wArg), H = Number(hArg), SECONDS = Number(sArg);
// The sources are 1920x1080 like the canvas, so each cell is the source scaled by cell.w / 1920.
const SRC_W = 1920, SRC_H = 1080;
const grid = chooseGrid(N, SRC_W, SRC_H, { width: W, height: H, rows: 0, cols: 0 });
const cells = Array.from({ length: N }, (_, i) => cellFor(i, N, grid, SRC_W, SRC_H));
const now = () => performance.timeOrigin + performance.now();

function codes(luma: Uint8Array, stride: number): number[] {
  return cells.map((c) => {
    const k = c.w / SRC_W;
    const { frame, clock } = readCode(luma, stride, c.x, c.y + (SRC_H - 2 * CLIP_CODE_CELL) * k, CLIP_CODE_CELL * k);
    // Row 1 is row 0's complement: anything else is a cell damaged by compression or drawn over.
    return clock === (~frame >>> 0) ? frame : -1;
  });
}
const emit = (t: number, c: number[]) => process.stdout.write(`${t.toFixed(1)} ${c.join(',')}\n`);

// READER=libav forces the library path (to check it where the CLI is installed).
const hasCli = process.env.READER !== 'libav' && spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
process.stderr.write(`reader: ${hasCli ? 'ffmpeg CLI' : 'FFmpeg libraries (node-av)'} on ${url}, ${N} cells of ${grid.cols}x${grid.rows}\n`);
if (hasCli) {
  const ff = spawn('ffmpeg', ['-v', 'error', '-fflags', 'nobuffer', '-flags', 'low_delay', '-rtsp_transport', 'tcp', '-i', url, '-t', String(SECONDS), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const size = W * H;
  let buf: Buffer = Buffer.alloc(0);
  ff.stdout.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= size) {
      emit(now(), codes(buf.subarray(0, size), W));
      buf = buf.subarray(size);
    }
  });
  ff.on('close', (code) => process.exit(code ?? 1));
} else {
  const { Decoder, Demuxer } = await import('node-av/api');
  const input = await Demuxer.open(url, { options: { rtsp_transport: 'tcp', fflags: 'nobuffer' } as never });
  const vs = input.video();
  if (!vs) throw new Error(`no video stream at ${url}`);
  const dec = await Decoder.create(vs, { options: { flags: 'low_delay' } as never });
  const end = now() + SECONDS * 1000;
  for await (const f of dec.frames(input.packets(vs.index))) {
    if (!f) break;
    // yuv420p: plane 0 is the luma, as ffmpeg's gray output.
    emit(now(), codes(f.data![0]!, f.linesize[0]!));
    f.free();
    if (now() > end) break;
  }
  dec.close();
  await input.close();
  process.exit(0);
}
