// What the dependencies call that the oldest Node the package supports (package.json engines)
// lacks, installed before anything calls it. Imported first by the package entry, the CLI and
// every module a worker thread starts from that reaches node-av (each thread has its own globals).

/** A built-in a dependency needs, and whether this process had it or got Sluice's copy. */
export interface NodeFeature { name: string; neededBy: string; native: boolean }

export const nodeFeatures: NodeFeature[] = [];

type WithResolvers = <T>() => { promise: Promise<T>; resolve: (v: T | PromiseLike<T>) => void; reject: (e?: unknown) => void };
const P = Promise as unknown as { withResolvers?: WithResolvers };
// node-av 6's packet reader (Demuxer.packets) awaits Promise.withResolvers(), new in Node 22: on
// Node 20 every read threw and a file decoded 0 frames.
nodeFeatures.push({ name: 'Promise.withResolvers', neededBy: 'node-av reads packets with it', native: typeof P.withResolvers === 'function' });
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (v: T | PromiseLike<T>) => void;
      let reject!: (e?: unknown) => void;
      const promise = new this<T>((res, rej) => { resolve = res; reject = rej; });
      return { promise, resolve, reject };
    },
  });
}
