// YAML pipeline files: the same elements and properties as launch strings, with line:column
// errors. Two forms:
//   pipeline: "testsrc ! scale width=320 ! fakesink"     # a launch string
//   elements:                                            # or a list; each links from the one
//     - testsrc: { pattern: objects, num-frames: 60 }    # before it unless it is a source or
//     - tee: { name: t }                                 # says `from: NAME[.pad]` (a list of
//     - fakesink: {}                                     # names joins branches)
//     - fakesink: { from: t }
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { SluiceError, Err } from './errors.ts';
import { pointAt, type ElementSpec, type EndSpec, type GraphSpec, type Loc } from './graph.ts';
import { parseLaunch } from './launch.ts';
import type { Registry } from './registry.ts';

export function parseYaml(text: string, file: string, registry: Registry): GraphSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const spec: GraphSpec = { elements: [], links: [], text, file };
  const locOf = (node: Node | null | undefined | Pair): Loc => {
    const range = (node as Node | undefined)?.range ?? ((node as Pair | undefined)?.key as Node | undefined)?.range;
    if (!range) return { line: 1, col: 1, len: 1 };
    const p = lc.linePos(range[0]);
    return { line: p.line, col: p.col, len: Math.max(1, Math.min(range[1] - range[0], 80)) };
  };
  const fail = (msg: string, loc: Loc): never => {
    throw new Err.YAML(msg, { detail: pointAt(spec, loc) });
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lc.linePos(e.pos[0]);
    fail(`not valid YAML: ${e.message.split('\n')[0]}`, { line: p.line, col: p.col, len: 1 });
  }
  const root = doc.contents;
  if (!isMap(root)) return fail('expected a mapping with "pipeline:" (a launch string) or "elements:" (a list)', locOf(root));
  for (const pair of root.items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!['pipeline', 'elements', 'description'].includes(k)) fail(`unknown top-level key "${k}"; expected pipeline or elements`, locOf(pair.key as Node));
  }
  const launch = root.get('pipeline', true) as Node | undefined;
  const elements = root.get('elements', true) as Node | undefined;
  if (launch && elements) fail('give either "pipeline:" or "elements:", not both', locOf(elements));
  if (launch) {
    if (!isScalar(launch) || typeof launch.value !== 'string') return fail('"pipeline:" must be a launch string', locOf(launch));
    const base = locOf(launch);
    // Parse the string on its own, then shift positions onto the YAML line for errors.
    try {
      const inner = parseLaunch(launch.value);
      const shift = (l: Loc): Loc => (l.line === 1 ? { ...l, line: base.line, col: l.col + base.col - 1 + quoteOffset(launch) } : { ...l, line: base.line + l.line - 1 });
      for (const el of inner.elements) {
        el.loc = shift(el.loc);
        for (const p of el.props) { p.loc = shift(p.loc); p.valueLoc = shift(p.valueLoc); }
      }
      for (const l of inner.links) { l.from.loc = shift(l.from.loc); l.to.loc = shift(l.to.loc); }
      return { ...inner, text, file };
    } catch (e) {
      if (e instanceof SluiceError) throw new SluiceError(e.code, e.message, { detail: `${e.detail ?? ''}\n  (in ${file}:${base.line})` });
      throw e;
    }
  }
  if (!elements || !isSeq(elements)) return fail('"elements:" must be a list of elements', locOf(elements ?? root));
  let prev: number | null = null;
  for (const item of elements.items as Node[]) {
    let type: string;
    let typeLoc: Loc;
    let propsNode: Node | null = null;
    if (isScalar(item) && typeof item.value === 'string') {
      type = item.value;
      typeLoc = locOf(item);
    } else if (isMap(item) && item.items.length === 1) {
      const pair = item.items[0]!;
      type = String((pair.key as Node & { value?: unknown }).value);
      typeLoc = locOf(pair.key as Node);
      propsNode = (pair.value as Node | null) ?? null;
    } else {
      return fail('each element is "type" or "type: {property: value, ...}"', locOf(item));
    }
    if (registry.get(type)?.pads.every((t) => t.direction === 'src')) prev = null;
    const el: ElementSpec = { id: spec.elements.length, type, props: [], loc: typeLoc };
    const froms: EndSpec[] = [];
    let explicitFrom = false;
    if (propsNode && !(isScalar(propsNode) && propsNode.value === null)) {
      if (!isMap(propsNode)) return fail(`properties of ${type} must be a mapping`, locOf(propsNode));
      for (const pair of propsNode.items) {
        const key = String((pair.key as Node & { value?: unknown }).value);
        const v = pair.value as Node | null;
        const keyLoc = locOf(pair.key as Node);
        if (key === 'name') { el.name = String((v as Node & { value?: unknown })?.value); continue; }
        if (key === 'from') {
          explicitFrom = true;
          const list = isSeq(v) ? (v.items as Node[]) : [v as Node];
          for (const f of list) {
            const s = String((f as Node & { value?: unknown })?.value ?? '');
            if (s === 'none' || s === '') continue;
            const [ref, pad] = s.split('.');
            froms.push({ ref: ref!, pad: pad || undefined, loc: locOf(f) });
          }
          continue;
        }
        if (!isScalar(v)) return fail(`property "${key}" of ${type} must be a single value`, locOf(v ?? pair.key as Node));
        el.props.push({ key, value: v.value, loc: keyLoc, valueLoc: locOf(v) });
      }
    }
    spec.elements.push(el);
    const to: EndSpec = { ref: el.id, loc: typeLoc };
    if (explicitFrom) for (const f of froms) spec.links.push({ from: f, to });
    else if (prev !== null) spec.links.push({ from: { ref: prev, loc: typeLoc }, to });
    prev = el.id;
  }
  if (spec.elements.length === 0) fail('"elements:" is empty', locOf(elements));
  return spec;
}

function quoteOffset(node: Node): number {
  const t = (node as Node & { type?: string }).type;
  return t === 'QUOTE_DOUBLE' || t === 'QUOTE_SINGLE' ? 1 : 0;
}
