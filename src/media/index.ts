// The media API for elements written outside this repository (plugins): what built-in elements
// use to reach a frame's pixels, make new frames, scale and encode.
export { AVPixels, PacketPixels, avOf, allocVideoFrame, pixFmtName, pixFmtFromName, toPts, writePlanes, TIME_BASE, type AVFrame } from './av.ts';
export { Scaler, scaleFrame, placement, type ScaleSpec, type Placement } from './scale.ts';
export { VideoEncoder, type EncodeSpec, type Codec } from './writer.ts';
export { writableCanvas, fillRect, rgbToYuv, type Canvas } from '../draw/planes.ts';
