// Which sources a stream of `sluice serve` may read. A stream's uri comes from whoever can reach
// the API (or a serve file), and FFmpeg opens far more than cameras: `tcp://...?listen=1` opens a
// listening socket, `concat:`/`pipe:` read anything, `/etc/shadow` tells by its error whether it
// exists, `http://127.0.0.1:PORT/` reaches services bound to loopback (SSRF), and a FIFO blocks
// the open forever. So, as a careful REST service does: the schemes a camera uses, no FFmpeg
// options in the URL, local files only under the folders the operator allowed, regular files (or
// /dev/video* cameras) only, and http(s) to loopback or link-local addresses only when asked.
// `sluice launch` (the user's own command line) is not restricted.
import { realpathSync, statSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Err } from '../core/errors.ts';

export interface SourcePolicy {
  /** URL schemes a stream may use (lower case, without ':'). */
  schemes: string[];
  /** Folders (canonical) local files must be under; none: no local files. */
  dirs: string[];
  /** http(s) to loopback, link-local or unspecified addresses (127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10, 0.0.0.0). */
  localHttp: boolean;
}

export const DEFAULT_SCHEMES = ['rtsp', 'rtsps', 'http', 'https'];

/**
 * Query keys FFmpeg's protocols read as options (tcp, udp, rtp, srt, rtsp's own transport
 * switches). A camera's own query (`?channel=1&subtype=0`) passes; these are refused so a URL
 * cannot turn a client into a listener or rebind sockets.
 */
const FFMPEG_URL_OPTIONS = new Set([
  'listen', 'listen_timeout', 'listen_backlog', 'local_port', 'localport', 'local_addr', 'localaddr', 'reuse', 'reuse_socket',
  'connect', 'sources', 'block', 'fifo_size', 'overrun_nonfatal', 'pkt_size', 'buffer_size', 'recv_buffer_size', 'send_buffer_size',
  'ttl', 'broadcast', 'multicast', 'dscp', 'bitrate', 'burst_bits', 'rtcpport', 'localrtpport', 'localrtcpport', 'write_to_source',
  'timeout', 'tcp_nodelay', 'tcp_mss', 'mode', 'passphrase', 'streamid', 'transtype',
]);

/** A policy from the operator's flags: relative folders are taken from `base`. */
export function sourcePolicy(o: { schemes?: string[]; dirs?: string[]; localHttp?: boolean; base?: string } = {}): SourcePolicy {
  const dirs: string[] = [];
  for (const d of o.dirs ?? []) {
    const abs = resolve(o.base ?? process.cwd(), d);
    let why = '';
    try {
      if (statSync(abs).isDirectory()) dirs.push(realpathSync(abs));
      else why = 'not a directory';
    } catch (e) {
      why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
    if (why) throw new Err.PROPERTY(`--allow-dir ${d}: ${abs} is not a readable folder (${why}); give a folder that exists`);
  }
  const schemes = (o.schemes?.length ? o.schemes : DEFAULT_SCHEMES).map((s) => s.toLowerCase().replace(/:$/, ''));
  for (const s of schemes) if (!/^[a-z][a-z0-9+.-]*$/.test(s) || s === 'file') throw new Err.PROPERTY(`--allow-scheme ${s}: give a URL scheme such as rtsp or https (local files are allowed with --allow-dir)`);
  return { schemes, dirs, localHttp: !!o.localHttp };
}

const inside = (dir: string, p: string) => {
  const r = relative(dir, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
};

/** Loopback, link-local or unspecified (routes to this host): where a service's private ports live. */
export function isLocalAddress(a: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.\d+\.\d+$/i.exec(a);
  if (v4) {
    const [x, y] = [Number(v4[1]), Number(v4[2])];
    return x === 127 || x === 0 || (x === 169 && y === 254);
  }
  const l = a.toLowerCase();
  return l === '::1' || l === '::' || /^fe[89ab][0-9a-f]:/.test(l);
}

function denied(message: string): never {
  throw new Err.SOURCE_DENIED(message);
}

/** The refusal for any local path the policy does not cover: the same words whether it exists or not. */
function outsideRoots(path: string, p: SourcePolicy): never {
  denied(p.dirs.length
    ? `${path} is not under a folder streams may read (${p.dirs.join(', ')}); start serve with --allow-dir FOLDER to add one`
    : `local files are not allowed for streams of this service; start serve with --allow-dir FOLDER to allow a folder`);
}

/**
 * Check `uri` against the policy and give the location the source should open: a URL as it is,
 * a local file as its canonical absolute path (so FFmpeg cannot read a protocol prefix in it).
 * Throws SLUICE_ERR_SOURCE_DENIED (403) or, for a missing file under an allowed folder,
 * SLUICE_ERR_FILE_NOT_FOUND.
 */
export async function checkSource(uri: string, p: SourcePolicy): Promise<string> {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  // One letter before ':' would be a Windows drive; no such paths here, so it is a scheme too.
  if (scheme && scheme !== 'file') return checkUrl(uri, scheme, p);
  let path = uri;
  if (scheme === 'file') {
    try { path = fileURLToPath(uri); } catch { denied(`${uri} is not a file URL sluice can read; give file:///absolute/path or a plain path`); }
  }
  const abs = resolve(path);
  // Decided on the name alone first: a path outside every root is refused before the file
  // system is touched, so the answer cannot tell whether it exists.
  if (!p.dirs.some((d) => inside(d, abs))) outsideRoots(abs, p);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch {
    throw new Err.FILE_NOT_FOUND(`input file not found: ${abs} (check the uri)`);
  }
  // A symbolic link inside a root that points outside it is outside.
  if (!p.dirs.some((d) => inside(d, real))) outsideRoots(abs, p);
  const st = statSync(real);
  if (st.isFile()) return real;
  if (st.isCharacterDevice() && /^\/dev\/video\d+$/.test(real)) return real;
  // A FIFO or socket would block the open (and the API, and shutdown) until a writer comes.
  denied(`${abs} is not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}); streams read video files, or cameras at /dev/video*`);
}

async function checkUrl(uri: string, scheme: string, p: SourcePolicy): Promise<string> {
  if (!p.schemes.includes(scheme)) denied(`${scheme}: sources are not allowed for streams of this service (allowed: ${p.schemes.join(', ')}${p.dirs.length ? ', and files under --allow-dir folders' : ''}); start serve with --allow-scheme ${scheme} to allow it`);
  let u: URL;
  try { u = new URL(uri); } catch { denied(`${uri.replace(/\/\/[^@/]*@/, '//***@')} is not a valid URL`); }
  for (const k of u.searchParams.keys()) {
    if (FFMPEG_URL_OPTIONS.has(k.toLowerCase())) denied(`the URL sets FFmpeg's "${k}" option (?${k}=); options in a stream's URL are refused, remove it`);
  }
  if ((scheme === 'http' || scheme === 'https') && !p.localHttp) {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    let addrs: string[];
    if (isIP(host)) addrs = [host];
    else {
      // Every address the name has: one local address is enough to reach a private port.
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 3000);
      try {
        addrs = (await Promise.race([lookup(host, { all: true }), new Promise<never>((_r, rej) => ac.signal.addEventListener('abort', () => rej(new Error('no answer within 3 s'))))])).map((a) => a.address);
      } catch (e) {
        throw new Err.MEDIA_OPEN(`cannot resolve ${host}: ${(e as Error).message}`);
      } finally {
        clearTimeout(t);
      }
    }
    const local = addrs.find(isLocalAddress);
    if (local) denied(`${scheme}:// to ${host}${host === local ? '' : ` (${local})`}, a loopback or link-local address, is refused (it reaches this host's private ports); start serve with --allow-local-http to allow it`);
  }
  return uri;
}
