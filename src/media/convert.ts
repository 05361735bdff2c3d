// The pipeline's format converter (what libavfilter's auto-inserted scale is to a filter graph):
// frames reaching a pad in a pixel format it does not take are converted with swscale, one
// scaler per pad, sizes and meta boxes unchanged.
import { setFormatConverter, type FormatConverter } from '../core/pipeline.ts';
import { Scaler, scaleFrame } from './scale.ts';

const scalers = new Map<object, Scaler>();

export const swscaleConverter: FormatConverter = {
  async convert(frame, format, key) {
    let s = scalers.get(key);
    if (!s) {
      s = new Scaler({ width: 0, height: 0, format, letterbox: false, placement: 'center', padColor: 'black', method: 'bilinear' });
      scalers.set(key, s);
    }
    await scaleFrame(s, frame, 'convert');
  },
  release(key) {
    scalers.get(key)?.close();
    scalers.delete(key);
  },
};
setFormatConverter(swscaleConverter);
