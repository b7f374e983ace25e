/**
 * The deploy file (`.bireal`): a 1-bit network ready for inference, as `bireal export` writes it.
 *
 * Layout: `BIREALNN`, a little-endian uint32 header length, the JSON {@link DeployHeader}, zero
 * padding to a multiple of 16 bytes, then the tensors' bytes. Float tensors are float32
 * little-endian; 1-bit weights are their signs packed 8 per byte, least significant bit first,
 * 1 for -1, in [cout][kh][kw][cin] order. BatchNorm is folded into each conv's per-channel
 * scale and bias, so the file holds no BatchNorm layer.
 */

const MAGIC = 'BIREALNN';
/** Version of the deploy format this library reads and writes. */
export const DEPLOY_FORMAT = 1;

/** Where a tensor's bytes lie in the file's data section. */
export interface TensorRef {
  offset: number;
  bytes: number;
}

/** Fields every operation has: the layer it comes from and the tensors it reads and writes. */
interface OpBase {
  /** Name of the (last) tfjs layer the operation was built from. */
  name: string;
  input: string;
  output: string;
}

/** Activations the engine applies: ReLU, or clip(x, -1, 1) (the clip-pretrained real nets). */
export type Activation = 'relu' | 'clip';

/**
 * A real-valued convolution with BatchNorm folded in: weights [k][k][cin][cout], bias [cout];
 * then the residual added and the activation applied, when given (a ResNet block's end).
 */
export interface ConvOp extends OpBase {
  op: 'conv';
  kernel: number;
  stride: number;
  padding: 'same' | 'valid';
  cin: number;
  cout: number;
  weights: TensorRef;
  bias: TensorRef;
  residual?: string;
  activation?: Activation;
}

/** An activation on its own (where no conv can absorb it). */
export interface ActivationOp extends OpBase {
  op: 'activation';
  activation: Activation;
}

/**
 * A 1-bit convolution: out = scale * (sign(x) conv sign(W)) + bias (+ residual), with the
 * weight scale and BatchNorm folded into `scale` and `bias` [cout].
 */
export interface BinaryConvOp extends OpBase {
  op: 'binaryConv';
  kernel: number;
  stride: number;
  padding: 'same' | 'valid';
  cin: number;
  cout: number;
  signs: TensorRef;
  scale: TensorRef;
  bias: TensorRef;
  /** A tensor added to the output (the shortcut of a residual block). */
  residual?: string;
}

/** Max or average pooling (the average counts only cells inside the input). */
export interface PoolOp extends OpBase {
  op: 'maxPool' | 'avgPool';
  size: number;
  stride: number;
  padding: 'same' | 'valid';
}

/** Mean over all pixels. */
export interface GlobalAvgPoolOp extends OpBase {
  op: 'globalAvgPool';
}

/** A fully connected layer: weights [cin][cout], bias [cout]. */
export interface DenseOp extends OpBase {
  op: 'dense';
  cin: number;
  cout: number;
  weights: TensorRef;
  bias: TensorRef;
}

/** One step of a deploy graph. */
export type DeployOp = ConvOp | BinaryConvOp | ActivationOp | PoolOp | GlobalAvgPoolOp | DenseOp;

/** How an image becomes the network's input (as the training pipeline's evaluation does). */
export interface Preprocessing {
  /** Square input size in pixels. */
  size: number;
  channels: 1 | 3;
  /** Per-channel mean and std of pixel values in [0, 1]. */
  mean: number[];
  std: number[];
  /** Shorter side resized to size * resizeRatio, then centre-cropped. */
  resizeRatio: number;
}

/** The JSON header of a deploy file. */
export interface DeployHeader {
  format: number;
  /** Registry name of the model, e.g. `bireal18`, and its options. */
  model: string;
  modelOptions: Record<string, unknown>;
  /** The network's input: height, width, channels. */
  inputShape: [number, number, number];
  preprocessing: Preprocessing;
  /** Human-readable class labels, in output order. */
  labels: string[];
  /** Where the weights came from: checkpoint, dataset, accuracy, commit. */
  source: Record<string, unknown>;
  /** Operations in execution order; the network's input is the tensor `input`. */
  ops: DeployOp[];
  /** Name of the logits tensor. */
  output: string;
}

/**
 * TensorFlow's output size and padding (before, after) of a window op (conv or pooling) along
 * one axis of `size` pixels: 'same' pads the odd pixel of padding after.
 */
export function windowGeometry(
  size: number,
  kernel: number,
  stride: number,
  padding: 'same' | 'valid',
): { out: number; before: number; after: number } {
  if (padding === 'valid') {
    return { out: Math.ceil((size - kernel + 1) / stride), before: 0, after: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/** A parsed deploy file: its header and its data section. */
export interface DeployFile {
  header: DeployHeader;
  data: Uint8Array;
}

const ALIGN = 16;

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Collects tensors into a data section, each aligned to 16 bytes. */
export class DataWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  /** Appends `data` and returns where it lies. */
  add(data: Float32Array | Uint8Array): TensorRef {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    const ref = { offset: this.length, bytes: bytes.length };
    this.chunks.push(bytes);
    const padded = align(bytes.length);
    if (padded > bytes.length) this.chunks.push(new Uint8Array(padded - bytes.length));
    this.length += padded;
    return ref;
  }

  /** The data section written so far. */
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** Serialises a deploy file. */
export function encodeDeployFile(header: DeployHeader, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = align(MAGIC.length + 4 + json.length);
  const out = new Uint8Array(start + data.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, MAGIC.length + 4);
  out.set(data, start);
  return out;
}

/**
 * Parses a deploy file, with an error naming `name` when it is not one or is cut short.
 * @param bytes - the file's bytes.
 * @param name - what errors call it (e.g. its path).
 */
export function decodeDeployFile(bytes: Uint8Array, name = 'deploy file'): DeployFile {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) {
    throw new Error(`${name}: not a bireal deploy file (expected '${MAGIC}' at the start)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(MAGIC.length, true);
  const start = align(MAGIC.length + 4 + length);
  if (start > bytes.length) throw new Error(`${name}: truncated header`);
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + length)),
  ) as DeployHeader;
  if (header.format !== DEPLOY_FORMAT) {
    throw new Error(`${name}: deploy format ${header.format}; this version reads ${DEPLOY_FORMAT}`);
  }
  // A plain Uint8Array view (a Node Buffer's slice() would not copy, see readFloats).
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + start, bytes.length - start);
  for (const op of header.ops) {
    for (const ref of Object.values(op).filter(isTensorRef)) {
      if (ref.offset + ref.bytes > data.length) {
        throw new Error(`${name}: truncated (tensor of ${op.name} ends past the file's end)`);
      }
    }
  }
  return { header, data };
}

function isTensorRef(value: unknown): value is TensorRef {
  return typeof value === 'object' && value !== null && 'offset' in value && 'bytes' in value;
}

/** The float32 values of a tensor of `file` (copied, so aligned). */
export function readFloats(file: DeployFile, ref: TensorRef): Float32Array {
  return new Float32Array(file.data.slice(ref.offset, ref.offset + ref.bytes).buffer);
}

/** The raw bytes of a tensor of `file`. */
export function readBytes(file: DeployFile, ref: TensorRef): Uint8Array {
  return file.data.subarray(ref.offset, ref.offset + ref.bytes);
}
