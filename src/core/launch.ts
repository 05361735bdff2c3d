// gst-launch style syntax: `a prop=v ! b ! c`, quoted values, `name=x` and `x.` / `x.pad`
// references for branches and joins. Produces a GraphSpec; errors carry a caret.
import { Err } from './errors.ts';
import { pointAt, type ElementSpec, type EndSpec, type GraphSpec, type LinkSpec, type Loc } from './graph.ts';

type Tok =
  | { kind: 'bang'; loc: Loc }
  | { kind: 'word'; text: string; loc: Loc }
  | { kind: 'prop'; key: string; value: string; loc: Loc; valueLoc: Loc }
  | { kind: 'ref'; name: string; pad?: string; loc: Loc };

function locator(text: string) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return (offset: number, len: number): Loc => {
    let line = 0;
    while (line + 1 < starts.length && starts[line + 1]! <= offset) line++;
    return { line: line + 1, col: offset - starts[line]! + 1, len: Math.max(1, len) };
  };
}

function tokenize(text: string): Tok[] {
  const at = locator(text);
  const spec = { text };
  const toks: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '!') { toks.push({ kind: 'bang', loc: at(i, 1) }); i++; continue; }
    const start = i;
    let raw = '';
    let eq = -1;
    let valueStart = -1;
    while (i < text.length && !/\s/.test(text[i]!) && text[i] !== '!') {
      const ch = text[i]!;
      if (ch === '"' || ch === "'") {
        const close = text.indexOf(ch, i + 1);
        if (close < 0) {
          throw new Err.PARSE(`unterminated quote: add the closing ${ch}`, { detail: pointAt(spec, at(i, 1)) });
        }
        raw += text.slice(i + 1, close);
        i = close + 1;
        continue;
      }
      if (ch === '=' && eq < 0) { eq = raw.length; valueStart = i + 1; }
      if (ch === '\\' && i + 1 < text.length) { raw += text[i + 1]; i += 2; continue; }
      raw += ch;
      i++;
    }
    const loc = at(start, i - start);
    if (eq >= 0) {
      const key = raw.slice(0, eq);
      if (!/^[A-Za-z_][\w-]*$/.test(key)) {
        throw new Err.PARSE(`"${key}" is not a property name (expected name=value)`, { detail: pointAt(spec, loc) });
      }
      toks.push({ kind: 'prop', key, value: raw.slice(eq + 1), loc, valueLoc: at(valueStart, i - valueStart) });
      continue;
    }
    const ref = /^([A-Za-z_][\w-]*)\.([\w%-]*)$/.exec(raw);
    if (ref) {
      toks.push({ kind: 'ref', name: ref[1]!, pad: ref[2] || undefined, loc });
      continue;
    }
    if (!/^[A-Za-z_][\w-]*$/.test(raw)) {
      throw new Err.PARSE(`"${raw}" is not an element name, a property (name=value) or a reference (name.)`, { detail: pointAt(spec, loc) });
    }
    toks.push({ kind: 'word', text: raw, loc });
  }
  return toks;
}

export function parseLaunch(text: string): GraphSpec {
  const toks = tokenize(text);
  const spec: GraphSpec = { elements: [], links: [], text };
  if (toks.length === 0) {
    throw new Err.PARSE('empty pipeline: expected an element such as "testsrc ! fakesink"');
  }
  let i = 0;
  const expected = 'expected an element name or a reference like t.';
  const parseItem = (): EndSpec & { el?: ElementSpec } => {
    const t = toks[i];
    if (!t) {
      const last = toks[toks.length - 1]!;
      throw new Err.PARSE(`pipeline ends after "!": ${expected}`, { detail: pointAt(spec, { ...last.loc, col: last.loc.col + last.loc.len, len: 1 }) });
    }
    if (t.kind === 'ref') { i++; return { ref: t.name, pad: t.pad, loc: t.loc }; }
    if (t.kind === 'bang') throw new Err.PARSE(`unexpected "!": ${expected}`, { detail: pointAt(spec, t.loc) });
    if (t.kind === 'prop') {
      throw new Err.PARSE(`property "${t.key}" has no element before it: ${expected}`, { detail: pointAt(spec, t.loc) });
    }
    i++;
    const el: ElementSpec = { id: spec.elements.length, type: t.text, props: [], loc: t.loc };
    while (toks[i]?.kind === 'prop') {
      const p = toks[i] as Extract<Tok, { kind: 'prop' }>;
      i++;
      if (p.key === 'name') { el.name = p.value; continue; }
      el.props.push({ key: p.key, value: p.value, loc: p.loc, valueLoc: p.valueLoc });
    }
    spec.elements.push(el);
    return { ref: el.id, loc: el.loc, el };
  };
  while (i < toks.length) {
    let prev = parseItem();
    while (toks[i]?.kind === 'bang') {
      i++;
      const next = parseItem();
      const link: LinkSpec = { from: { ref: prev.ref, pad: prev.el ? undefined : prev.pad, loc: prev.loc }, to: { ref: next.ref, pad: next.el ? undefined : next.pad, loc: next.loc } };
      spec.links.push(link);
      prev = next;
    }
  }
  return spec;
}
