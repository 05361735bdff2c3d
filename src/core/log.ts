// Category logging controlled like GST_DEBUG: SLUICE_DEBUG="infer:5,*:2".
// Levels: 0 none, 1 error, 2 warning, 3 fixme, 4 info, 5 debug, 6 log, 7 trace.

export type Level = 1 | 2 | 3 | 4 | 5 | 6 | 7;
const NAMES = ['', 'ERROR', 'WARN', 'FIXME', 'INFO', 'DEBUG', 'LOG', 'TRACE'];

export interface Logger {
  readonly category: string;
  enabled(level: Level): boolean;
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
}

interface Rule { pattern: RegExp; level: number }

function parseSpec(spec: string | undefined): Rule[] {
  if (!spec) return [];
  const rules: Rule[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*([^:]+?)\s*(?::\s*(\d))?\s*$/.exec(part);
    if (!m) continue;
    const glob = m[1]!;
    const level = m[2] === undefined ? 4 : Number(m[2]);
    const re = new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
    rules.push({ pattern: re, level });
  }
  return rules;
}

let rules = parseSpec(process.env.SLUICE_DEBUG);
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');
const start = performance.now();

/** Reconfigure (tests, CLI --debug). */
export function configureLogging(spec: string | undefined, out?: (line: string) => void): void {
  rules = parseSpec(spec);
  if (out) sink = out;
}

function levelFor(category: string): number {
  // Later rules win, as in GST_DEBUG; default: errors and warnings only.
  let level = 2;
  for (const r of rules) if (r.pattern.test(category)) level = r.level;
  return level;
}

export function getLogger(category: string): Logger {
  const at = (lvl: Level) => (msg: string) => {
    if (levelFor(category) < lvl) return;
    const t = ((performance.now() - start) / 1000).toFixed(3).padStart(9);
    sink(`${t} ${NAMES[lvl]!.padEnd(5)} ${category}: ${msg}`);
  };
  return {
    category,
    enabled: (lvl) => levelFor(category) >= lvl,
    error: at(1),
    warn: at(2),
    info: at(4),
    debug: at(5),
    trace: at(7),
  };
}
