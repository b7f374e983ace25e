// %% [markdown]
// # 4. The Bi-Real shortcut: real values between 1-bit convolutions
//
// A 1-bit conv with $C$ input channels and a 3x3 kernel sums $9C$ products of $\pm 1$: its
// output is one of only $9C + 1$ integers (times the channel's $\alpha$). BatchNorm shifts and
// scales them but cannot create new values. In a plain 1-bit ResNet, the next conv's input is
// exactly such a BatchNorm output whenever no shortcut joins in between (every other conv).
//
// Bi-Real Net adds the block's **real-valued input** to the output of **every** 1-bit conv
// (`out = BN(conv(sign(x))) + x`). The sum carries real activations from block to block: every
// conv's real-valued output is passed on, and the values entering each sign are effectively
// continuous. The paper calls this a larger *representational capability* of the real-valued
// activations.
//
// This notebook counts those values on real photos, then compares the two structures trained.

// %%
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tslab from 'tslab';
import { createModel } from 'bireal';
import {
  RUNS_LABEL,
  accuracyCurves,
  experimentRuns,
  markdownTable,
  plot,
  provenance,
  samplePhotos,
  startNotebook,
} from 'bireal/notebook';

await startNotebook();
/** Checks the answer to an exercise: throws `message` unless `ok`. */
const check = (ok: boolean, message: string) => {
  if (!ok) throw new Error(message);
};

// %% [markdown]
// ## Distinct values entering the second conv of each stage
//
// 16 Imagenette validation photos (real ImageNet images) at 64x64 px go through a Bi-Real-18 and
// a plain 1-bit ResNet-18, both at width 0.25 and freshly initialised (the count is a property
// of the structure, not of training), with BatchNorm using the batch's statistics. For each
// stage we take the tensor that the sign of its second conv receives, and count the distinct
// values in each channel.

// %% tags=["node"]
const size = 64;
const images = await samplePhotos('imagenette:val', 16, size);
const stages = [1, 2, 3, 4];
/** The tensors entering each stage's second 1-bit conv. */
function convInputs(name: 'bireal18' | 'plain-binary-resnet18'): tf.Tensor[] {
  const model = createModel(name, { inputSize: size, classes: 10, width: 0.25, seed: 0 });
  const layer = (s: number) => model.getLayer(name === 'bireal18' ? `s${s}_add1` : `s${s}_bn1`);
  const probe = tfl.model({
    inputs: model.inputs,
    outputs: stages.map((s) => layer(s).output as tfl.SymbolicTensor),
  });
  return probe.apply(images, { training: true }) as tf.Tensor[];
}
/** Mean over channels of the number of distinct values in each channel. */
function distinctPerChannel(t: tf.Tensor): number {
  const channels = t.shape[3] as number;
  const data = t.dataSync();
  const sets = Array.from({ length: channels }, () => new Set<number>());
  data.forEach((v, i) => sets[i % channels]?.add(v));
  return sets.reduce((sum, s) => sum + s.size, 0) / channels;
}
const bireal = convInputs('bireal18');
const plain = convInputs('plain-binary-resnet18');
const inChannels = [16, 16, 32, 64]; // the first conv's input channels in each stage (width 0.25)
tslab.display.markdown(
  markdownTable(
    [
      'stage',
      'samples per channel',
      'plain 1-bit ResNet-18',
      'Bi-Real-18',
      'a 1-bit conv can give at most',
    ],
    stages.map((s, i) => [
      s,
      (bireal[i] as tf.Tensor).size / ((bireal[i] as tf.Tensor).shape[3] as number),
      distinctPerChannel(plain[i] as tf.Tensor).toFixed(1),
      distinctPerChannel(bireal[i] as tf.Tensor).toFixed(1),
      9 * (inChannels[i] as number) + 1,
    ]),
  ),
);

// %% [markdown]
// The plain network's values are capped by the integer sums, and far fewer actually occur;
// Bi-Real's are nearly all distinct. Here is one channel of stage 1 as histograms:

// %% tags=["node"]
const channelValues = (t: tf.Tensor, c: number) => {
  const channels = t.shape[3] as number;
  return Array.from(t.dataSync())
    .filter((_, i) => i % channels === c)
    .map((v) => Number(v.toFixed(3)));
};
plot(
  tslab.display,
  [
    {
      type: 'histogram',
      name: 'plain 1-bit ResNet-18 (s1_bn1)',
      x: channelValues(plain[0] as tf.Tensor, 0),
      nbinsx: 200,
      opacity: 0.7,
    },
    {
      type: 'histogram',
      name: 'Bi-Real-18 (s1_add1)',
      x: channelValues(bireal[0] as tf.Tensor, 0),
      nbinsx: 200,
      opacity: 0.7,
    },
  ],
  {
    title: { text: 'Channel 0 entering the sign of stage 1, conv 2: 16 Imagenette photos, 64 px' },
    barmode: 'overlay',
    xaxis: { title: { text: 'value' } },
    yaxis: { title: { text: 'count' } },
  },
);
tf.dispose([...bireal, ...plain, images]);

// %% [markdown]
// What the count shows, and what it does not. The sign maps every one of these values to
// $\pm 1$: more distinct values do not mean that more passes through a sign, and each 1-bit
// conv reads one bit per input value in both networks. What differs is where the real values
// go. In Bi-Real-18 each conv's real-valued (BatchNorm'd) output is added to the shortcut and
// passed on, so the next block's input, and in the end the pooled features the classifier
// reads, keep the magnitudes that each sign throws away. In the plain network the first conv of
// each pair feeds only the next sign, and its magnitudes end there. The count of distinct
// values measures the representational capability of the real-valued activations that the
// paper talks about, not what a sign passes.

// %% [markdown]
// ## Trained: plain 1-bit ResNet-18 against Bi-Real-18
//
// The experiment `shortcut` trains both (width 0.25, ApproxSign, magnitude-aware weights, Adam)
// on Imagenette at 64x64 px with the same recipe; the only difference is the shortcut.

// %%
const runs = await experimentRuns('shortcut');
accuracyCurves(tslab.display, runs, `Imagenette, 64 px: accuracy after each epoch, ${RUNS_LABEL}`);
tslab.display.markdown(
  markdownTable(
    ['structure', 'top-1 (%)', 'top-5 (%)', 'final train accuracy (%)'],
    runs.map((r) => {
      const last = r.metrics.filter((m) => m['type'] === 'epoch').at(-1);
      return [
        r.variant,
        (100 * r.summary.eval.top1).toFixed(1),
        (100 * r.summary.eval.top5).toFixed(1),
        (100 * (last?.['accuracy'] as number)).toFixed(1),
      ];
    }),
  ) + `\n\n${provenance(runs)}`,
);

// %% [markdown]
// ## What to look at
//
// - The shortcut costs nothing in the 1-bit arithmetic: one real addition per activation,
//   which a ResNet does anyway every two convs.
// - The paper measures the gap on ImageNet-1k: 1,000 classes at 224 px and full width, trained
//   to convergence. Here it is one seed, 10 classes, 64 px, width 0.25 and 6 epochs, and the
//   table says what happened in that setting, whichever way it went. Notebook 06 repeats the
//   comparison over seeds and follows it as the network widens: the plain network's lead is
//   largest in the smallest setting (about 9 points at 32 px), falls to 1.6 points at full
//   width (64 px, 16 epochs) and to 0.4 points at 128 px and full width (two seeds): small,
//   but not yet reversed.

// %% [markdown]
// ## What later work found
//
// No later paper read for this course repeats the plain-against-Bi-Real comparison on ImageNet
// with numbers. What later work shows is that the structure was kept:
//
// - The authors' journal version (Liu et al., "Bi-Real Net: Binarizing Deep Network Towards
//   Real-Network Performance", IJCV 2020, [arXiv:1811.01335](https://arxiv.org/abs/1811.01335))
//   takes it to 152 layers; their [README](https://github.com/liuzechun/Bi-Real-net) says the
//   1-layer-per-block structure "significantly outperforms" the 2-layer-per-block one.
// - ResNetE (Bethge et al. 2019, [arXiv:1906.08637](https://arxiv.org/abs/1906.08637)) has one
//   1-bit conv per shortcut: 58.32% ImageNet top-1 for Larq Zoo's ResNetE-18, 57.47% for its
//   BiRealNet (docstrings). Real-to-Binary Net (Martinez et al., ICLR 2020,
//   [arXiv:2003.11535](https://arxiv.org/abs/2003.11535)) has a shortcut around each 1-bit conv
//   in Larq Zoo's implementation; ReActNet (Liu et al., ECCV 2020,
//   [arXiv:2003.03488](https://arxiv.org/abs/2003.03488)) has shortcuts "bypassing all the
//   intermediate convolutional layers" (abstract). ReActNet built on Bi-Real Net-18 reaches 65.9%
//   ImageNet top-1 against Bi-Real Net's 56.4% (its README's table), from other changes
//   (learnable thresholds and activations, distillation), not from the shortcut.
//
// Beside this notebook: on Imagenette the plain 1-bit ResNet-18 stays ahead, by 8.6 points at
// 32 px, 1.6 at 64 px and full width, and 0.4 ± 0.2 at 128 px (notebook 6). The published case
// for the shortcut rests on the authors' ImageNet results; a reversal in small, short settings
// like this one is not reported in the sources read here. Whether the gap moves with longer
// training (16 and 48 epochs) or more classes (2, 5 and 10) is in notebook 6, section "The
// map's other two axes".

// %% [markdown]
// ## Check yourself
//
// **Check 1.** A 1-bit conv with a 3x3 kernel over 64 input channels sums $3 \cdot 3 \cdot 64$
// products of $\pm 1$. How many distinct values can one of its outputs take (before the
// channel's $\alpha$ and BatchNorm), which are they, and why are they all even?

// %% tags=["answer"]
// 577: the even integers -576, -574, ..., 576. Each of the 576 products is +1 or -1; with k of
// them -1 the sum is 576 - 2k, k = 0 ... 576, so its parity is that of 576 (the 9C + 1 of the
// table, C = 64). The check feeds a BinaryConv2D (all weights +1) 577 patches, patch k with
// its first k entries -1.
import { BinaryConv2D } from 'bireal';
const answerCount = 577;
const allPlus = new BinaryConv2D({
  filters: 1,
  kernelSize: 3,
  padding: 'valid',
  binarizer: 'sign',
});
allPlus.build([1, 3, 3, 64]);
allPlus.setWeights([tf.ones([3, 3, 64, 1])]);
const patches = tf.tensor4d(
  Array.from({ length: answerCount * 576 }, (_, i) => (i % 576 < Math.floor(i / 576) ? -1 : 1)),
  [answerCount, 3, 3, 64],
);
const sums = Array.from((allPlus.apply(patches) as tf.Tensor).dataSync());
check(new Set(sums).size === answerCount, `${new Set(sums).size} distinct sums`);
check(
  sums.every((v) => v % 2 === 0) && Math.min(...sums) === -576 && Math.max(...sums) === 576,
  `sums from ${Math.min(...sums)} to ${Math.max(...sums)}`,
);
console.log(
  `${new Set(sums).size} distinct values, from ${Math.min(...sums)} to ${Math.max(...sums)}`,
);

// %% [markdown]
// **Check 2.** A Bi-Real block on one pixel with 4 channels, BatchNorm left out:
// $\mathrm{out} = \mathrm{conv}(\mathrm{sign}(x)) + x$, where the 1x1 1-bit conv has the weights
// below (row $i$: input channel $i$, column $o$: output channel $o$). Compute the conv's output
// and the block's output for $x = (0.7, -0.2, 1.5, -0.1)$ and for
// $x' = (0.1, -0.9, 0.2, -1.3)$. Which of the two can tell $x$ from $x'$?
//
// $$W = \begin{pmatrix} 1 & -1 & 1 & 1 \\ 1 & 1 & -1 & 1 \\ -1 & 1 & 1 & 1 \\ 1 & -1 & -1 & 1 \end{pmatrix}$$

// %% tags=["answer"]
// sign(x) = sign(x') = (+1, -1, +1, -1), so the conv gives (-2, 0, 4, 0) for both (each output
// is that sign vector dotted with a column of W). The block adds its input: (-1.3, -0.2, 5.5,
// -0.1) for x and (-1.9, -0.9, 4.2, -1.3) for x'. The conv cannot tell x from x'; the block's
// output, which the next block receives, still can.
const answerConv = [-2, 0, 4, 0];
const answerBlock = [-1.3, -0.2, 5.5, -0.1, -1.9, -0.9, 4.2, -1.3];
const tinyConv = new BinaryConv2D({ filters: 4, kernelSize: 1, binarizer: 'sign' });
tinyConv.build([1, 1, 1, 4]);
tinyConv.setWeights([
  tf.tensor4d([1, -1, 1, 1, 1, 1, -1, 1, -1, 1, 1, 1, 1, -1, -1, 1], [1, 1, 4, 4]),
]);
const tinyInputs = tf.tensor4d([0.7, -0.2, 1.5, -0.1, 0.1, -0.9, 0.2, -1.3], [2, 1, 1, 4]);
const tinyConvOut = Array.from((tinyConv.apply(tinyInputs) as tf.Tensor).dataSync());
const tinyBlockOut = Array.from(
  tf.add(tinyConv.apply(tinyInputs) as tf.Tensor, tinyInputs).dataSync(),
);
const close = (got: number[], want: number[]) =>
  got.every((v, i) => Math.abs(v - (want[i] as number)) < 1e-6);
check(close(tinyConvOut, [...answerConv, ...answerConv]), `conv: ${tinyConvOut.join(', ')}`);
check(close(tinyBlockOut, answerBlock), `block: ${tinyBlockOut.join(', ')}`);
console.log(
  `conv: ${tinyConvOut.join(', ')}; block: ${tinyBlockOut.map((v) => v.toFixed(1)).join(', ')}`,
);

// %% [markdown]
// ## Exercise
//
// 1. Count distinct values at the *output of the first conv* (before BatchNorm) in both
//    networks. Why are they equal?
// 2. The plain network's count is far below its $9C + 1$ bound. Which integer sums are likely,
//    and which are rare? (Hint: a sum of $9C$ random $\pm 1$ values.)
