// Built-in elements: each file declares one element with the public element API.
import { Registry } from '../core/registry.ts';
// Pads that take only some pixel formats get frames converted for them (swscale).
import '../media/convert.ts';
import type { ElementDef } from '../core/element.ts';
import analytics from './analytics.ts';
import blur from './blur.ts';
import demux from './demux.ts';
import display from './display.ts';
import encode from './encode.ts';
import fakesink from './fakesink.ts';
import file from './file.ts';
import identity from './identity.ts';
import infer from './infer.ts';
import invert from './invert.ts';
import meta from './meta.ts';
import mqtt from './mqtt.ts';
import mux from './mux.ts';
import nats from './nats.ts';
import netcam from './netcam.ts';
import osd from './osd.ts';
import queue from './queue.ts';
import rate from './rate.ts';
import redis from './redis.ts';
import rtsp from './rtsp.ts';
import scale from './scale.ts';
import snapshot from './snapshot.ts';
import tee from './tee.ts';
import testsrc from './testsrc.ts';
import tile from './tile.ts';
import track from './track.ts';
import record from './record.ts';
import uri from './uri.ts';
import webrtc from './webrtc.ts';
import hls from './hls.ts';

export const builtins: ElementDef[] = [analytics, blur, demux, display, encode, fakesink, file, identity, infer, invert, meta, mqtt, mux, nats, netcam, osd, queue, rate, record, redis, rtsp, scale, snapshot, tee, testsrc, tile, track, uri, webrtc, hls] as ElementDef[];

export function defaultRegistry(): Registry {
  const r = new Registry();
  for (const d of builtins) r.register(d);
  return r;
}
