// A minimal ONNX (protobuf) writer: enough to build small models in code, so the demo and tests
// can run real inference with nothing downloaded. Field numbers follow onnx.proto.

class Pb {
  private parts: Uint8Array[] = [];
  private static varint(n: number | bigint): Uint8Array {
    let v = BigInt(n);
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    return Uint8Array.from(out);
  }
  int(field: number, v: number): this { this.parts.push(Pb.varint(field << 3), Pb.varint(v)); return this; }
  bytes(field: number, b: Uint8Array): this { this.parts.push(Pb.varint((field << 3) | 2), Pb.varint(b.length), b); return this; }
  str(field: number, s: string): this { return this.bytes(field, new TextEncoder().encode(s)); }
  msg(field: number, m: Pb): this { return this.bytes(field, m.done()); }
  done(): Uint8Array {
    const n = this.parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

const FLOAT = 1;

export interface Tensor { name: string; dims: number[]; data: Float32Array }
export interface Node { op: string; inputs: string[]; outputs: string[]; name?: string }
export interface IO { name: string; dims: (number | string)[] }

function valueInfo(io: IO): Pb {
  const shape = new Pb();
  for (const d of io.dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tensorType = new Pb().int(1, FLOAT).msg(2, shape);
  return new Pb().str(1, io.name).msg(2, new Pb().msg(1, tensorType));
}

/** Serialise a single-graph model (opset 13). */
export function onnxModel(g: { name: string; nodes: Node[]; initializers: Tensor[]; inputs: IO[]; outputs: IO[] }): Uint8Array {
  const graph = new Pb();
  g.nodes.forEach((n, i) => {
    const node = new Pb();
    for (const x of n.inputs) node.str(1, x);
    for (const x of n.outputs) node.str(2, x);
    node.str(3, n.name ?? `${n.op}_${i}`).str(4, n.op);
    graph.msg(1, node);
  });
  graph.str(2, g.name);
  for (const t of g.initializers) {
    const tp = new Pb();
    for (const d of t.dims) tp.int(1, d);
    tp.int(2, FLOAT).str(8, t.name).bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    graph.msg(5, tp);
  }
  for (const i of g.inputs) graph.msg(11, valueInfo(i));
  for (const o of g.outputs) graph.msg(12, valueInfo(o));
  return new Pb().int(1, 8).str(2, 'sluice').msg(7, graph).msg(8, new Pb().str(1, '').int(2, 13)).done();
}
