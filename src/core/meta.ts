// Typed metadata keys: what crosses elements in FrameMeta.user or ObjectMeta.attributes gets a
// key with a type, so producer and consumer are checked by the compiler instead of agreeing on a
// string and casting (the role GstMeta's registered API types play in GStreamer). Plugins define
// their own keys the same way.
import type { Frame, ObjectMeta } from './frame.ts';

export interface FrameMetaKey<T> {
  readonly name: string;
  get(frame: Frame): T | undefined;
  set(frame: Frame, value: T): void;
  delete(frame: Frame): void;
}

export interface ObjectMetaKey<T> {
  readonly name: string;
  get(obj: ObjectMeta): T | undefined;
  set(obj: ObjectMeta, value: T): void;
  delete(obj: ObjectMeta): void;
}

/** A typed entry of `frame.meta.user` (serialised by the meta sink under its name). */
export function defineFrameMeta<T>(name: string): FrameMetaKey<T> {
  return {
    name,
    get: (f) => f.meta.user[name] as T | undefined,
    set: (f, v) => { f.meta.user[name] = v; },
    delete: (f) => { delete f.meta.user[name]; },
  };
}

/** A typed entry of an object's `attributes`. */
export function defineObjectMeta<T>(name: string): ObjectMetaKey<T> {
  return {
    name,
    get: (o) => o.attributes[name] as T | undefined,
    set: (o, v) => { o.attributes[name] = v; },
    delete: (o) => { delete o.attributes[name]; },
  };
}
