/**
 * Two-stage initialisation (the paper's clip pretraining): copy the weights of a trained
 * real-valued model into a binary model of the same shape, layer by layer, matched by name.
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/** What {@link initFromReal} did, layer by layer. */
export interface InitReport {
  /** Target layers whose every weight was copied from the same-named source layer. */
  copied: string[];
  /** Target layers with weights but no same-named layer in the source (left as initialised). */
  missing: string[];
  /** Same-named layers whose weight shapes differ (left as initialised), with both shapes. */
  mismatched: { layer: string; target: number[][]; source: number[][] }[];
  /** Source layers with weights that no target layer took. */
  unused: string[];
}

function weightShapes(layer: tfl.layers.Layer): number[][] {
  return layer.weights.map((w) => [...w.shape] as number[]);
}

/**
 * Copies weights from `source` (e.g. a clip-pretrained `resnet18`) into `target` (e.g.
 * `bireal18`) for every layer present in both with identical weight shapes: conv kernels
 * become the latent real weights of the binary convs, BatchNorm parameters and statistics and
 * the classifier are copied as they are. Returns what was copied and what was not.
 * @param target - the network that receives the weights.
 * @param source - the trained network they come from.
 */
export function initFromReal(target: tfl.LayersModel, source: tfl.LayersModel): InitReport {
  const sourceLayers = new Map(
    source.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l] as const),
  );
  const report: InitReport = { copied: [], missing: [], mismatched: [], unused: [] };
  for (const layer of target.layers) {
    if (layer.weights.length === 0) continue;
    const from = sourceLayers.get(layer.name);
    if (from === undefined) {
      report.missing.push(layer.name);
      continue;
    }
    sourceLayers.delete(layer.name);
    const targetShapes = weightShapes(layer);
    const sourceShapes = weightShapes(from);
    if (JSON.stringify(targetShapes) !== JSON.stringify(sourceShapes)) {
      report.mismatched.push({ layer: layer.name, target: targetShapes, source: sourceShapes });
      continue;
    }
    layer.setWeights(from.getWeights()); // getWeights returns the variables themselves: no dispose
    report.copied.push(layer.name);
  }
  report.unused = [...sourceLayers.keys()];
  return report;
}
