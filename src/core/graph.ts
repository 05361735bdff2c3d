// One graph description behind both the launch syntax and YAML files, and one builder that
// turns it into a Pipeline, pointing errors at the line and column they came from.
import { Pipeline, type Branch, type ElementNode, type PipelineOptions } from './pipeline.ts';
import type { Registry } from './registry.ts';
import { SluiceError, caretAt, closest, isSluiceError, Err } from './errors.ts';

/** 1-based position of a token in the source text. */
export interface Loc { line: number; col: number; len: number }

export interface PropSpec { key: string; value: unknown; loc: Loc; valueLoc: Loc }
export interface ElementSpec { id: number; type: string; name?: string; props: PropSpec[]; loc: Loc }
/** An end of a link: an element id (from the chain) or a name reference (`t.`), and a pad. */
export interface EndSpec { ref: number | string; pad?: string; loc: Loc }
export interface LinkSpec { from: EndSpec; to: EndSpec }
export interface GraphSpec {
  elements: ElementSpec[];
  links: LinkSpec[];
  /** The text it came from, to reprint with a caret. */
  text: string;
  file?: string;
}

/** Reprint the offending line with a caret under `loc`. */
export function pointAt(spec: { text: string; file?: string }, loc: Loc): string {
  const line = spec.text.split('\n')[loc.line - 1] ?? '';
  const where = spec.file ? `${spec.file}:${loc.line}:${loc.col}` : `column ${loc.col}`;
  return `${caretAt(line, loc.col, loc.len)}\n  (at ${where})`;
}

function withLoc(spec: GraphSpec, loc: Loc, err: unknown): SluiceError {
  if (isSluiceError(err)) return new SluiceError(err.code, err.message, { detail: pointAt(spec, loc), cause: err.cause });
  return new Err.PARSE(String((err as Error)?.message ?? err), { detail: pointAt(spec, loc) });
}

export function buildPipeline(spec: GraphSpec, registry: Registry, options: PipelineOptions = {}): Pipeline {
  const pipeline = new Pipeline({ description: spec.file ?? spec.text, ...options });
  addGraph(pipeline, spec, registry);
  return pipeline;
}

/**
 * Add `spec` to a playing dynamic pipeline as one branch (`uri location=cam.mp4 ! m.` links a
 * new source into the running mux named m). Nothing changes when it fails.
 */
export async function addBranch(pipeline: Pipeline, spec: GraphSpec, registry: Registry, label?: string): Promise<Branch> {
  try {
    addGraph(pipeline, spec, registry);
  } catch (e) {
    pipeline.discardPending();
    throw e;
  }
  return pipeline.activate(label);
}

function addGraph(pipeline: Pipeline, spec: GraphSpec, registry: Registry): void {
  const byId = new Map<number, ElementNode>();
  for (const el of spec.elements) {
    const def = registry.get(el.type);
    if (!def) {
      const hint = closest(el.type, registry.names());
      throw new Err.NO_ELEMENT(`no element named "${el.type}"${hint ? `; did you mean "${hint}"?` : ''} (run \`sluice inspect\` for the list)`,
        { detail: pointAt(spec, el.loc) });
    }
    const props: Record<string, unknown> = {};
    for (const p of el.props) props[p.key] = p.value;
    try {
      byId.set(el.id, pipeline.add(def, props, el.name));
    } catch (e) {
      // Point at the property that failed when we know it, else at the element.
      const prop = (isSluiceError(e) && (e.cause as { property?: string } | undefined)?.property) || undefined;
      const ps = prop ? el.props.find((p) => p.key === prop || p.key.replace(/_/g, '-') === prop) : undefined;
      throw withLoc(spec, ps ? (e instanceof SluiceError && e.message.startsWith('bad value') ? ps.valueLoc : ps.loc) : el.loc, e);
    }
  }
  const resolve = (end: EndSpec): ElementNode => {
    if (typeof end.ref === 'number') return byId.get(end.ref)!;
    const node = pipeline.get(end.ref);
    if (!node) {
      const hint = closest(end.ref, pipeline.nodes.map((n) => n.name));
      throw new Err.NO_REF(`no element named "${end.ref}" to link to${hint ? `; did you mean "${hint}."?` : ''} (give one with name=${end.ref})`, { detail: pointAt(spec, end.loc) });
    }
    return node;
  };
  for (const l of spec.links) {
    const a = resolve(l.from);
    const b = resolve(l.to);
    try {
      pipeline.link(a, b, l.from.pad, l.to.pad);
    } catch (e) {
      throw withLoc(spec, l.to.loc, e);
    }
  }
}
