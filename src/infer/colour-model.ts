// A real (if tiny) segmentation model, built in code: a 1x1 convolution that scores each pixel
// against the colours testsrc draws. Nearest colour by squared distance is linear in the pixel
// (argmax_k 2·c_k·x − |c_k|²), so one Conv computes it exactly. `sluice demo` runs it through
// onnxruntime like any downloaded model, so detection works with nothing downloaded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnxModel } from './onnx-writer.ts';
import { TESTSRC_CLASSES, TESTSRC_BACKGROUND } from '../meta/testsrc-classes.ts';

export const COLOUR_LABELS = ['background', ...TESTSRC_CLASSES.map((c) => c.name)];

export function colourModel(width: number, height: number): Uint8Array {
  const colours = [TESTSRC_BACKGROUND, ...TESTSRC_CLASSES.map((c) => c.rgb)];
  const k = colours.length;
  const w = new Float32Array(k * 3);
  const b = new Float32Array(k);
  colours.forEach((c, i) => {
    for (let ch = 0; ch < 3; ch++) w[i * 3 + ch] = 2 * c[ch]!;
    b[i] = -(c[0]! ** 2 + c[1]! ** 2 + c[2]! ** 2);
  });
  return onnxModel({
    name: 'testsrc-colours',
    nodes: [{ op: 'Conv', inputs: ['images', 'W', 'B'], outputs: ['logits'] }],
    initializers: [{ name: 'W', dims: [k, 3, 1, 1], data: w }, { name: 'B', dims: [k], data: b }],
    inputs: [{ name: 'images', dims: [1, 3, height, width] }],
    outputs: [{ name: 'logits', dims: [1, k, height, width] }],
  });
}

/** Write the model and its labels to a temp folder; returns their paths. */
export function writeColourModel(width = 320, height = 180): { model: string; labels: string } {
  const dir = join(tmpdir(), 'sluice-models');
  mkdirSync(dir, { recursive: true });
  const model = join(dir, `testsrc-colours-${width}x${height}.onnx`);
  const labels = join(dir, 'testsrc-colours.txt');
  writeFileSync(model, colourModel(width, height));
  writeFileSync(labels, COLOUR_LABELS.join('\n') + '\n');
  return { model, labels };
}
