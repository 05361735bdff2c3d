// NVDEC decode ceilings for issue 9's GPU decode path, one device call: N streams of a 1080p
// H.264 clip decoded on NVDEC in one process (as N uri elements would), with (a) the full frame
// downloaded to CPU memory (what uri hw=cuda does today), (b) scale_cuda to the model size and
// only that downloaded, (c) no download at all (the NVDEC ceiling), and (d) CPU decode + CPU
// scale to the model size, for comparison. Prints fps per mode.
//   node bench/gpu-nvdec.ts CLIP.mp4 [streams=8] [seconds=6] [size=416]
import { Decoder, Demuxer, FilterAPI, HardwareContext } from 'node-av/api';
import { AV_HWDEVICE_TYPE_CUDA } from 'node-av/constants';
import { Frame } from 'node-av/lib';

const [clip, nArg, sArg, sizeArg] = process.argv.slice(2);
const streams = Number(nArg ?? 8), seconds = Number(sArg ?? 6), size = Number(sizeArg ?? 416);

type Mode = 'download' | 'scale_cuda' | 'none' | 'cpu' | 'cpu-decode' | 'cuvid-resize';
/** One CUDA device context for every stream (as FFmpeg's -init_hw_device), or one each. */
let shared: HardwareContext | null = null;
async function run(mode: Mode, n: number, share: boolean): Promise<number> {
  let frames = 0;
  const t0 = performance.now();
  const one = async () => {
    const cpu = mode === 'cpu' || mode === 'cpu-decode';
    const hw = cpu ? null : share ? (shared ??= HardwareContext.create(AV_HWDEVICE_TYPE_CUDA)) : HardwareContext.create(AV_HWDEVICE_TYPE_CUDA);
    const filter = mode === 'scale_cuda' ? FilterAPI.create(`scale_cuda=${size}:${size}:format=nv12,hwdownload,format=nv12`, { hardware: hw })
      : mode === 'cpu' ? FilterAPI.create(`scale=${size}:${size}:flags=bilinear,format=bgr24`, { graph: { nbThreads: 1 } }) : null;
    while (performance.now() - t0 < seconds * 1000) {
      const dm = await Demuxer.open(clip);
      const vs = dm.video()!;
      // h264_cuvid scales in the decoder's own post-processing (NVDEC's resize), for free.
      const dec = mode === 'cuvid-resize'
        ? await Decoder.create(vs, 'h264_cuvid' as never, { hardware: hw, exitOnError: false, options: { resize: `${size}x${size}` } as never })
        : await Decoder.create(vs, { hardware: hw, exitOnError: false });
      for await (const pkt of dm.packets(vs.index)) {
        if (!pkt) break;
        const got = await dec.decodeAll(pkt);
        pkt.free();
        for (const f of got) {
          if (mode === 'download' || mode === 'cuvid-resize') {
            const sw = new Frame();
            sw.alloc();
            await f.hwframeTransferData(sw, 0);
            sw.free();
          } else if (filter) {
            await filter.process(f);
            for (let o = await filter.receive(); o && 'width' in o; o = await filter.receive()) (o as Frame).free();
          }
          f.free();
          frames++;
        }
        if (performance.now() - t0 >= seconds * 1000) break;
      }
      dec.close();
      await dm.close();
    }
    filter?.close();
    if (!share) hw?.dispose();
  };
  await Promise.all(Array.from({ length: n }, one));
  return frames / ((performance.now() - t0) / 1000);
}

const modes = (process.env.MODES ?? 'none,download,scale_cuda,cuvid-resize,cpu-decode,cpu').split(',') as Mode[];
for (const mode of modes) {
  for (const n of [streams, streams * 2]) {
    for (const share of mode.startsWith('cpu') ? [false] : [true]) {
      try {
        console.log(`nvdec ${mode}${share ? ' (one CUDA context)' : ''} x${n}: ${Math.round(await run(mode, n, share))} fps`);
      } catch (e) {
        console.log(`nvdec ${mode} x${n}: failed: ${(e as Error).message}`);
      }
    }
  }
}
