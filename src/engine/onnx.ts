/**
 * ONNX export: a deploy file → an ONNX model (opset 17) that ONNX Runtime and other ONNX tools
 * run, with the logits of the engine and of the tfjs model.
 *
 * The model takes the engine's input, NHWC float32 [N, H, W, C] normalised as the header's
 * preprocessing says (any batch size N), transposes it to NCHW once and returns the logits
 * [N, classes] as `logits`. A 1-bit conv becomes the float emulation of the deploy op: the
 * activation's sign as ±1 (sign(0) = +1, built from GreaterOrEqual and Where: ONNX's Sign gives
 * 0 at 0), a Conv with the ±1 weights and zero padding (the border counts for nothing, as in
 * the engine), then the per-channel scale (Mul) and bias (Add). Real convs hold their folded
 * weights; residual adds and activations follow as the deploy ops say. Pads are explicit,
 * TensorFlow's 'same' (the odd pixel after); average pooling counts only pixels inside the input.
 * The header's labels, preprocessing, model and source are the model's metadata_props.
 */
import protobuf from 'protobufjs/light.js';
import {
  readBytes,
  readFloats,
  windowGeometry,
  type Activation,
  type DeployFile,
  type DeployOp,
} from './format.js';

/** The ONNX operator set the export targets (ONNX 1.12; ONNX Runtime 1.13 and later run it). */
export const ONNX_OPSET = 17;
/** The IR version of ONNX 1.12, whose operator set is 17. */
const IR_VERSION = 8;
/** TensorProto.DataType and AttributeProto.AttributeType values used here. */
const FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

/** A message of the schema: fields as [name, type, field number, 'repeated'?]. */
function message(...fields: [string, string, number, 'repeated'?][]) {
  return {
    fields: Object.fromEntries(
      fields.map(([name, type, id, rule]) => [name, { type, id, ...(rule ? { rule } : {}) }]),
    ),
  };
}

/** The subset of onnx.proto the export writes, with the official field numbers. */
const SCHEMA = protobuf.Root.fromJSON({
  nested: {
    ModelProto: message(
      ['irVersion', 'int64', 1],
      ['producerName', 'string', 2],
      ['docString', 'string', 6],
      ['graph', 'GraphProto', 7],
      ['opsetImport', 'OperatorSetIdProto', 8, 'repeated'],
      ['metadataProps', 'StringStringEntryProto', 14, 'repeated'],
    ),
    OperatorSetIdProto: message(['domain', 'string', 1], ['version', 'int64', 2]),
    StringStringEntryProto: message(['key', 'string', 1], ['value', 'string', 2]),
    GraphProto: message(
      ['node', 'NodeProto', 1, 'repeated'],
      ['name', 'string', 2],
      ['initializer', 'TensorProto', 5, 'repeated'],
      ['input', 'ValueInfoProto', 11, 'repeated'],
      ['output', 'ValueInfoProto', 12, 'repeated'],
    ),
    NodeProto: message(
      ['input', 'string', 1, 'repeated'],
      ['output', 'string', 2, 'repeated'],
      ['name', 'string', 3],
      ['opType', 'string', 4],
      ['attribute', 'AttributeProto', 5, 'repeated'],
    ),
    AttributeProto: message(
      ['name', 'string', 1],
      ['i', 'int64', 3],
      ['ints', 'int64', 8, 'repeated'],
      ['type', 'int32', 20], // the enum AttributeType: a varint on the wire, as int32
    ),
    TensorProto: message(
      ['dims', 'int64', 1, 'repeated'],
      ['dataType', 'int32', 2],
      ['name', 'string', 8],
      ['rawData', 'bytes', 9],
    ),
    ValueInfoProto: message(['name', 'string', 1], ['type', 'TypeProto', 2]),
    TypeProto: {
      ...message(['tensorType', 'Tensor', 1]),
      nested: { Tensor: message(['elemType', 'int32', 1], ['shape', 'TensorShapeProto', 2]) },
    },
    TensorShapeProto: {
      ...message(['dim', 'Dimension', 1, 'repeated']),
      nested: { Dimension: message(['dimValue', 'int64', 1], ['dimParam', 'string', 2]) },
    },
  },
});

/** Height, width, channels of an activation. */
type Shape = [number, number, number];

/** A graph under construction: nodes in execution order and constant tensors. */
class GraphBuilder {
  readonly nodes: {
    name: string;
    opType: string;
    input: string[];
    output: string[];
    attribute: object[];
  }[] = [];
  readonly initializers: object[] = [];

  /** Adds a node whose output is named like the node; returns that name. */
  node(
    opType: string,
    name: string,
    input: string[],
    attributes: Record<string, number | number[]> = {},
  ): string {
    const attribute = Object.entries(attributes).map(([key, value]) =>
      Array.isArray(value)
        ? { name: key, type: ATTRIBUTE_INTS, ints: value }
        : { name: key, type: ATTRIBUTE_INT, i: value },
    );
    this.nodes.push({ name, opType, input, output: [name], attribute });
    return name;
  }

  /** Adds a float32 constant; returns its name. */
  constant(name: string, values: Float32Array, dims: number[]): string {
    const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({ name, dims, dataType: FLOAT, rawData });
    return name;
  }

  /** A float32 scalar constant, added on first use; returns its name. */
  scalar(name: string, value: number): string {
    if (!this.initializers.some((t) => (t as { name: string }).name === name)) {
      this.constant(name, Float32Array.of(value), []);
    }
    return name;
  }

  /** Renames a value everywhere (the graph's output gets its public name). */
  rename(from: string, to: string): void {
    for (const node of this.nodes) {
      node.input = node.input.map((n) => (n === from ? to : n));
      node.output = node.output.map((n) => (n === from ? to : n));
    }
  }
}

/** Conv weights [cout][cin][k][k] from a function of (output channel, tap, input channel). */
function oihw(
  cout: number,
  cin: number,
  taps: number,
  weight: (o: number, t: number, c: number) => number,
): Float32Array {
  const out = new Float32Array(cout * cin * taps);
  for (let o = 0; o < cout; o++) {
    for (let c = 0; c < cin; c++) {
      for (let t = 0; t < taps; t++) out[(o * cin + c) * taps + t] = weight(o, t, c);
    }
  }
  return out;
}

/** A value description: float32 with the given dimensions (a string is a symbolic one). */
function valueInfo(name: string, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

/**
 * Converts a decoded deploy file to an ONNX model (the bytes of a `.onnx` file). Every deploy
 * op converts; a file whose ops read tensors before they are computed throws an error naming
 * the op.
 * @param file - what `decodeDeployFile` returned.
 */
export function deployToOnnx(file: DeployFile): Uint8Array {
  const { header } = file;
  const graph = new GraphBuilder();
  const shapes = new Map<string, Shape>([['input', header.inputShape]]);
  /** Deploy tensor → ONNX value: NCHW, or [N, features] once flattened (`flat`). */
  const values = new Map<string, string>();
  const flat = new Set<string>();
  values.set('input', graph.node('Transpose', 'input/nchw', ['input'], { perm: [0, 3, 1, 2] }));
  const signs = new Map<string, string>(); // deploy tensor → its ±1 signs

  const valueOf = (name: string, op: DeployOp, spatial = true): string => {
    const value = values.get(name);
    if (value === undefined) throw new Error(`${op.name}: reads '${name}' before it is computed`);
    if (spatial && flat.has(name)) throw new Error(`${op.name} (${op.op}) needs an image input`);
    return value;
  };
  const activate = (x: string, activation: Activation, name: string): string =>
    activation === 'relu'
      ? graph.node('Relu', `${name}/relu`, [x])
      : graph.node('Clip', `${name}/clip`, [
          x,
          graph.scalar('minus_one', -1),
          graph.scalar('one', 1),
        ]);
  /** sign(x) as ±1 with sign(0) = +1, once per tensor. */
  const signOf = (tensor: string, op: DeployOp): string => {
    let sign = signs.get(tensor);
    if (sign === undefined) {
      const x = valueOf(tensor, op);
      const positive = graph.node('GreaterOrEqual', `${tensor}/nonnegative`, [
        x,
        graph.scalar('zero', 0),
      ]);
      sign = graph.node('Where', `${tensor}/sign`, [
        positive,
        graph.scalar('one', 1),
        graph.scalar('minus_one', -1),
      ]);
      signs.set(tensor, sign);
    }
    return sign;
  };
  /** [N, h*w*c] in NHWC order, as the engine and tfjs flatten. */
  const flatten = (tensor: string, name: string, op: DeployOp): string => {
    if (flat.has(tensor)) return valueOf(tensor, op, false);
    const [h, w] = shapes.get(tensor) as Shape;
    let x = valueOf(tensor, op);
    if (h * w > 1) x = graph.node('Transpose', `${name}/nhwc`, [x], { perm: [0, 2, 3, 1] });
    return graph.node('Flatten', `${name}/flatten`, [x], { axis: 1 });
  };

  for (const op of header.ops) {
    const [h, w, c] = shapes.get(op.input) ?? [0, 0, 0];
    let output: string;
    let shape: Shape;
    switch (op.op) {
      case 'conv':
      case 'binaryConv': {
        const gy = windowGeometry(h, op.kernel, op.stride, op.padding);
        const gx = windowGeometry(w, op.kernel, op.stride, op.padding);
        shape = [gy.out, gx.out, op.cout];
        const geometry = {
          kernel_shape: [op.kernel, op.kernel],
          strides: [op.stride, op.stride],
          pads: [gy.before, gx.before, gy.after, gx.after],
        };
        const taps = op.kernel * op.kernel;
        const dims = [op.cout, op.cin, op.kernel, op.kernel];
        const perChannel = [1, op.cout, 1, 1];
        if (op.op === 'conv') {
          const hwio = readFloats(file, op.weights); // [k][k][cin][cout]
          const weight = oihw(
            op.cout,
            op.cin,
            taps,
            (o, t, i) => hwio[(t * op.cin + i) * op.cout + o]!,
          );
          output = graph.node(
            'Conv',
            op.name,
            [
              valueOf(op.input, op),
              graph.constant(`${op.name}.weight`, weight, dims),
              graph.constant(`${op.name}.bias`, readFloats(file, op.bias), [op.cout]),
            ],
            geometry,
          );
        } else {
          const bits = readBytes(file, op.signs); // [cout][k][k][cin], 1 for -1
          const weight = oihw(op.cout, op.cin, taps, (o, t, i) => {
            const bit = (o * taps + t) * op.cin + i;
            return (bits[bit >> 3]! >> (bit & 7)) & 1 ? -1 : 1;
          });
          const dot = graph.node(
            'Conv',
            op.name,
            [signOf(op.input, op), graph.constant(`${op.name}.weight`, weight, dims)],
            geometry,
          );
          const scale = graph.constant(`${op.name}.scale`, readFloats(file, op.scale), perChannel);
          const bias = graph.constant(`${op.name}.bias`, readFloats(file, op.bias), perChannel);
          output = graph.node('Mul', `${op.name}/scale`, [dot, scale]);
          output = graph.node('Add', `${op.name}/bias`, [output, bias]);
        }
        if (op.residual !== undefined) {
          output = graph.node('Add', `${op.name}/residual`, [output, valueOf(op.residual, op)]);
        }
        if (op.op === 'conv' && op.activation !== undefined) {
          output = activate(output, op.activation, op.name);
        }
        break;
      }
      case 'activation':
        shape = [h, w, c];
        output = activate(valueOf(op.input, op, false), op.activation, op.name);
        if (flat.has(op.input)) flat.add(op.output);
        break;
      case 'maxPool':
      case 'avgPool': {
        const gy = windowGeometry(h, op.size, op.stride, op.padding);
        const gx = windowGeometry(w, op.size, op.stride, op.padding);
        shape = [gy.out, gx.out, c];
        output = graph.node(
          op.op === 'maxPool' ? 'MaxPool' : 'AveragePool',
          op.name,
          [valueOf(op.input, op)],
          {
            kernel_shape: [op.size, op.size],
            strides: [op.stride, op.stride],
            pads: [gy.before, gx.before, gy.after, gx.after],
            ...(op.op === 'avgPool' ? { count_include_pad: 0 } : {}),
          },
        );
        break;
      }
      case 'globalAvgPool':
        shape = [1, 1, c];
        output = graph.node('GlobalAveragePool', op.name, [valueOf(op.input, op)]);
        break;
      case 'dense': {
        shape = [1, 1, op.cout];
        const x = flatten(op.input, op.name, op);
        const weights = graph.constant(`${op.name}.weight`, readFloats(file, op.weights), [
          op.cin,
          op.cout,
        ]);
        const bias = graph.constant(`${op.name}.bias`, readFloats(file, op.bias), [op.cout]);
        output = graph.node('Gemm', op.name, [x, weights, bias]);
        flat.add(op.output);
        break;
      }
      default:
        throw new Error(`unknown operation '${(op as { op: string }).op}'`);
    }
    shapes.set(op.output, shape);
    values.set(op.output, output);
  }
  const last = header.ops.at(-1);
  const shape = shapes.get(header.output);
  if (last === undefined || shape === undefined) {
    throw new Error(`no operation computes the output '${header.output}'`);
  }
  graph.rename(flatten(header.output, 'logits', last), 'logits');

  const metadata = {
    labels: header.labels,
    preprocessing: header.preprocessing,
    model: header.model,
    modelOptions: header.modelOptions,
    source: header.source,
    input: 'NHWC float32 [batch, height, width, channels], normalised as preprocessing says',
  };
  const [height, width, channels] = header.inputShape;
  const model = {
    irVersion: IR_VERSION,
    producerName: 'bireal',
    docString: `${header.model} exported from a bireal deploy file`,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({
      key,
      value: typeof value === 'string' ? value : JSON.stringify(value),
    })),
    graph: {
      name: header.model,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [valueInfo('input', ['batch', height, width, channels])],
      output: [valueInfo('logits', ['batch', shape[0] * shape[1] * shape[2]])],
    },
  };
  const type = SCHEMA.lookupType('ModelProto');
  return type.encode(type.fromObject(model)).finish();
}
