// %% [markdown]
// # 3. Scaled 1-bit weights and the magnitude-aware gradient
//
// Bi-Real Net's 1-bit conv uses $W_b = \alpha \cdot \mathrm{sign}(W)$, with $\alpha$ the mean
// magnitude of each output channel's real weights $W$. The real weights are kept for training
// only; the sign is what the network computes with. What gradient should $W$ get?
//
// - The usual answer (BNN, and the authors' released code) treats $\alpha$ as a constant and
//   uses the clipped STE: $\dfrac{\partial L}{\partial W} = \dfrac{\partial L}{\partial W_b}\, 1_{|W| \le 1}$.
// - The paper's **magnitude-aware gradient** also scales by $\alpha$:
//   $\dfrac{\partial L}{\partial W} = \dfrac{\partial L}{\partial W_b}\, \alpha\, 1_{|W| < 1}$.
//   Its argument: the update of $W$ should be on the scale of the values it changes, $\alpha$.
//
// The library implements both (`magnitude-aware`, `scaled`), and `sign` (no $\alpha$ at all).

// %%
import * as tf from '@tensorflow/tfjs-core';
import * as tslab from 'tslab';
import { binarizeWeight, channelScale, type Binarizer } from 'bireal';
import {
  RUNS_LABEL,
  epochCurves,
  experimentRuns,
  markdownTable,
  plot,
  provenance,
  startNotebook,
} from 'bireal/notebook';

await startNotebook();

// %% [markdown]
// ## The rules, from the library's own gradients
//
// One output channel with weights spread over $[-1.5, 1.5]$, and an upstream gradient of 1 for
// every binary weight: `tf.grad` of `binarizeWeight` then shows each rule's
// $\partial L / \partial W$ as a function of $W$.

// %%
const values = Array.from({ length: 301 }, (_, i) => -1.5 + i / 100);
const w = tf.tensor4d(values, [1, 1, values.length, 1]);
const binarizers: Binarizer[] = ['magnitude-aware', 'scaled', 'sign'];
const alpha = channelScale(w).dataSync()[0] as number;
plot(
  tslab.display,
  binarizers.map((b) => ({
    type: 'scatter',
    mode: 'lines',
    name: b,
    x: values,
    y: Array.from(
      tf
        .grad((v: tf.Tensor) => tf.sum(binarizeWeight(v, b)))(w)
        .dataSync(),
    ),
  })),
  {
    title: { text: `dL/dW for dL/dWb = 1 (this channel's alpha = ${alpha.toFixed(3)})` },
    xaxis: { title: { text: 'real weight W' } },
    yaxis: { title: { text: 'dL/dW' }, range: [-0.05, 1.1] },
  },
);

// %% [markdown]
// `scaled` and `sign` share the clipped-STE rule (their forwards differ: with and without
// $\alpha$); the magnitude-aware rule is the same window scaled by $\alpha$. Real conv weights
// are small (He initialisation gives a std of about 0.06 for a 3x3x64 kernel), so $\alpha$ is
// small too and the magnitude-aware gradient is much smaller.
//
// With SGD that is a much smaller learning rate. With Adam, which divides each gradient
// element by a running estimate of its own magnitude, a constant factor cancels; what remains
// is that $\alpha$ changes from channel to channel and from step to step. So under Adam, the
// recipe the authors use, the two rules should train similarly. The experiment tests this.
//
// ## Experiment: three weight rules, and how often weights flip sign
//
// `weight-gradient` trains Bi-Real-18 (width 0.25, ApproxSign) on Imagenette at 64x64 px with
// each rule. The trainer also logs, per epoch, the fraction of binary weights whose sign
// changed during it: the 1-bit network only changes when a sign flips.

// %%
const runs = await experimentRuns('weight-gradient');
plot(tslab.display, epochCurves(runs, 'epoch', 'weightSignFlips', 100), {
  title: { text: `Binary weights that flipped sign during each epoch, ${RUNS_LABEL}` },
  xaxis: { title: { text: 'epoch' }, dtick: 1 },
  yaxis: { title: { text: 'flipped (%)' }, type: 'log' },
});
plot(tslab.display, epochCurves(runs, 'eval', 'top1', 100), {
  title: { text: `Imagenette val top-1 after each epoch, ${RUNS_LABEL}` },
  xaxis: { title: { text: 'epoch' }, dtick: 1 },
  yaxis: { title: { text: 'top-1 (%)' } },
});
tslab.display.markdown(
  markdownTable(
    ['weights', 'top-1 (%)', 'top-5 (%)', 'flipped in epoch 1 (%)', 'flipped in last epoch (%)'],
    runs.map((r) => {
      const epochs = r.metrics.filter((m) => m['type'] === 'epoch');
      const flips = (i: number) => (100 * (epochs.at(i)?.['weightSignFlips'] as number)).toFixed(3);
      return [
        r.variant,
        (100 * r.summary.eval.top1).toFixed(1),
        (100 * r.summary.eval.top5).toFixed(1),
        flips(0),
        flips(-1),
      ];
    }),
  ) + `\n\n${provenance(runs)}`,
);

// %% [markdown]
// ## What to look at
//
// - Flip rates fall as the learning rate decays: the network settles.
// - Compare the magnitude-aware and `scaled` rows: under Adam, do they differ by more than the
//   run-to-run noise? (Notebook 06 repeats runs over seeds to measure that noise.)
// - `sign` drops $\alpha$ from the forward pass. BatchNorm after each conv can absorb a constant
//   per-channel scale, so dropping it need not cost much; the table shows what it cost here.
//
// ## Exercise
//
// 1. Switch the recipe's optimizer to SGD with momentum (`configs/*.json` shows the format) and
//    predict, then measure, what the magnitude-aware rule does to the flip rate.
// 2. $\alpha$ is treated as a constant in both rules. Write the gradient that also flows
//    through $\alpha = \mathrm{mean}|W|$ and check it against `tf.grad` of
//    `tf.mul(tf.mean(tf.abs(w)), signPlusMinusOne(w))` with a clipped-STE custom gradient.
