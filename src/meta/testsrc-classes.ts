// The classes testsrc draws (ids, names, colours) and its background: the source draws them and
// the built-in colour model (infer/colour-model.ts) recognises them, so the table sits below both.

/** Class ids of testsrc objects and their colours (RGB). */
export const TESTSRC_CLASSES = [
  { name: 'red', rgb: [220, 40, 40] },
  { name: 'green', rgb: [40, 200, 60] },
  { name: 'blue', rgb: [50, 80, 230] },
  { name: 'yellow', rgb: [235, 220, 40] },
] as const;

/** Background grey of pattern=objects (RGB). */
export const TESTSRC_BACKGROUND = [51, 51, 51] as const;
