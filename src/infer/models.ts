// Model names: a path, or a well-known name looked up in SLUICE_MODEL_DIR (an offline mirror
// laid out as NAME/FILE or just FILE) and the user's cache.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SluiceError, Err } from '../core/errors.ts';

export interface KnownModel {
  name: string;
  /** Upstream download (pinned commit), checked against sha256. */
  url?: string;
  file: string;
  adapter: string;
  task: string;
  licence: string;
  sha256: string;
  labels?: string;
}

export const KNOWN_MODELS: KnownModel[] = [
  { name: 'yolox_nano', url: 'https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/3d4f1119d0694200671c08069ecb847aa0d8495a/model/yolox_nano.onnx', file: 'yolox/yolox_nano.onnx', adapter: 'yolox', task: 'COCO-80 detector 416x416', licence: 'Apache-2.0', sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14' },
  { name: 'nanodet_m', url: 'https://raw.githubusercontent.com/Kazuhito00/MOT-Tracking-by-Detection-Pipeline/e50a76b8b430b778276e7fd04fd4cafd5d45eab2/Detector/nanodet/model/nanodet_m_320.onnx', file: 'nanodet/nanodet_m_320.onnx', adapter: 'nanodet', task: 'COCO-80 detector 320x320', licence: 'Apache-2.0', sha256: '88e9fb97a54bb0030127ad323a10f88b4531b6aa82617e7ef79e35ffcc9bb3e1' },
  { name: 'light_person', url: 'https://raw.githubusercontent.com/Kazuhito00/MOT-Tracking-by-Detection-Pipeline/e50a76b8b430b778276e7fd04fd4cafd5d45eab2/Detector/light_person_detector/model/model.onnx', file: 'light_person_detector/light_person_detector_192.onnx', adapter: 'yolox', task: 'person detector 192x192', licence: 'Apache-2.0', sha256: '4bf5f704cd3bd900645a4303e0934ede13d9fb2135058b38005f4c2886c68576' },
  { name: 'ultraface', url: 'https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/dffdddda9794a50607cba8f318507a28c1c27cab/models/onnx/version-RFB-320.onnx', file: 'ultraface/version-RFB-320.onnx', adapter: 'ultraface', task: 'face detector 320x240', licence: 'MIT', sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017' },
  { name: 'ultraface_640', url: 'https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/dffdddda9794a50607cba8f318507a28c1c27cab/models/onnx/version-RFB-640.onnx', file: 'ultraface/version-RFB-640.onnx', adapter: 'ultraface', task: 'face detector 640x480', licence: 'MIT', sha256: '8f4c659275977e7a3bfbfa339a9c769ad793df50f9c0baa8c14b11baa1646430' },
  { name: 'yunet', url: 'https://raw.githubusercontent.com/Kazuhito00/Image-Processing-Node-Editor/46979d5b8eacb181abe970e4dd18e8f4cf0e750b/node/deep_learning_node/face_detection/YuNet/model/face_detection_yunet_120x160.onnx', file: 'yunet/face_detection_yunet_120x160.onnx', adapter: 'yunet', task: 'face detector + landmarks 160x120', licence: 'MIT', sha256: 'c89f94fc04a5db6f9ab39df6b1e4142007dd61781ef7e3a5b9b175bb0abb8c11' },
  { name: 'mobilenetv2', url: 'https://raw.githubusercontent.com/Lawrence-lugs/MARP/92ce10f77c2359b68699e6fe9a16d09c106532c8/onnx_models/mobilenetv2-12-int8.onnx', file: 'mobilenetv2/mobilenetv2-12-int8.onnx', adapter: 'classify', task: 'ImageNet classifier 224x224', licence: 'Apache-2.0', sha256: 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f', labels: 'mobilenetv2/synset.txt' },
  { name: 'deeplabv3', url: 'https://raw.githubusercontent.com/Kazuhito00/Image-Processing-Node-Editor/46979d5b8eacb181abe970e4dd18e8f4cf0e750b/node/deep_learning_node/semantic_segmentation/deeplab_v3/model/deeplab_v3_1_default_1.onnx', file: 'deeplabv3/deeplabv3_mnv2_voc_257.onnx', adapter: 'segment', task: 'VOC segmentation 257x257', licence: 'Apache-2.0', sha256: '48a46b346ca7e2e96760b8a10a302046a3b5a9ce55e59d4c659c36d9cbd44118' },
  { name: 'reid', url: 'https://raw.githubusercontent.com/Kazuhito00/MOT-Tracking-by-Detection-Pipeline/e50a76b8b430b778276e7fd04fd4cafd5d45eab2/Tracker/person_reid/model/person-reidentification-retail-0287.onnx', file: 'reid/person-reidentification-retail-0287.onnx', adapter: 'embed', task: 'person re-ID embedding 128x256', licence: 'Apache-2.0', sha256: 'f35a22885b93aa0c249d665b4cf5510d08ded92f814694c3c2fec0112b0d3a56' },
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
    if (!existsSync(spec)) throw new Err.FILE_NOT_FOUND(`model file not found: ${spec}`);
    return spec;
  }
  const known = KNOWN_MODELS.find((m) => m.name === spec);
  if (!known) throw new Err.MODEL(`"${spec}" is neither a .onnx path nor a known model (${KNOWN_MODELS.map((m) => m.name).join(', ')})`);
  for (const d of modelDirs()) {
    for (const candidate of [join(d, known.file), join(d, known.file.split('/').pop()!)]) if (existsSync(candidate)) return candidate;
  }
  throw new Err.MODEL(`model ${spec} is not in ${modelDirs().join(' or ')}; fetch it with "sluice models pull ${spec}", or set SLUICE_MODEL_DIR to a folder holding ${known.file}`);
}

/**
 * The labels file of a known model, looked for beside the model file and in the model folder's
 * parent (the layout of `sluice models pull`'s cache and of the test assets), or null.
 */
export function knownLabels(modelPath: string): string | null {
  const known = KNOWN_MODELS.find((m) => m.labels && m.file.split('/').pop() === modelPath.split('/').pop());
  if (!known?.labels) return null;
  const dir = dirname(modelPath);
  for (const c of [join(dir, known.labels.split('/').pop()!), join(dir, '..', known.labels)]) if (existsSync(c)) return c;
  return null;
}

/** Where `sluice models pull` keeps models. */
export function cacheDir(): string {
  return modelDirs().at(-1)!;
}

/**
 * Make a known model available in the cache: from the SLUICE_MODEL_DIR mirror when it has it,
 * else from its upstream URL; either way checked against the registry's sha256.
 */
export async function pullModel(name: string, log: (s: string) => void = () => {}): Promise<string> {
  const known = KNOWN_MODELS.find((m) => m.name === name);
  if (!known) throw new Err.MODEL(`unknown model "${name}"; known: ${KNOWN_MODELS.map((m) => m.name).join(', ')}`);
  const { createHash } = await import('node:crypto');
  const { mkdirSync, readFileSync, renameSync, writeFileSync } = await import('node:fs');
  const dest = join(cacheDir(), known.file);
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  if (existsSync(dest) && sha(readFileSync(dest)) === known.sha256) { log(`${name}: already in ${dest}`); return dest; }
  let bytes: Uint8Array | null = null;
  const mirror = process.env.SLUICE_MODEL_DIR;
  if (mirror) {
    for (const c of [join(mirror, known.file), join(mirror, known.file.split('/').pop()!)]) {
      if (existsSync(c)) { bytes = readFileSync(c); log(`${name}: copying from ${c}`); break; }
    }
  }
  if (!bytes) {
    if (!known.url) throw new Err.MODEL(`${name} has no download address; put ${known.file} in SLUICE_MODEL_DIR`);
    log(`${name}: downloading ${known.url}`);
    let res: Response;
    try {
      res = await fetch(known.url);
    } catch (e) {
      throw new Err.IO(`cannot download ${name} from ${known.url} (${(e as Error).message}); offline, set SLUICE_MODEL_DIR to a folder holding ${known.file}`);
    }
    if (!res.ok) throw new Err.IO(`downloading ${name} failed: HTTP ${res.status} from ${known.url}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  const got = sha(bytes);
  if (got !== known.sha256) throw new Err.MODEL(`${name}: sha256 ${got} does not match the registry's ${known.sha256}; the file is not the expected model`);
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest + '.part', bytes);
  renameSync(dest + '.part', dest);
  log(`${name}: saved ${dest}`);
  return dest;
}
