// The demo pipeline: runs anywhere with nothing downloaded, and uses the whole stack: two
// synthetic cameras (testsrc, with ground truth) batched by mux; a small segmentation model
// built in code (infer/colour-model.ts) run by onnxruntime like any downloaded model, its colour
// regions becoming objects; tracking; a counting line; red objects blurred; everything drawn
// and tiled into demo.mp4, with per-stream JSON lines beside it.
import { writeColourModel } from '../infer/colour-model.ts';

export function demoPipeline(o: { out: string; frames: number }): string {
  const meta = o.out.replace(/\.[^.]+$/, '') + '-meta.jsonl';
  const { model, labels } = writeColourModel(320, 180);
  const cam = (seed: number) => `testsrc pattern=objects width=960 height=540 num-objects=5 seed=${seed} num-frames=${o.frames} ! m.`;
  return [
    cam(1), cam(2),
    'mux name=m',
    `! infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none mask-objects=true`,
    '! track min-hits=2',
    '! analytics lines=middle:480,0,480,540',
    '! blur classes=red',
    '! tee name=t',
    `t. ! queue ! osd ! tile width=1920 height=540 ! file location=${o.out}`,
    `t. ! queue ! meta location=${meta}`,
  ].join(' ');
}
