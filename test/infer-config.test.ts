// infer's config merge (pipeline properties + a YAML or DeepStream nvinfer file) and the
// property strings resolved against the labels, on real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import inferDef from '../src/elements/infer.ts';
import { parseProps } from '../src/core/props.ts';
import { applyConfig, parseClasses, parseClassThresholds, readLabels, triple } from '../src/infer/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-infer-config-'));
const parse = (raw: Record<string, unknown>) => parseProps(inferDef, raw);
const given = (raw: Record<string, unknown>) => parse(raw) as Record<string, unknown> & { config: string; adapter: string };

test('a YAML config fills what the pipeline left unset; explicit properties win; paths resolve beside the file', () => {
  writeFileSync(join(dir, 'm.onnx'), 'x');
  writeFileSync(join(dir, 'a.yaml'), 'model: m.onnx\nep: cpu\nbatch-size: 8\nthreshold: 0.25\n');
  const o = given({ config: join(dir, 'a.yaml'), ep: 'auto', threshold: 0.5 });
  const merged = applyConfig(o, 'infer0', new Set(['config', 'ep', 'threshold']), () => {}, parse);
  assert.equal(merged.model, join(dir, 'm.onnx'));
  assert.equal(merged.ep, 'auto', 'an explicit ep=auto wins over the file');
  assert.equal(merged.threshold, 0.5);
  assert.equal(merged.batchSize, 8, 'dashed names in the file are read as the property');
  assert.equal(given({}).config, '');
  const none = given({});
  assert.equal(applyConfig(none, 'infer0', new Set(), () => {}, parse), none, 'no config: the properties as they are');
});

test('a DeepStream nvinfer config is read as one, with its warnings; a file that is neither is a coded error', () => {
  writeFileSync(join(dir, 'pgie.txt'), '[property]\nonnx-file=m.onnx\nnet-scale-factor=0.5\nmy-own-key=1\n');
  const warnings: string[] = [];
  const merged = applyConfig(given({ config: join(dir, 'pgie.txt') }), 'infer0', new Set(['config']), (m) => warnings.push(m), parse);
  assert.equal(merged.model, join(dir, 'm.onnx'));
  assert.equal(merged.scale, 0.5);
  assert.ok(warnings.some((w) => w.startsWith(join(dir, 'pgie.txt')) && /my-own-key/.test(w)), warnings.join('\n'));
  writeFileSync(join(dir, 'bad.yaml'), 'model: [unclosed\n');
  assert.throws(() => applyConfig(given({ config: join(dir, 'bad.yaml') }), 'infer0', new Set(), () => {}, parse), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_YAML' && /not YAML, nor a DeepStream nvinfer config/.test(e.message));
  writeFileSync(join(dir, 'list.yaml'), '42\n');
  assert.throws(() => applyConfig(given({ config: join(dir, 'list.yaml') }), 'infer0', new Set(), () => {}, parse), /expected a mapping of infer properties/);
  assert.throws(() => applyConfig(given({ config: join(dir, 'missing.yaml') }), 'infer0', new Set(), () => {}, parse), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_FILE_NOT_FOUND' && /infer0: config file not found/.test(e.message));
  assert.throws(() => applyConfig(given({ config: join(dir, 'list.yaml') }), 'infer0', new Set(), () => {}, () => { throw new Error('parse called'); }), /expected a mapping/, 'checked before parsing');
});

test('classes=, class-thresholds=, mean/std and labels files', () => {
  const labels = ['person', 'bicycle', 'car'];
  assert.deepEqual([...parseClasses('0, car', labels, 'infer0')!], [0, 2]);
  assert.equal(parseClasses('', labels, 'infer0'), null);
  assert.throws(() => parseClasses('truck', labels, 'infer0'), /infer0: classes= names "truck", which is not among the labels/);
  assert.deepEqual([...parseClassThresholds('2:0.6, person:0.4', labels, 'infer0')!], [[2, 0.6], [0, 0.4]]);
  assert.throws(() => parseClassThresholds('car=0.5', labels, 'infer0'), (e: Error & { code?: string }) => e.code === 'SLUICE_ERR_PROPERTY' && /"car=0.5" must be CLASS:SCORE/.test(e.message));
  assert.throws(() => parseClassThresholds('truck:0.5', labels, 'infer0'), /must be CLASS:SCORE/);
  assert.deepEqual(triple('0.5', 'mean'), [0.5, 0.5, 0.5]);
  assert.deepEqual(triple('1,2,3', 'mean'), [1, 2, 3]);
  assert.equal(triple('', 'mean'), null);
  assert.throws(() => triple('1,2', 'std'), /std must be one number or three comma-separated numbers \(got "1,2"\)/);
  writeFileSync(join(dir, 'synset.txt'), 'n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n\n');
  assert.deepEqual(readLabels(join(dir, 'synset.txt')), ['tench', 'goldfish']);
});
