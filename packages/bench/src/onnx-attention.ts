// A MatMul-Softmax-MatMul ONNX graph for dense decode attention, written as protobuf bytes
// by a tiny encoder (no onnx/protobuf dependency). Field numbers are those of onnx.proto3
// (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto, TensorShapeProto).
//
//   scores = MatMul(q [H, 1, D], kT [H, D, n])     (q pre-scaled by 1/sqrt(D))
//   probs  = Softmax(scores, axis = -1)            (opset 13+: the last axis by default)
//   out    = MatMul(probs [H, 1, n], v [H, n, D])

type Field = Uint8Array;

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Wire type 0 (varint) field. */
function int(field: number, value: number): Field {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

/** Wire type 2 (length-delimited) field: bytes, a string or an embedded message. */
function bytes(field: number, payload: Uint8Array | string): Field {
  const data = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(data.length)]), data]);
}

const msg = (...fields: Field[]) => concat(fields);

/** FLOAT in TensorProto.DataType. */
const ELEM_FLOAT = 1;

function valueInfo(name: string, dims: (number | string)[]): Field {
  const shape = msg(...dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d))));
  const tensorType = msg(int(1, ELEM_FLOAT), bytes(2, shape));
  return msg(bytes(1, name), bytes(2, bytes(1, tensorType)));
}

function node(op: string, inputs: string[], outputs: string[], name: string): Field {
  return msg(
    ...inputs.map((i) => bytes(1, i)),
    ...outputs.map((o) => bytes(2, o)),
    bytes(3, name),
    bytes(4, op),
  );
}

/** ONNX IR version 8, default-domain opset 17 (Softmax over the last axis). */
const IR_VERSION = 8;
const OPSET = 17;

/** The serialized model for `heads` heads of `headDim`, sequence length symbolic ("n"). */
export function denseAttentionModel(heads: number, headDim: number): Uint8Array {
  const graph = msg(
    bytes(1, node('MatMul', ['q', 'kT'], ['scores'], 'qk')),
    bytes(1, node('Softmax', ['scores'], ['probs'], 'softmax')),
    bytes(1, node('MatMul', ['probs', 'v'], ['out'], 'pv')),
    bytes(2, 'dense_decode_attention'),
    bytes(11, valueInfo('q', [heads, 1, headDim])),
    bytes(11, valueInfo('kT', [heads, headDim, 'n'])),
    bytes(11, valueInfo('v', [heads, 'n', headDim])),
    bytes(12, valueInfo('out', [heads, 1, headDim])),
  );
  return msg(
    int(1, IR_VERSION),
    bytes(2, 'skvq-bench'),
    bytes(7, graph),
    bytes(8, msg(bytes(1, ''), int(2, OPSET))),
  );
}
