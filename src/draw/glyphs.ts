// Text for overlays: glyphs rasterised once per size and character with @napi-rs/canvas (DejaVu
// Sans, shipped as an npm package so no system font is needed: Latin, Greek, Cyrillic, symbols)
// into alpha bitmaps, printable ASCII up front and any other character the first time a label
// uses it; drawing a label then only blends the few pixels under its glyphs.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';

export interface Glyph { w: number; h: number; advance: number; alpha: Uint8Array }
export interface Font { size: number; height: number; glyphs: Map<number, Glyph>; raster: (cp: number) => Glyph }

/** Characters kept per size beyond ASCII (labels come from label files; memory stays bounded). */
const MAX_GLYPHS = 4096;

let registered = false;
const fonts = new Map<number, Font>();

function register(): void {
  if (registered) return;
  const req = createRequire(import.meta.url);
  const dir = dirname(req.resolve('dejavu-fonts-ttf/package.json'));
  GlobalFonts.registerFromPath(join(dir, 'ttf', 'DejaVuSans-Bold.ttf'), 'SluiceOverlay');
  registered = true;
}

export function font(size: number): Font {
  const have = fonts.get(size);
  if (have) return have;
  register();
  const h = Math.ceil(size * 1.25);
  const canvas = createCanvas(size * 2, h);
  const g = canvas.getContext('2d');
  // The bundled font first; system fonts (where installed) for what it lacks, e.g. CJK.
  g.font = `${size}px SluiceOverlay, sans-serif`;
  g.textBaseline = 'top';
  const glyphs = new Map<number, Glyph>();
  const raster = (cp: number): Glyph => {
    const ch = String.fromCodePoint(cp);
    const advance = Math.ceil(g.measureText(ch).width);
    g.fillStyle = '#000';
    g.fillRect(0, 0, size * 2, h);
    g.fillStyle = '#fff';
    g.fillText(ch, 0, Math.round(size * 0.1));
    const w = Math.max(1, Math.min(size * 2, advance + 1));
    const img = g.getImageData(0, 0, w, h).data;
    const alpha = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) alpha[i] = img[i * 4]!;
    return { w, h, advance: Math.max(1, advance), alpha };
  };
  for (let c = 32; c < 127; c++) glyphs.set(c, raster(c));
  const f = { size, height: h, glyphs, raster };
  fonts.set(size, f);
  return f;
}

/** The glyph of one character (a code point), rasterised on first use; '?' once the cache is full. */
export function glyphOf(f: Font, ch: string): Glyph {
  const cp = ch.codePointAt(0)!;
  let gl = f.glyphs.get(cp);
  if (!gl) {
    if (cp < 32 || f.glyphs.size >= 95 + MAX_GLYPHS) return f.glyphs.get(63)!;
    gl = f.raster(cp);
    f.glyphs.set(cp, gl);
  }
  return gl;
}

export function textWidth(f: Font, s: string): number {
  let w = 0;
  for (const ch of s) w += glyphOf(f, ch).advance;
  return w;
}
