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
/** Checks the answer to an exercise: throws `message` unless `ok`. */
const check = (ok: boolean, message: string) => {
  if (!ok) throw new Error(message);
};

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
// counts a binary operation as 1/64 of a FLOP. A worked example with $n = 16$, in one 32-bit
// word. JavaScript's bit operators work on 32-bit integers and take a shift count modulo 32, so
// the naive mask `(1 << n) - 1` breaks for a full word: `1 << 32` is `1 << 0` = 1 and the mask
// becomes 0. The code below writes the full-word mask out, and reads words with `>>> 0` as
// unsigned (bit 31 set would otherwise make them negative), so that it holds up to $n = 32$.

// %%
const n: number = 16; // up to 32: one word
const a = Array.from({ length: n }, (_, i) => ((i * 7 + 3) % 5 < 2 ? -1 : 1));
const wBits = Array.from({ length: n }, (_, i) => ((i * 3 + 1) % 4 === 0 ? -1 : 1));
/** The bits of a ±1 vector (length <= 32) as an unsigned word: entry i at bit i, +1 -> 1. */
const pack = (v: number[]) => v.reduce((word, s, i) => (s > 0 ? (word | (1 << i)) >>> 0 : word), 0);
const popcount = (x: number) =>
  x
    .toString(2)
    .split('')
    .filter((b) => b === '1').length;
const mask = n === 32 ? 0xffffffff : (1 << n) - 1; // the low n bits
const xnor = (~(pack(a) ^ pack(wBits)) & mask) >>> 0;
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
// (32 bits per real parameter, 1 per binary one) and FLOPs, at the ImageNet configuration
// (224x224 input, 1000 classes). Its "FLOPs", like the paper's, count **multiply-accumulates**
// (MACs): one real MAC is one FLOP, and a binary MAC 1/64 of one (real MACs + binary MACs / 64).
// Bi-Real-18 keeps the first conv, the 1x1 downsampling convs and the classifier real, as the
// paper does.

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
      'FLOPs (MACs)',
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
    `**${(real.flops / binary.flops).toFixed(1)}x** fewer FLOPs (MACs) than ResNet-18 (counted by ` +
    'this summary; the last column is the paper, for reference).',
);
plot(
  tslab.display,
  [
    {
      type: 'bar',
      name: 'ResNet-18',
      x: ['memory (Mbit)', 'FLOPs = MACs (x1e8)'],
      y: [real.memoryBits / 1e6, real.flops / 1e8],
    },
    {
      type: 'bar',
      name: 'Bi-Real-18',
      x: ['memory (Mbit)', 'FLOPs = MACs (x1e8)'],
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
// ## Counted, and measured
//
// The FLOPs ratio is a count, not a speed. The project's packed 1-bit engine (`PackedNet`:
// bit-packed weights, XNOR-popcount convs) has been timed against ONNX Runtime running the float
// ResNet-18, both on one thread, at 224 px, batch 1 (`npm run bench -- engine`, recorded in
// `results/bench/`):
//
// | host | Bi-Real-18, packed engine | ResNet-18, ONNX Runtime | speed-up | file |
// |---|---|---|---|---|
// | AMD EPYC Zen 4, AVX-512 VPOPCNTDQ | 3.5 ms | 19.5 ms | 5.5x | `engine-2026-12-05.md` |
// | Intel Sapphire Rapids class, AVX-512 VPOPCNTDQ | 6.2 ms | 29.5 ms | 4.8x | `portability-2026-12-07.md` |
// | the same Intel host, the engine's AVX2 kernels | 11.1 ms | 30.0 ms | 2.7x | `portability-2026-12-07.md` |
//
// About half of the 11x shows up at best. The real-valued layers keep their full price: on the
// Zen 4 host the 7x7 stem conv alone takes 1.228 ms of about 3.5, about as long as all sixteen
// 1-bit convs together (1.29 ms); on the Intel host it takes 1.82 ms of 6.2 (the 1-bit convs
// 2.5 ms).

// %% [markdown]
// ## Check yourself
//
// **Check 1.** Take $a = (+1, -1, -1, +1, +1, +1, -1, +1)$ and
// $w = (+1, +1, -1, -1, +1, -1, -1, +1)$. Write both as bits (entry 0 first), XNOR them, count
// the ones, and compute $a \cdot w$ from the identity above. The answer checks it against the
// library's 1-bit conv: a 1x1 `BinaryConv2D` over 8 input channels computes exactly this dot
// product.

// %% tags=["answer"]
// a: 1 0 0 1 1 1 0 1, w: 1 1 0 0 1 0 0 1. They agree at entries 0, 2, 4, 6 and 7:
// XNOR = 1 0 1 0 1 0 1 1, popcount 5, so a . w = 2 * 5 - 8 = 2.
import { BinaryConv2D } from 'bireal';
const answerDot = 2;
const [checkA, checkW] = [
  [1, -1, -1, 1, 1, 1, -1, 1],
  [1, 1, -1, -1, 1, -1, -1, 1],
];
const conv1x1 = new BinaryConv2D({ filters: 1, kernelSize: 1, binarizer: 'sign' });
conv1x1.build([1, 1, 1, 8]);
conv1x1.setWeights([tf.tensor4d(checkW, [1, 1, 8, 1])]);
const libraryDot = (conv1x1.apply(tf.tensor4d(checkA, [1, 1, 1, 8])) as tf.Tensor).dataSync()[0];
const checkXnor = (~(pack(checkA) ^ pack(checkW)) & 0xff) >>> 0;
check(
  popcount(checkXnor) === 5 && 2 * popcount(checkXnor) - 8 === answerDot,
  `XNOR ${checkXnor.toString(2)}`,
);
check(libraryDot === answerDot, `the 1-bit conv gives ${libraryDot}`);
console.log(
  `a . w = ${answerDot}; XNOR (entry 7 first): ${checkXnor.toString(2).padStart(8, '0')}`,
);

// %% [markdown]
// **Check 2.** The first 1-bit conv of Bi-Real-18's stage 1 (`s1_conv1`) has a 3x3 kernel,
// 64 input and 64 output channels, and a 56x56 output at 224 px. How many binary MACs does it
// do per image, how many FLOPs does the cost summary count for them, and how many bits do its
// weights take (and as 32-bit floats)?

// %% tags=["answer"]
// Each output value sums 3 * 3 * 64 = 576 products: 56 * 56 * 64 outputs * 576 = 115,605,504
// binary MACs, 115,605,504 / 64 = 1,806,336 FLOPs. Weights: 576 * 64 = 36,864 bits, against
// 36,864 * 32 = 1,179,648 bits as floats.
const answerMacs = 56 * 56 * 64 * (3 * 3 * 64);
const s1conv1 = binary.layers.find((l) => l.name === 's1_conv1');
check(s1conv1?.binaryMacs === answerMacs, `binary MACs: ${s1conv1?.binaryMacs}`);
check(s1conv1?.flops === answerMacs / 64, `FLOPs: ${s1conv1?.flops}`);
check(s1conv1?.memoryBits === 3 * 3 * 64 * 64, `memory: ${s1conv1?.memoryBits} bits`);
console.log(
  `s1_conv1: ${answerMacs} binary MACs, ${answerMacs / 64} FLOPs, ${s1conv1?.memoryBits} bits`,
);

// %% [markdown]
// ## Exercise
//
// 1. Repeat the cost table for `resnet34` and `bireal34`. Which part of Bi-Real-34's memory is
//    real-valued, and why does it grow less than the binary part?
// 2. Change `n` in the XNOR example to 32, a full word, and check the identity again. What
//    breaks if $n$ is not a multiple of the word size, and how would you pad? What changes for
//    $n > 32$?
