// What the tests of the live viewer page share: one raw HTTP request (fetch may not set Host),
// the page's own counters (window.sluiceStats), waiting for it to play, and the colour the
// <video> shows at a point (testsrc's bars are known colours).
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';

/** testsrc pattern=bars: the seven bars' RGB, left to right. */
export const BARS = [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191]];

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
/** One HTTP request with full control of its headers (fetch may not set Host). */
export function http(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { b += d; });
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: b }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

export type Stats = { mode: string; mount: string; state?: string; frames: number; fps: number; latency: number[]; codes: number; error: string; session?: string; times: Record<string, number> };
export const stats = (page: Page) => page.evaluate('window.sluiceStats') as Promise<Stats>;

/** The page's stats once it has shown a few frames. */
export async function waitPlaying(page: Page, ms = 15_000): Promise<Stats> {
  const t0 = Date.now();
  for (;;) {
    // (Undefined until the page's script has run: a loader may fetch the page first.)
    const s = await stats(page);
    if (s && s.frames >= 5) return s;
    if (Date.now() - t0 > ms) throw new Error(`no frames within ${ms} ms: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

/** Mean RGB of a 9x9 block around (x, y) of the frame the <video> shows now. */
export function colourAt(page: Page, x: number, y: number): Promise<number[]> {
  return page.evaluate(`(() => {
    const v = document.querySelector('video');
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    const d = g.getImageData(${x} - 4, ${y} - 4, 9, 9).data;
    const s = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { s[0] += d[i]; s[1] += d[i + 1]; s[2] += d[i + 2]; }
    return s.map((v) => Math.round(v / 81));
  })()`) as Promise<number[]>;
}
