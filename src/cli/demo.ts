// The demo pipeline: runs anywhere with nothing downloaded. testsrc draws moving objects with
// ground truth; a small segmentation model built in code (infer/colour-model.ts) runs through
// onnxruntime like any downloaded model and turns colour regions into objects; blur hides the
// red ones. Later work (tracking, drawing) extends this same line.
import { writeColourModel } from '../infer/colour-model.ts';

export function demoPipeline(o: { out: string; frames: number }): string {
  const meta = o.out.replace(/\.[^.]+$/, '') + '-meta.jsonl';
  const { model, labels } = writeColourModel(320, 180);
  return [
    `testsrc pattern=objects width=1280 height=720 num-objects=6 num-frames=${o.frames}`,
    `! infer model=${model} labels=${labels} adapter=segment mean=0 std=1 channels=rgb letterbox=none mask-objects=true`,
    '! blur classes=red',
    '! scale width=960 height=540',
    '! tee name=t',
    `t. ! queue ! file location=${o.out}`,
    `t. ! queue ! meta location=${meta}`,
  ].join(' ');
}
