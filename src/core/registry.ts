// Element registry: built-ins register here; custom elements use the same call.
import type { ElementDef } from './element.ts';
import { Err } from './errors.ts';

export class Registry {
  private defs = new Map<string, ElementDef>();
  private origins = new Map<string, string>();
  /** `origin`: 'builtin', or the plugin file that defined the element. */
  register(def: ElementDef, origin = 'builtin'): void {
    if (this.defs.has(def.name)) throw new Err.DUP_NAME(`element "${def.name}" is already registered`);
    this.defs.set(def.name, def);
    this.origins.set(def.name, origin);
  }
  originOf(name: string): string | undefined { return this.origins.get(name); }
  get(name: string): ElementDef | undefined { return this.defs.get(name); }
  names(): string[] { return [...this.defs.keys()].sort(); }
  all(): ElementDef[] { return this.names().map((n) => this.defs.get(n)!); }
}
