// deepstream-app configs run as they are: `sluice run deepstream_app_config.txt` maps [source0]
// [streammux] [primary-gie] [tracker] [osd] [tiled-display] [sink0] [sink1] onto Sluice elements
// (units converted, paths relative to the file), gives the detections of the equivalent launch
// line, writes the tiled file that the sink names, and names every key it cannot honour.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, type ObjectMeta } from '../src/index.ts';
import { COCO80 } from '../src/infer/adapters/types.ts';
import { readDeepstreamApp } from '../src/cli/deepstream-app.ts';
import { ASSETS, ffprobe, media, sluice, tmp } from './helpers.ts';
import { YOLOX_CONFIG } from './fixtures/deepstream.ts';

// Modelled on NVIDIA's deepstream-app samples (source*_dec_infer-*_tiled_display*.txt).
const APP_CONFIG = `# Two streams of one file, YOLOX-nano, tracker, OSD, 2x1 tiles, an MP4 and a fakesink
[application]
enable-perf-measurement=1
perf-measurement-interval-sec=5

[tiled-display]
enable=1
rows=1
columns=2
width=1280
height=360
gpu-id=0
#(0): nvbuf-mem-default
nvbuf-memory-type=0

[source0]
enable=1
#Type - 1=CameraV4L2 2=URI 3=MultiURI 4=RTSP
type=3
uri = file://media/clip.mp4
num-sources=2
gpu-id=0
cudadec-memtype=0

[sink0]
enable=1
#Type - 1=FakeSink 2=EglSink 3=File
type=3
#1=mp4 2=mkv
container=1
#1=h264 2=h265
codec=1
bitrate=2000000
output-file=out/tiled.mp4

[sink1]
enable=1
type=1
sync=0

[osd]
enable=1
border-width=2
text-size=15
text-color=1;1;1;1;
text-bg-color=0.3;0.3;0.3;1
font=Serif
show-clock=0

[streammux]
gpu-id=0
live-source=0
batch-size=2
##time out in usec, to wait after the first buffer is available
batched-push-timeout=40000
width=768
height=432
enable-padding=0
nvbuf-memory-type=0

[primary-gie]
enable=1
gpu-id=0
model-engine-file=models/yolox_nano.onnx_b2_gpu0_fp32.engine
batch-size=2
bbox-border-color0=1;0;0;1
bbox-border-color2=0;1;0;1
gie-unique-id=1
nvbuf-memory-type=0
config-file=config_infer_primary_yolox.txt

[tracker]
enable=1
tracker-width=640
tracker-height=384
ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so
ll-config-file=config_tracker_NvDCF_perf.yml
gpu-id=0
display-tracking-id=1

[tests]
file-loop=0
`;

function layout(): { dir: string; cfg: string; clip: string } {
  const dir = tmp();
  symlinkSync(join(ASSETS, 'models', 'yolox'), join(dir, 'models'));
  writeFileSync(join(dir, 'labels.txt'), COCO80.join('\n') + '\n');
  writeFileSync(join(dir, 'config_infer_primary_yolox.txt'), YOLOX_CONFIG.replace('batch-size=1', 'batch-size=2'));
  mkdirSync(join(dir, 'media'));
  const clip = join(dir, 'media', 'clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-i', media('one-by-one-person-detection.mp4'), '-frames:v', '120', '-c', 'copy', clip]);
  const cfg = join(dir, 'deepstream_app_config.txt');
  writeFileSync(cfg, APP_CONFIG);
  return { dir, cfg, clip };
}

async function detections(text: string) {
  const got = new Map<string, ObjectMeta[]>();
  const p = launch(text);
  p.addProbe('infer0.src', (f) => { if (f.meta.inferred) got.set(`${f.stream}:${f.frame}`, structuredClone(f.meta.objects)); });
  await p.run();
  return got;
}

test('a deepstream-app config gives the detections of the equivalent launch line', { timeout: 300_000 }, async () => {
  const { dir, cfg, clip } = layout();
  const app = readDeepstreamApp(APP_CONFIG, cfg);
  const model = join(dir, 'config_infer_primary_yolox.txt');
  assert.equal(app.launch, `uri location=${clip} gpu-id=0 ! m.  uri location=${clip} gpu-id=0 ! m.  mux name=m batch-size=2 timeout=40 width=768 height=432 ! infer config=${model} batch-size=2 ! track ! osd thickness=2 font-size=15 ! tile rows=1 cols=2 width=1280 height=360 ! tee name=t  t. ! queue ! encode bitrate=2000000 ! file location=${join(dir, 'out', 'tiled.mp4')} create-dirs=true  t. ! queue ! fakesink`);
  const ds = await detections(app.launch.replace('infer config=', 'infer ep=cpu config='));
  const line = await detections(`uri location=${clip} ! m.  uri location=${clip} ! m.  mux name=m batch-size=2 timeout=40 width=768 height=432 ! infer model=${join(ASSETS, 'models', 'yolox', 'yolox_nano.onnx')} ep=cpu labels=${join(dir, 'labels.txt')} channels=bgr scale=1 mean=0 std=1 letterbox=top-left threshold=0.5 nms-iou=0.45 candidates=300 interval=4 batch-size=2 ! fakesink`);
  assert.equal(ds.size, 60, 'interval=3 in the nvinfer config: every 4th frame of 120, two streams');
  assert.deepEqual([...ds.keys()].sort(), [...line.keys()].sort());
  let boxes = 0;
  for (const [k, objs] of line) { boxes += objs.length; assert.deepEqual(ds.get(k), objs, k); }
  assert.ok(boxes > 10, `${boxes} boxes compared`);
});

test('sluice run deepstream_app_config.txt writes the tiled file and names the keys it cannot honour', { timeout: 300_000 }, async () => {
  const { dir, cfg } = layout();
  const r = await sluice(['run', '-v', cfg, '--report', join(dir, 'r.json')], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const out = ffprobe(join(dir, 'out', 'tiled.mp4'));
  assert.deepEqual([out.width, out.height, out.frames], [1280, 360, 120]);
  assert.match(r.stderr, /runs as: uri location=/);
  for (const w of [/\[tracker\] ll-lib-file: Sluice's own SORT/, /\[primary-gie\] model-engine-file: TensorRT engines are not used/, /\[primary-gie\] bbox-border-color0, bbox-border-color2: osd colours/, /\[application\] enable-perf-measurement/, /model-engine-file: TensorRT engines are not used; the ONNX file/]) {
    assert.match(r.stderr, w);
  }
});

test('deepstream-app keys that need what Sluice lacks are coded errors naming the section; unknown keys are listed', () => {
  const base = '[source0]\nenable=1\ntype=2\nuri=file:///tmp/a.mp4\n';
  assert.throws(() => readDeepstreamApp('[source0]\nenable=1\ntype=1\ncamera-v4l2-dev-node=0\n', '/c/app.txt'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_PROPERTY' && /\[source0\] type=1 \(V4L2 camera\)/.test(e.message));
  assert.throws(() => readDeepstreamApp(`${base}[sink0]\nenable=1\ntype=6\nmsg-broker-proto-lib=/opt/libkafka.so\n`, '/c/app.txt'), /\[sink0\] type=6 \(nvmsgbroker\).*mqtt, nats or redis/);
  assert.throws(() => readDeepstreamApp(`${base}[primary-gie]\nenable=1\n`, '/c/app.txt'), /\[primary-gie\] needs config-file=/);
  assert.throws(() => readDeepstreamApp('[application]\nenable-perf-measurement=1\n', '/c/app.txt'), /no enabled \[sourceN\]/);
  const r = readDeepstreamApp(`${base}[streammux]\nbatched-push-timeout=33333\nmy-key=3\n[sink0]\nenable=1\ntype=4\nrtsp-port=8600\ncodec=2\n[weird]\na=1\n`, '/c/app.txt');
  assert.equal(r.launch, 'uri location=/tmp/a.mp4 ! m.  mux name=m timeout=33.333 ! encode gop=30 tune=zerolatency ! rtsp port=8600 mount=/ds-test');
  assert.ok(r.warnings.some((w) => /codec=2: only H.264/.test(w)));
  assert.ok(r.warnings.some((w) => /not known to deepstream-app or Sluice, ignored: \[streammux\] my-key, \[weird\]/.test(w)), r.warnings.join('\n'));
});
