// %% [markdown]
// # 1. One-bit weights and activations
//
// A 1-bit convolutional network keeps only the **sign** of its weights and of the activations
// that enter each convolution. Bi-Real Net (Liu et al., ECCV 2018) is such a network. This
// notebook shows what binarization does to numbers, why a 1-bit dot product is just XNOR and
// popcount, and what it saves on a ResNet-18.
//
// Everything below runs the `bireal` library (in `src/`) on TensorFlow.js. Nothing here trains,
// so quick mode (what CI runs) and full mode give the same outputs.

// %%
import * as tf from '@tensorflow/tfjs-core';
import * as tslab from 'tslab';
import {
  binarizeWeight,
  channelScale,
  costSummary,
  createModel,
  openDataset,
  signPlusMinusOne,
} from 'bireal';
import { markdownTable, plot, startNotebook } from 'bireal/notebook';

await startNotebook();

// %% [markdown]
// ## Sign, with sign(0) = +1
//
// Binarization maps a real number to one of two values:
//
// $$x_b = \mathrm{sign}(x) = \begin{cases} +1 & x \ge 0 \\ -1 & x < 0 \end{cases}$$
//
// Zero must go somewhere: a 1-bit value has no third state. `tf.sign` returns 0 for 0 (and
// the wasm backend even returns 0 for |x| below about 1.2e-7), so the library's
// `signPlusMinusOne` is built without it. Compare the two on a few values:

// %%
const samples = [-1.5, -0.3, -1e-9, 0, 1e-9, 0.7];
const ours = signPlusMinusOne(tf.tensor1d(samples)).arraySync() as number[];
const tfSign = tf.sign(tf.tensor1d(samples)).arraySync() as number[];
tslab.display.markdown(
  markdownTable(
    ['x', 'signPlusMinusOne(x)', 'tf.sign(x)'],
    samples.map((x, i) => [x, ours[i] as number, tfSign[i] as number]),
  ),
);

// %% [markdown]
// ## Weights: sign and a scale per output channel
//
// Bi-Real Net binarizes each conv kernel $W$ to $\alpha \cdot \mathrm{sign}(W)$, with one
// scale per output channel, the mean magnitude of that channel's weights:
//
// $$\alpha_o = \frac{1}{n}\sum_{k} |W_{k,o}|$$
//
// The scale keeps the output's magnitude close to the real conv's. It costs one real number
// per output channel, and after training it folds into the BatchNorm that follows. Here is a
// small random kernel (3x3, 2 input channels, 2 output channels):

// %%
const w = tf.randomNormal([3, 3, 2, 2], 0, 0.1, 'float32', 7);
const alpha = channelScale(w).dataSync();
const wb = binarizeWeight(w, 'magnitude-aware');
const flat = (t: tf.Tensor) => Array.from(t.dataSync());
const [wv, sv, bv] = [flat(w), flat(signPlusMinusOne(w)), flat(wb)];
tslab.display.markdown(
  markdownTable(
    ['kernel entry (kh, kw, in, out)', 'W', 'sign(W)', 'alpha * sign(W)'],
    wv.slice(0, 8).map((v, i) => {
      const [kh, kw, cin, cout] = [Math.floor(i / 12), Math.floor(i / 4) % 3, (i >> 1) % 2, i % 2];
      return [
        `(${kh}, ${kw}, ${cin}, ${cout})`,
        v.toFixed(4),
        sv[i] as number,
        (bv[i] as number).toFixed(4),
      ];
    }),
  ) +
    `\n\nalpha per output channel: ${Array.from(alpha)
      .map((a) => a.toFixed(4))
      .join(', ')}`,
);

// %% [markdown]
// ## Activations: a real digit, before and after sign
//
// The input of every 1-bit conv is binarized too. Here is an MNIST test digit (normalised
// with the dataset's mean and std, as the training pipeline does) and its sign: one bit per
// pixel keeps the shape of the stroke and drops the shading.

// %% tags=["node"]
const mnist = await openDataset('mnist:test');
let digit: Float32Array | undefined;
for await (const batch of mnist.batches(
  { batchSize: 1, imageSize: 28, augment: false, seed: 0, workers: 0 },
  0,
)) {
  digit = batch.images;
  break;
}
await mnist.close();
const rows = (values: ArrayLike<number>) =>
  Array.from({ length: 28 }, (_, r) =>
    Array.from({ length: 28 }, (_, c) => Number((values[(27 - r) * 28 + c] as number).toFixed(2))),
  );
const signs = signPlusMinusOne(tf.tensor1d(digit as Float32Array)).dataSync();
plot(
  tslab.display,
  [
    {
      type: 'heatmap',
      z: rows(digit as Float32Array),
      colorscale: 'Greys',
      reversescale: true,
      showscale: false,
      xaxis: 'x',
      yaxis: 'y',
    },
    {
      type: 'heatmap',
      z: rows(signs),
      colorscale: 'Greys',
      reversescale: true,
      showscale: false,
      xaxis: 'x2',
      yaxis: 'y2',
    },
  ],
  {
    title: { text: 'MNIST test image 0: normalised pixels (left) and their sign (right)' },
    grid: { rows: 1, columns: 2, pattern: 'independent' },
    xaxis: { visible: false },
    yaxis: { visible: false, scaleanchor: 'x' },
    xaxis2: { visible: false },
    yaxis2: { visible: false, scaleanchor: 'x2' },
    height: 320,
  },
);

// %% [markdown]
// ## A 1-bit dot product is XNOR and popcount
//
// With $a, w \in \{-1, +1\}^n$ stored as bits ($+1 \to 1$, $-1 \to 0$), a product $a_i w_i$ is
// $+1$ exactly when the bits agree, which is XNOR. So
//
// $$a \cdot w = \#\text{agree} - \#\text{disagree} = 2\,\mathrm{popcount}(\mathrm{XNOR}(a, w)) - n.$$
//
// One 64-bit XNOR and one popcount instruction replace 64 multiply-adds: this is why the paper
// counts a binary operation as 1/64 of a FLOP. A worked example with $n = 16$:

// %%
const n = 16;
const a = Array.from({ length: n }, (_, i) => ((i * 7 + 3) % 5 < 2 ? -1 : 1));
const wBits = Array.from({ length: n }, (_, i) => ((i * 3 + 1) % 4 === 0 ? -1 : 1));
const pack = (v: number[]) => v.reduce((word, s, i) => (s > 0 ? word | (1 << i) : word), 0);
const popcount = (x: number) =>
  x
    .toString(2)
    .split('')
    .filter((b) => b === '1').length;
const xnor = ~(pack(a) ^ pack(wBits)) & ((1 << n) - 1);
const viaBits = 2 * popcount(xnor) - n;
const viaFloats = a.reduce((s, ai, i) => s + ai * (wBits[i] as number), 0);
tslab.display.markdown(
  [
    `a bits: \`${pack(a).toString(2).padStart(n, '0')}\``,
    `w bits: \`${pack(wBits).toString(2).padStart(n, '0')}\``,
    `XNOR: \`${xnor.toString(2).padStart(n, '0')}\`, popcount ${popcount(xnor)}`,
    `2 * popcount - n = **${viaBits}**; the float dot product: **${viaFloats}**`,
  ].join('\n\n'),
);

// %% [markdown]
// ## What it saves on a ResNet-18
//
// The library's cost summary counts every layer of a model: parameters by precision, memory
// (32 bits per real parameter, 1 per binary one) and FLOPs (real FLOPs plus binary MACs / 64),
// at the ImageNet configuration (224x224 input, 1000 classes). Bi-Real-18 keeps the first conv,
// the 1x1 downsampling convs and the classifier real, as the paper does.

// %%
const costs = (['resnet18', 'bireal18'] as const).map((name) => {
  const model = createModel(name, { inputSize: 224, classes: 1000 });
  const cost = costSummary(model);
  model.dispose();
  return { name, ...cost };
});
const [real, binary] = costs as [(typeof costs)[0], (typeof costs)[0]];
tslab.display.markdown(
  markdownTable(
    [
      'model',
      'params (M)',
      'binary params (M)',
      'memory (Mbit)',
      'binary MACs (G)',
      'FLOPs',
      'paper: memory / FLOPs',
    ],
    [
      [
        real.name,
        (real.params / 1e6).toFixed(2),
        (real.binaryParams / 1e6).toFixed(2),
        (real.memoryBits / 1e6).toFixed(1),
        (real.binaryMacs / 1e9).toFixed(2),
        real.flops.toExponential(3),
        '374.1 Mbit / 1.81e9',
      ],
      [
        binary.name,
        (binary.params / 1e6).toFixed(2),
        (binary.binaryParams / 1e6).toFixed(2),
        (binary.memoryBits / 1e6).toFixed(1),
        (binary.binaryMacs / 1e9).toFixed(2),
        binary.flops.toExponential(3),
        '33.6 Mbit / 1.63e8',
      ],
    ],
  ) +
    `\n\nBi-Real-18 needs **${(real.memoryBits / binary.memoryBits).toFixed(1)}x** less memory and ` +
    `**${(real.flops / binary.flops).toFixed(1)}x** fewer FLOPs than ResNet-18 (measured by this summary; ` +
    'the last column is the paper, for reference).',
);
plot(
  tslab.display,
  [
    {
      type: 'bar',
      name: 'ResNet-18',
      x: ['memory (Mbit)', 'FLOPs (x1e8)'],
      y: [real.memoryBits / 1e6, real.flops / 1e8],
    },
    {
      type: 'bar',
      name: 'Bi-Real-18',
      x: ['memory (Mbit)', 'FLOPs (x1e8)'],
      y: [binary.memoryBits / 1e6, binary.flops / 1e8],
    },
  ],
  {
    title: { text: 'Cost at 224x224, 1000 classes (log scale)' },
    yaxis: { type: 'log' },
    barmode: 'group',
  },
);

// %% [markdown]
// ## Exercise
//
// 1. Repeat the cost table for `resnet34` and `bireal34`. Which part of Bi-Real-34's memory is
//    real-valued, and why does it grow less than the binary part?
// 2. Change `n` in the XNOR example to 32 and check the identity again. What breaks if `n` is
//    not a multiple of the word size, and how would you pad?
