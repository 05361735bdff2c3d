// The clip routes of `sluice serve` (behind the API's token check): the clips `record` wrote for a
// stream, one clip's bytes with HTTP range requests (a browser's <video> seeks with them), and a
// trigger. A clip is named by its file name alone; anything that is not a plain clip or sidecar
// name of a record folder is refused before the file system is touched (no path traversal).
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Err } from '../core/errors.ts';
import { listClips, recorders } from '../elements/record.ts';
import type { Service } from './service.ts';

/** What a clip name may be: the names record makes, and nothing with a path in it. */
const CLIP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.(mp4|json)$/;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}

/** bytes=A-B, bytes=A-, bytes=-N (one range): [start, end] inclusive, or null when unsatisfiable. */
export function parseRange(header: string, size: number): [number, number] | null | 'ignore' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore';
  let start: number, end: number;
  if (m[1] === '') { const n = Number(m[2]); if (n === 0) return null; start = Math.max(0, size - n); end = size - 1; }
  else { start = Number(m[1]); end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1); }
  if (start >= size || end < start) return null;
  return [start, end];
}

/**
 * The handler of the clip routes: true when it answered. `decode` turns a path segment into text
 * (a malformed escape is a 400), `count` records a refusal by reason for /metrics.
 */
export function clipRoutes(service: Service, decode: (s: string) => string, count: (reason: string) => void) {
  const folders = () => [...new Set(recorders(service.pipeline).map((r) => r.location))];
  return async (req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<boolean> => {
    const rec = /^\/v1\/streams\/([^/]+)\/record$/.exec(path);
    if (rec && method === 'POST') {
      const info = service.get(decode(rec[1]!));
      req.resume();
      const rs = recorders(service.pipeline).filter((r) => r.streams.includes(info.stream));
      if (!rs.length) throw new Err.NOT_FOUND(`no record element records stream ${info.id}: add "! encode ! record location=DIR" to the service's chain`);
      for (const r of rs) r.trigger({ stream: rs.some((x) => x.streams.length === 1) ? info.stream : undefined, reason: 'api' });
      json(res, 202, { stream: info.id, recorders: rs.length, folders: rs.map((r) => r.location) });
      return true;
    }
    const list = /^\/v1\/streams\/([^/]+)\/clips$/.exec(path);
    if (list && method === 'GET') {
      const info = service.get(decode(list[1]!));
      const clips: Record<string, unknown>[] = [];
      for (const r of recorders(service.pipeline).filter((x) => x.streams.includes(info.stream))) {
        for (const c of listClips(r.location)) {
          let side: Record<string, unknown> = {};
          try { side = JSON.parse(readFileSync(c.path.replace(/\.mp4$/, '.json'), 'utf8')) as Record<string, unknown>; } catch { /* a clip without its sidecar yet */ }
          // A composite recorder's clips (after tile) are every stream's.
          if (r.streams.length === 1 && side.stream !== undefined && side.stream !== info.stream && side.stream_id !== info.id) continue;
          clips.push({ name: c.name, bytes: c.bytes, url: `/v1/clips/${encodeURIComponent(c.name)}`, start: side.start, end: side.end, duration: side.duration, started_at: side.started_at, recording: side.recording ?? false, triggers: side.triggers });
        }
      }
      json(res, 200, { stream: info.id, clips });
      return true;
    }
    const one = /^\/v1\/clips\/([^/]+)$/.exec(path);
    if (one && (method === 'GET' || method === 'HEAD')) {
      const name = decode(one[1]!);
      if (!CLIP_NAME.test(name)) { count('path'); throw new Err.API_BODY(`"${name.slice(0, 80)}" is not a clip name (NAME.mp4 or NAME.json, as GET /v1/streams/{id}/clips lists them)`); }
      let file = '', size = 0;
      for (const dir of folders()) {
        try { const st = statSync(join(dir, name)); if (st.isFile()) { file = join(dir, name); size = st.size; break; } } catch { /* not in this folder */ }
      }
      if (!file) throw new Err.NOT_FOUND(`no clip ${name}; GET /v1/streams/{id}/clips lists them`);
      const type = name.endsWith('.json') ? 'application/json' : 'video/mp4';
      const range = req.headers.range ? parseRange(req.headers.range, size) : 'ignore';
      if (range === null) { res.writeHead(416, { 'content-range': `bytes */${size}`, 'accept-ranges': 'bytes' }).end(); return true; }
      const [start, end] = range === 'ignore' ? [0, size - 1] : range;
      res.writeHead(range === 'ignore' ? 200 : 206, {
        'content-type': type, 'accept-ranges': 'bytes', 'content-length': String(Math.max(0, end - start + 1)),
        ...(range === 'ignore' ? {} : { 'content-range': `bytes ${start}-${end}/${size}` }),
      });
      if (method === 'HEAD' || size === 0) { res.end(); return true; }
      const rs = createReadStream(file, { start, end });
      rs.on('error', () => res.destroy());
      rs.pipe(res);
      return true;
    }
    return false;
  };
}

/** The OpenAPI paths of these routes. */
export const CLIP_PATHS = {
  '/v1/streams/{id}/record': { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], post: { summary: 'Trigger a clip of this stream (the record elements that record it)', responses: { 202: { description: 'triggered' }, 404: { description: 'unknown id, or no record element records it' } } } },
  '/v1/streams/{id}/clips': { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], get: { summary: 'The clips written for this stream, oldest first', responses: { 200: { description: 'clips' } } } },
  '/v1/clips/{name}': { parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], get: { summary: 'A clip (video/mp4, HTTP range requests) or its sidecar (.json)', responses: { 200: { description: 'the file' }, 206: { description: 'a range of it' }, 400: { description: 'not a clip name' }, 404: { description: 'no such clip' }, 416: { description: 'range not satisfiable' } } } },
} as const;
