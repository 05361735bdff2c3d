// Text for overlays: printable ASCII rasterised once per size with @napi-rs/canvas (DejaVu Sans,
// shipped as an npm package so no system font is needed) into alpha bitmaps; drawing a label
// then only blends the few pixels under its glyphs.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';

export interface Glyph { w: number; h: number; advance: number; alpha: Uint8Array }
export interface Font { size: number; height: number; glyphs: Map<number, Glyph> }

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
  g.font = `${size}px SluiceOverlay`;
  g.textBaseline = 'top';
  const glyphs = new Map<number, Glyph>();
  for (let c = 32; c < 127; c++) {
    const ch = String.fromCharCode(c);
    const advance = Math.ceil(g.measureText(ch).width);
    g.fillStyle = '#000';
    g.fillRect(0, 0, size * 2, h);
    g.fillStyle = '#fff';
    g.fillText(ch, 0, Math.round(size * 0.1));
    const w = Math.max(1, Math.min(size * 2, advance + 1));
    const img = g.getImageData(0, 0, w, h).data;
    const alpha = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) alpha[i] = img[i * 4]!;
    glyphs.set(c, { w, h, advance: Math.max(1, advance), alpha });
  }
  const f = { size, height: h, glyphs };
  fonts.set(size, f);
  return f;
}

export function textWidth(f: Font, s: string): number {
  let w = 0;
  for (const ch of s) w += f.glyphs.get(ch.charCodeAt(0))?.advance ?? f.glyphs.get(63)!.advance;
  return w;
}
