// Element registry: built-ins register here; custom elements use the same call.
import type { ElementDef } from './element.ts';

export class Registry {
  private defs = new Map<string, ElementDef>();
  register(def: ElementDef): void {
    if (this.defs.has(def.name)) throw new Error(`element "${def.name}" is already registered`);
    this.defs.set(def.name, def);
  }
  get(name: string): ElementDef | undefined { return this.defs.get(name); }
  names(): string[] { return [...this.defs.keys()].sort(); }
  all(): ElementDef[] { return this.names().map((n) => this.defs.get(n)!); }
}
