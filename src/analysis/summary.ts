/**
 * Cost accounting of a model, in the spirit of Larq's `models.summary`: parameters by
 * precision, memory in bits, binary multiply-accumulates and real FLOPs, per layer and in total.
 *
 * Conventions (those of the Bi-Real paper's cost table):
 * - FLOPs = real multiply-accumulates + binary MACs / 64 (a 64-bit XNOR-popcount does 64).
 * - Memory = binary weights x 1 bit + real parameters x 32 bits. BatchNorm's trainable scale and
 *   offset count as real parameters; its moving statistics do not (they fold into the
 *   per-channel output transform at inference). BatchNorm, pooling and additions cost no FLOPs.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { BinaryConv2D } from '../layers/index.js';

/** Cost of one layer (per input image). */
export interface LayerCost {
  name: string;
  type: string;
  outputShape: (number | null)[];
  /** 1-bit parameters. */
  binaryParams: number;
  /** 32-bit trainable parameters. */
  realParams: number;
  memoryBits: number;
  binaryMacs: number;
  realFlops: number;
  flops: number;
}

/** Per-layer costs and their totals. */
export interface CostSummary {
  layers: LayerCost[];
  /** All trainable parameters, binary and real. */
  params: number;
  binaryParams: number;
  realParams: number;
  memoryBits: number;
  binaryMacs: number;
  realFlops: number;
  flops: number;
}

/** Binary MACs are counted as 1/64 of a FLOP (64-bit words), as in the paper. */
export const BINARY_OPS_PER_FLOP = 64;

function product(values: readonly (number | null)[]): number {
  return values.reduce<number>((acc, v) => acc * (v ?? 1), 1);
}

function costOf(layer: tfl.layers.Layer): LayerCost {
  const outputShape = layer.outputShape as (number | null)[];
  const trainable = layer.trainableWeights.map((w) => product(w.shape));
  const paramCount = trainable.reduce((a, b) => a + b, 0);
  const type = layer.getClassName();
  const outputPositions = product(outputShape.slice(1, -1)); // spatial size; 1 for dense
  let binaryParams = 0;
  let binaryMacs = 0;
  let realFlops = 0;
  if (layer instanceof BinaryConv2D) {
    binaryParams = paramCount;
    binaryMacs = outputPositions * paramCount;
  } else if (type === 'Conv2D' || type === 'Dense') {
    const kernel = trainable[0] ?? 0; // bias adds no multiply
    realFlops = outputPositions * kernel;
  }
  const realParams = paramCount - binaryParams;
  return {
    name: layer.name,
    type,
    outputShape,
    binaryParams,
    realParams,
    memoryBits: binaryParams + 32 * realParams,
    binaryMacs,
    realFlops,
    flops: realFlops + binaryMacs / BINARY_OPS_PER_FLOP,
  };
}

/**
 * Computes the cost summary of a built model (input size fixed, batch dimension ignored).
 * @param model - the built model.
 */
export function costSummary(model: tfl.LayersModel): CostSummary {
  const layers = model.layers.map(costOf);
  const total = (
    key: 'binaryParams' | 'realParams' | 'memoryBits' | 'binaryMacs' | 'realFlops' | 'flops',
  ) => layers.reduce((acc, l) => acc + l[key], 0);
  return {
    layers,
    params: total('binaryParams') + total('realParams'),
    binaryParams: total('binaryParams'),
    realParams: total('realParams'),
    memoryBits: total('memoryBits'),
    binaryMacs: total('binaryMacs'),
    realFlops: total('realFlops'),
    flops: total('flops'),
  };
}

function compact(n: number): string {
  if (n === 0) return '0';
  if (n < 1e4) return String(n);
  const exp = Math.floor(Math.log10(n) / 3) * 3;
  const unit = { 3: 'k', 6: 'M', 9: 'G', 12: 'T' }[exp] ?? `e${exp}`;
  return `${(n / 10 ** exp).toFixed(2)}${unit}`;
}

/**
 * Formats a summary as a plain-text table: only layers with a cost, then the totals.
 * @param summary - what `costSummary` returned.
 * @param title - the table's heading.
 */
export function formatSummary(summary: CostSummary, title = 'model'): string {
  const header = [
    'layer',
    'type',
    'output',
    'bin params',
    'real params',
    'memory bits',
    'bin MACs',
    'real FLOPs',
  ];
  const rows = summary.layers
    .filter((l) => l.binaryParams + l.realParams + l.binaryMacs + l.realFlops > 0)
    .map((l) => [
      l.name,
      l.type,
      l.outputShape.slice(1).join('x'),
      compact(l.binaryParams),
      compact(l.realParams),
      compact(l.memoryBits),
      compact(l.binaryMacs),
      compact(l.realFlops),
    ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  const mbit = (summary.memoryBits / 1e6).toFixed(2);
  const mbyte = (summary.memoryBits / 8 / 1e6).toFixed(2);
  return [
    title,
    line(header),
    ...rows.map(line),
    '',
    `params: ${summary.params.toLocaleString('en-US')} (${summary.binaryParams.toLocaleString('en-US')} binary, ${summary.realParams.toLocaleString('en-US')} real)`,
    `memory: ${mbit} Mbit (${mbyte} MB)`,
    `binary MACs: ${summary.binaryMacs.toExponential(3)}   real FLOPs: ${summary.realFlops.toExponential(3)}`,
    `FLOPs (real + binary/${BINARY_OPS_PER_FLOP}): ${summary.flops.toExponential(3)}`,
  ].join('\n');
}
