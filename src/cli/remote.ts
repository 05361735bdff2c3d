// `sluice remote`: NVSS in one command. A browser on the laptop opens one page; its camera goes
// over a WebSocket into a pipeline here (netcam web=true ! <task> ! display web=true) and the
// processed frames come back on the same connection. Everything is on one port, so a single
// `ssh -L` forward reaches a GPU box.
import { Err } from '../core/errors.ts';

export const REMOTE_TASKS = {
  auto: { model: '', chain: (m: string, x: string) => `infer model=${m}${x} ! osd fps=true`, about: 'the default with --model: the adapter is detected from the model\'s tensors and osd draws its boxes, labels or masks' },
  invert: { model: '', chain: () => 'invert', about: 'photographic negative (no model: shows what streaming alone costs)' },
  classify: { model: 'mobilenetv2', chain: (m: string, x: string) => `infer model=${m} adapter=classify top-k=3 threshold=0.05${x} ! osd fps=true`, about: 'whole-frame classifier, top-3 labels drawn' },
  detect: { model: 'yolox_nano', chain: (m: string, x: string) => `infer model=${m}${x} ! osd fps=true`, about: 'object detector, boxes and labels drawn' },
  segment: { model: 'deeplabv3', chain: (m: string, x: string) => `infer model=${m} adapter=segment${x} ! osd fps=true`, about: 'semantic segmentation, class mask blended over the frame' },
  blur: { model: 'ultraface', chain: (m: string, x: string) => `infer model=${m}${x} ! blur mode=blur block=24`, about: 'detector (faces by default), detected regions blurred' },
} as const;
export type RemoteTask = keyof typeof REMOTE_TASKS;

export interface RemoteOptions { task?: string; model?: string; host: string; port: number; token: string; allowHosts?: string[]; ep?: string; labels?: string; threshold?: number; live?: boolean }

const q = (s: string) => (/^[\w./:@+-]+$/.test(s) ? s : JSON.stringify(s));

/** The pipeline that `sluice remote` runs, in launch syntax. */
export function remotePipeline(o: RemoteOptions): string {
  // No task: a model runs as whatever it is; no model either: the dummy invert.
  const task = o.task ?? (o.model ? 'auto' : 'invert');
  const t = REMOTE_TASKS[task as RemoteTask];
  if (!t) throw new Err.PROPERTY(`--task must be one of ${Object.keys(REMOTE_TASKS).join(', ')} (got "${task}")`);
  if (task === 'invert' && o.model) throw new Err.PROPERTY('--task invert runs no model; drop --model or pick another task');
  if (task === 'auto' && !o.model) throw new Err.PROPERTY('--task auto needs --model');
  let extra = '';
  if (o.ep) extra += ` ep=${q(o.ep)}`;
  if (o.labels) extra += ` labels=${q(o.labels)}`;
  if (o.threshold !== undefined) extra += ` threshold=${o.threshold}`;
  const net = `host=${q(o.host)} port=${o.port}${o.token ? ` token=${q(o.token)}` : ''}${o.allowHosts?.length ? ` allow-hosts=${q(o.allowHosts.join(','))}` : ''} web=true`;
  const head = `netcam name=camera ${net} ! ${t.chain(q(o.model || t.model), extra)}`;
  // Port 0 gives netcam and display a port each (never shared), so the viewer could not join them.
  if (o.live === false || !o.port) return `${head} ! display name=screen ${net}`;
  // The live view: the result also goes to the WebRTC viewer page (/live) on the same port; the
  // page plays it there and keeps the JPEG frames of the WebSocket as the fallback (a WebRTC
  // media path needs UDP, which an `ssh -L` forward does not carry). A leaky queue: a slow
  // encoder drops raw frames for the viewer, never holds up the WebSocket's display.
  const live = `address=${q(o.host)} port=${o.port}${o.token ? ` token=${q(o.token)}` : ''}${o.allowHosts?.length ? ` allow-hosts=${q(o.allowHosts.join(','))}` : ''} web=true`;
  return `${head} ! tee name=result result. ! queue ! display name=screen ${net} result. ! queue max-size=2 leaky=oldest ! encode preset=ultrafast tune=zerolatency gop=60 ! webrtc name=live mount=remote ${live}`;
}
