// A small builder over onnx-proto's generated protobuf classes (onnx.proto, IR version 8):
// nodes get unique output names, constants and weights become initializers, and the model
// is serialized by protobufjs, never by hand-written wire encoding.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = onnx.TensorProto.DataType.FLOAT;
export const ONNX_INT64 = onnx.TensorProto.DataType.INT64;
export const ONNX_BOOL = onnx.TensorProto.DataType.BOOL;

/** IR version 8 with default-domain opset 17 (ONNX 1.12): every op used here exists there. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

export type AttributeValue = number | number[] | { float: number };

/** A symbolic dimension (dim_param) is a string, a fixed one a number. */
export type Dim = number | string;

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (typeof value === 'object') return { name, type: A.FLOAT, f: value.float };
  return { name, type: A.INT, i: value };
}

function valueInfo(name: string, elemType: number, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function littleEndian(data: Float32Array | BigInt64Array): Uint8Array {
  // typed arrays are little-endian on every platform Node and browsers run on; ONNX raw_data is too
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** Adds `op` and returns its (first) output's name; `outputName` fixes that name. */
  node(
    op: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    outputName?: string,
  ): string {
    const out = outputName ?? `${op.toLowerCase()}_${this.counter++}`;
    this.nodes.push({
      opType: op,
      name: `${op}_${this.nodes.length}`,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** A float32 initializer (weights, constants). */
  float(name: string, data: Float32Array, dims: number[]): string {
    this.initializers.push({ name, dataType: ONNX_FLOAT, dims, rawData: littleEndian(data) });
    return name;
  }

  /** An int64 initializer (shapes, axes, indices); a scalar when dims is []. */
  int64(name: string, values: readonly number[], dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dataType: ONNX_INT64, dims, rawData: littleEndian(data) });
    return name;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** The serialized ModelProto. */
  encode(graphName: string, producer: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: producer,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
