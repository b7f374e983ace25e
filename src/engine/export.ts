/**
 * Export: a trained tfjs-layers 1-bit model → a deploy file (see format.ts). Each conv absorbs
 * the BatchNorm after it, and each 1-bit conv the residual add after that, so the engine runs a
 * Bi-Real block as one kernel call.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { channelScale } from '../binarize/index.js';
import { BinaryConv2D, Clip } from '../layers/index.js';
import {
  DEPLOY_FORMAT,
  DataWriter,
  encodeDeployFile,
  type BinaryConvOp,
  type ConvOp,
  type DeployHeader,
  type DeployOp,
  type Preprocessing,
} from './format.js';

/** What the deploy file records beside the weights. */
export interface ExportInfo {
  model: string;
  modelOptions: Record<string, unknown>;
  preprocessing: Preprocessing;
  labels: string[];
  source: Record<string, unknown>;
}

type Layer = tfl.layers.Layer;

function inboundLayers(layer: Layer): Layer[] {
  return layer.inboundNodes.flatMap((node) => node.inboundLayers);
}

function weightNamed(layer: Layer, suffix: string): Float32Array | undefined {
  const found = layer.weights.find((w) => w.originalName.endsWith(suffix));
  return found === undefined ? undefined : (found.read().dataSync() as Float32Array);
}

function config<T>(layer: Layer, key: string): T {
  return layer.getConfig()[key] as T;
}

/** sign(W) packed 8 per byte (1 = negative) in [cout][kh][kw][cin] order, from W [kh][kw][cin][cout]. */
function packSigns(kernel: Float32Array, taps: number, cin: number, cout: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil((cout * taps * cin) / 8));
  for (let o = 0; o < cout; o++) {
    for (let t = 0; t < taps; t++) {
      for (let c = 0; c < cin; c++) {
        if ((kernel[(t * cin + c) * cout + o] as number) < 0) {
          const bit = (o * taps + t) * cin + c;
          bits[bit >> 3]! |= 1 << (bit & 7);
        }
      }
    }
  }
  return bits;
}

/** The per-channel scale alpha of a 1-bit conv's weights (1 for the plain sign), as training uses it. */
function weightScale(layer: BinaryConv2D, cout: number): Float32Array {
  if (layer.binarizer === 'sign') return new Float32Array(cout).fill(1);
  const kernel = layer.weights.find((w) => w.originalName.endsWith('kernel')) as tfl.LayerVariable;
  return tf.tidy(() => channelScale(kernel.read()).dataSync() as Float32Array);
}

/** A conv's output as scale * conv + bias, before the BatchNorm that may follow. */
interface PendingConv {
  op: ConvOp | BinaryConvOp;
  scale: Float32Array;
  bias: Float32Array;
  /** Real convs keep their weights here until BatchNorm is folded in. */
  weights?: Float32Array;
  /** The last layer folded into the conv (the conv itself at first). */
  last: string;
}

/**
 * Builds the deploy file of `model`. Supported layers: Conv2D (no activation), BinaryConv2D,
 * BatchNormalization after a conv, Add after a conv, ReLU, Clip, Max/AveragePooling2D,
 * GlobalAveragePooling2D, Dense (linear): every model of the registry. Anything else throws an
 * error naming the layer.
 * @param model - the trained model.
 * @param info - what the header records: preprocessing, labels, where the weights came from.
 */
export function exportModel(model: tfl.LayersModel, info: ExportInfo): Uint8Array {
  const consumers = new Map<string, number>();
  for (const layer of model.layers) {
    for (const from of inboundLayers(layer)) {
      consumers.set(from.name, (consumers.get(from.name) ?? 0) + 1);
    }
  }
  const tensorOf = new Map<string, string>(); // layer name -> deploy tensor name
  const pending = new Map<string, PendingConv>(); // deploy tensor -> conv that may absorb BN/add
  const ops: DeployOp[] = [];
  const data = new DataWriter();
  const unsupported = (layer: Layer, why: string): Error =>
    new Error(`cannot export layer '${layer.name}' (${layer.getClassName()}): ${why}`);
  const inputOf = (layer: Layer, index = 0): string => {
    const from = inboundLayers(layer)[index];
    const name = from === undefined ? undefined : tensorOf.get(from.name);
    if (name === undefined) throw unsupported(layer, 'its input is not known');
    return name;
  };
  /** The conv producing `tensor` if the layer reading it is its only consumer. */
  const absorbable = (tensor: string): PendingConv | undefined => {
    const conv = pending.get(tensor);
    return conv !== undefined && consumers.get(conv.last) === 1 ? conv : undefined;
  };

  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind === 'InputLayer') {
      tensorOf.set(layer.name, 'input');
    } else if (kind === 'Conv2D' || kind === BinaryConv2D.className) {
      const kernel = weightNamed(layer, 'kernel') as Float32Array;
      const size = config<number[] | number>(layer, 'kernelSize');
      const k = Array.isArray(size) ? (size[0] as number) : size;
      const strides = config<number[] | number>(layer, 'strides');
      const stride = Array.isArray(strides) ? (strides[0] as number) : strides;
      const padding = config<'same' | 'valid' | 'causal'>(layer, 'padding');
      if (padding === 'causal') throw unsupported(layer, 'causal padding');
      const cout = config<number>(layer, 'filters');
      const cin = kernel.length / (k * k * cout);
      const input = inputOf(layer);
      const common = { name: layer.name, input, output: layer.name, kernel: k, stride, padding };
      const ref = { offset: 0, bytes: 0 }; // filled in when the op is final
      let conv: PendingConv;
      if (layer instanceof BinaryConv2D) {
        const signs = data.add(packSigns(kernel, k * k, cin, cout));
        const op: BinaryConvOp = {
          op: 'binaryConv',
          ...common,
          cin,
          cout,
          signs,
          scale: ref,
          bias: ref,
        };
        conv = {
          op,
          scale: weightScale(layer, cout),
          bias: new Float32Array(cout),
          last: layer.name,
        };
      } else {
        if (config<string | null>(layer, 'activation') !== 'linear') {
          throw unsupported(layer, 'only linear convs (BatchNorm, no activation) export');
        }
        const op: ConvOp = { op: 'conv', ...common, cin, cout, weights: ref, bias: ref };
        const bias = weightNamed(layer, 'bias') ?? new Float32Array(cout);
        conv = {
          op,
          scale: new Float32Array(cout).fill(1),
          bias,
          weights: kernel,
          last: layer.name,
        };
      }
      pending.set(layer.name, conv);
      tensorOf.set(layer.name, layer.name);
      ops.push(conv.op);
    } else if (kind === 'BatchNormalization') {
      const conv = absorbable(inputOf(layer));
      if (conv === undefined || !isBare(conv)) {
        throw unsupported(layer, 'BatchNorm must follow a conv');
      }
      const epsilon = config<number>(layer, 'epsilon');
      const mean = weightNamed(layer, 'moving_mean') as Float32Array;
      const variance = weightNamed(layer, 'moving_variance') as Float32Array;
      const gamma = weightNamed(layer, 'gamma');
      const beta = weightNamed(layer, 'beta');
      for (let o = 0; o < conv.op.cout; o++) {
        const factor = (gamma?.[o] ?? 1) / Math.sqrt((variance[o] as number) + epsilon);
        conv.scale[o]! *= factor;
        conv.bias[o] = ((conv.bias[o] as number) - (mean[o] as number)) * factor + (beta?.[o] ?? 0);
      }
      renameOutput(conv, layer.name, pending, tensorOf);
    } else if (kind === 'Add') {
      const [a, b] = [inputOf(layer, 0), inputOf(layer, 1)];
      // Prefer the 1-bit conv: in the plain 1-bit ResNet the shortcut may be a (real) conv too.
      const candidates = [absorbable(a), absorbable(b)].filter(
        (c): c is PendingConv => c !== undefined && isBare(c),
      );
      const conv = candidates.find((c) => c.op.op === 'binaryConv') ?? candidates[0];
      if (conv === undefined || inboundLayers(layer).length !== 2) {
        throw unsupported(layer, 'an add must join a conv (+ BatchNorm) and one shortcut');
      }
      conv.op.residual = conv.op.output === a ? b : a;
      // The shortcut may be computed after the conv: run the fused op where the add was.
      ops.splice(ops.indexOf(conv.op), 1);
      ops.push(conv.op);
      renameOutput(conv, layer.name, pending, tensorOf);
    } else if (kind === 'ReLU' || kind === Clip.className) {
      const activation = kind === 'ReLU' ? 'relu' : 'clip';
      if (kind === 'ReLU' && config<number | null>(layer, 'maxValue') != null) {
        throw unsupported(layer, 'ReLU with a maximum value');
      }
      if (kind === Clip.className && (layer as Clip).slope !== 0) {
        throw unsupported(layer, 'a leaky clip (fine-tune it to a clip first)');
      }
      const input = inputOf(layer);
      const conv = absorbable(input);
      if (conv?.op.op === 'conv' && conv.op.activation === undefined) {
        conv.op.activation = activation;
        renameOutput(conv, layer.name, pending, tensorOf);
      } else {
        ops.push({ op: 'activation', name: layer.name, input, output: layer.name, activation });
        tensorOf.set(layer.name, layer.name);
      }
    } else if (kind === 'MaxPooling2D' || kind === 'AveragePooling2D') {
      const size = config<number[]>(layer, 'poolSize')[0] as number;
      const stride = config<number[]>(layer, 'strides')[0] as number;
      const padding = config<'same' | 'valid'>(layer, 'padding');
      const op = kind === 'MaxPooling2D' ? 'maxPool' : 'avgPool';
      const input = inputOf(layer);
      ops.push({ op, name: layer.name, input, output: layer.name, size, stride, padding });
      tensorOf.set(layer.name, layer.name);
    } else if (kind === 'GlobalAveragePooling2D') {
      ops.push({
        op: 'globalAvgPool',
        name: layer.name,
        input: inputOf(layer),
        output: layer.name,
      });
      tensorOf.set(layer.name, layer.name);
    } else if (kind === 'Dense') {
      if (config<string | null>(layer, 'activation') !== 'linear') {
        throw unsupported(layer, 'only a linear classifier exports (softmax is applied later)');
      }
      const weights = weightNamed(layer, 'kernel') as Float32Array;
      const cout = config<number>(layer, 'units');
      const bias = weightNamed(layer, 'bias') ?? new Float32Array(cout);
      ops.push({
        op: 'dense',
        name: layer.name,
        input: inputOf(layer),
        output: layer.name,
        cin: weights.length / cout,
        cout,
        weights: data.add(weights),
        bias: data.add(bias),
      });
      tensorOf.set(layer.name, layer.name);
    } else {
      throw unsupported(layer, 'not a layer the engine runs');
    }
  }
  // Store the folded per-channel transforms (and real conv weights with their scale folded in).
  for (const conv of pending.values()) {
    if (conv.op.op === 'binaryConv') {
      conv.op.scale = data.add(conv.scale);
    } else {
      const weights = (conv.weights as Float32Array).map(
        (w, i) => w * (conv.scale[i % conv.op.cout] as number),
      );
      conv.op.weights = data.add(weights);
    }
    conv.op.bias = data.add(conv.bias);
  }
  const output = tensorOf.get(model.outputLayers[0]?.name ?? '');
  if (output === undefined || model.outputs.length !== 1) {
    throw new Error('cannot export: the model must have one output layer');
  }
  const inputShape = model.inputs[0]?.shape.slice(1) as [number, number, number];
  const header: DeployHeader = { format: DEPLOY_FORMAT, ...info, inputShape, ops, output };
  return encodeDeployFile(header, data.concat());
}

/** Whether a conv's output is still its own (no residual added, no activation applied). */
function isBare(conv: PendingConv): boolean {
  return conv.op.residual === undefined && (conv.op.op === 'binaryConv' || !conv.op.activation);
}

/** Makes `layer` the name of a conv's output once it has absorbed that layer. */
function renameOutput(
  conv: PendingConv,
  layer: string,
  pending: Map<string, PendingConv>,
  tensorOf: Map<string, string>,
): void {
  pending.delete(conv.op.output);
  conv.op.output = layer;
  conv.last = layer;
  pending.set(layer, conv);
  tensorOf.set(layer, layer);
}
