// Model names: a path, or a well-known name looked up in SLUICE_MODEL_DIR (an offline mirror
// laid out as NAME/FILE or just FILE) and the user's cache.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SluiceError } from '../core/errors.ts';

export interface KnownModel {
  name: string;
  file: string;
  adapter: string;
  task: string;
  licence: string;
  sha256: string;
  labels?: string;
}

export const KNOWN_MODELS: KnownModel[] = [
  { name: 'yolox_nano', file: 'yolox/yolox_nano.onnx', adapter: 'yolox', task: 'COCO-80 detector 416x416', licence: 'Apache-2.0', sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14' },
  { name: 'nanodet_m', file: 'nanodet/nanodet_m_320.onnx', adapter: 'nanodet', task: 'COCO-80 detector 320x320', licence: 'Apache-2.0', sha256: '88e9fb97a54bb0030127ad323a10f88b4531b6aa82617e7ef79e35ffcc9bb3e1' },
  { name: 'light_person', file: 'light_person_detector/light_person_detector_192.onnx', adapter: 'yolox', task: 'person detector 192x192', licence: 'Apache-2.0', sha256: '4bf5f704cd3bd900645a4303e0934ede13d9fb2135058b38005f4c2886c68576' },
  { name: 'ultraface', file: 'ultraface/version-RFB-320.onnx', adapter: 'ultraface', task: 'face detector 320x240', licence: 'MIT', sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017' },
  { name: 'ultraface_640', file: 'ultraface/version-RFB-640.onnx', adapter: 'ultraface', task: 'face detector 640x480', licence: 'MIT', sha256: '8f4c659275977e7a3bfbfa339a9c769ad793df50f9c0baa8c14b11baa1646430' },
  { name: 'yunet', file: 'yunet/face_detection_yunet_120x160.onnx', adapter: 'yunet', task: 'face detector + landmarks 160x120', licence: 'MIT', sha256: 'c89f94fc04a5db6f9ab39df6b1e4142007dd61781ef7e3a5b9b175bb0abb8c11' },
  { name: 'mobilenetv2', file: 'mobilenetv2/mobilenetv2-12-int8.onnx', adapter: 'classify', task: 'ImageNet classifier 224x224', licence: 'Apache-2.0', sha256: 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f', labels: 'mobilenetv2/synset.txt' },
  { name: 'deeplabv3', file: 'deeplabv3/deeplabv3_mnv2_voc_257.onnx', adapter: 'segment', task: 'VOC segmentation 257x257', licence: 'Apache-2.0', sha256: '48a46b346ca7e2e96760b8a10a302046a3b5a9ce55e59d4c659c36d9cbd44118' },
  { name: 'reid', file: 'reid/person-reidentification-retail-0287.onnx', adapter: 'embed', task: 'person re-ID embedding 128x256', licence: 'Apache-2.0', sha256: 'f35a22885b93aa0c249d665b4cf5510d08ded92f814694c3c2fec0112b0d3a56' },
];

export function modelDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.SLUICE_MODEL_DIR) dirs.push(process.env.SLUICE_MODEL_DIR);
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  dirs.push(join(cache, 'sluice', 'models'));
  return dirs;
}

/** Path of a model given as a path or a known name. */
export function resolveModel(spec: string): string {
  if (spec.endsWith('.onnx') || spec.includes('/')) {
    if (!existsSync(spec)) throw new SluiceError('SLUICE_ERR_FILE_NOT_FOUND', `model file not found: ${spec}`);
    return spec;
  }
  const known = KNOWN_MODELS.find((m) => m.name === spec);
  if (!known) throw new SluiceError('SLUICE_ERR_MODEL', `"${spec}" is neither a .onnx path nor a known model (${KNOWN_MODELS.map((m) => m.name).join(', ')})`);
  for (const d of modelDirs()) {
    for (const candidate of [join(d, known.file), join(d, known.file.split('/').pop()!)]) if (existsSync(candidate)) return candidate;
  }
  throw new SluiceError('SLUICE_ERR_MODEL', `model ${spec} is not in ${modelDirs().join(' or ')}; set SLUICE_MODEL_DIR to a folder holding ${known.file}`);
}
