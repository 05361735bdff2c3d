// NVSS's dummy example with the library API: no pipeline, just the two servers and a loop.
// The loop never waits on the network: readNowait() hands over the newest camera frame at once
// (repeating the last one when nothing new came), write() hands the result over and returns.
//   npx node examples/remote/invert.ts   (npx node: the clone's Node 24, which runs TypeScript) [camera-port] [viewer-port]
//   (laptop) npx sluice webcam-client --server GPU_BOX:9000 --file video.mp4
//   (laptop) npx sluice view --server GPU_BOX:9001
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { StreamServer, WebcamServer, invertFull } from '../../src/index.ts';

const cam = new WebcamServer({ port: Number(process.argv[2] ?? 9000), token: process.env.SLUICE_TOKEN });
const out = new StreamServer({ port: Number(process.argv[3] ?? 9001), token: process.env.SLUICE_TOKEN });
const a = await cam.listen();
const b = await out.listen();
console.log(`camera on ${a.host}:${a.port}, viewers on ${b.host}:${b.port}; Ctrl-C stops`);

let running = true;
process.once('SIGINT', () => { running = false; });
let dst = new Uint8Array(0);
while (running) {
  const { frame } = cam.readNowait();
  if (frame) {
    if (dst.length !== frame.data.length) dst = new Uint8Array(frame.data.length);
    invertFull(frame.data, dst); // the "model"
    // Passing the camera frame's seq and ts: results for a frame already sent cost nothing;
    // its client: with several browser pages as cameras, each sees only its own results.
    out.write({ ...frame, data: dst }, { seq: frame.seq, ts: frame.ts, client: frame.client });
  }
  // Give the sockets and codec workers their turn (they report on this thread).
  await yieldLoop();
}
await cam.close();
await out.close();
