// %% [markdown]
// # 5. Starting from a real network: ReLU or clip pretraining
//
// Training a 1-bit network from random weights is slow and noisy. Bi-Real Net instead starts
// from a real-valued ResNet-18 whose weights already do the job, and copies them into the
// 1-bit network (same layers, same shapes), which then trains with its signs.
//
// Which real network? A standard ResNet uses ReLU, whose outputs are never negative. The
// 1-bit network will feed every conv with $\mathrm{sign}(x) \in \{-1, +1\}$, and ApproxSign
// passes gradient only for $|x| < 1$. The paper pretrains with $\mathrm{clip}(x, -1, 1)$ in
// place of ReLU: symmetric around zero and bounded like the sign, so the real network's
// weights are tuned to the kind of input the 1-bit one will see.

// %%
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tslab from 'tslab';
import { createModel } from 'bireal';
import {
  RUNS_LABEL,
  epochCurves,
  experimentRuns,
  markdownTable,
  plot,
  provenance,
  samplePhotos,
  startNotebook,
} from 'bireal/notebook';

await startNotebook();

// %% [markdown]
// ## What each activation hands to the next conv
//
// 16 Imagenette photos at 64 px through a freshly initialised ResNet-18 with ReLU and one with
// clip (BatchNorm on the batch's statistics). The histograms show the values leaving the first
// block's activation, the input of the next conv: where Bi-Real-18 puts a sign.

// %% tags=["node"]
const size = 64;
const images = await samplePhotos('imagenette:val', 16, size);
const activations = (['relu', 'clip'] as const).map((activation) => {
  const model = createModel('resnet18', {
    inputSize: size,
    classes: 10,
    width: 0.25,
    seed: 0,
    activation,
  });
  const probe = tfl.model({
    inputs: model.inputs,
    outputs: model.getLayer('s1_act1').output as tfl.SymbolicTensor,
  });
  const out = probe.apply(images, { training: true }) as tf.Tensor;
  const values = Array.from(out.dataSync());
  tf.dispose(out);
  model.dispose();
  return { activation, values };
});
plot(
  tslab.display,
  activations.map(({ activation, values }) => ({
    type: 'histogram',
    name: activation,
    x: values.filter((_, i) => i % 32 === 0).map((v) => Number(v.toFixed(3))),
    nbinsx: 120,
    opacity: 0.7,
  })),
  {
    title: {
      text: 'Values leaving s1_act1 (every 32nd of 16x16x16x16): ReLU vs clip, fresh networks',
    },
    barmode: 'overlay',
    xaxis: { title: { text: 'activation' } },
    yaxis: { title: { text: 'count' }, type: 'log' },
  },
);
tslab.display.markdown(
  markdownTable(
    ['activation', 'share with sign -1', 'share in (-1, 1), where ApproxSign passes gradient'],
    activations.map(({ activation, values }) => [
      activation,
      `${((100 * values.filter((v) => v < 0).length) / values.length).toFixed(1)}%`,
      `${((100 * values.filter((v) => Math.abs(v) < 1).length) / values.length).toFixed(1)}%`,
    ]),
  ),
);
tf.dispose(images);

// %% [markdown]
// After a ReLU, every value is $\ge 0$: its sign is always $+1$ and carries no information, and
// the weights of the next layer learned to expect that. After clip, both signs occur.
//
// ## Experiment: ReLU-pretrained, clip-pretrained, or from scratch
//
// `clip-pretraining` trains a real ResNet-18 (width 0.25) for 4 epochs with ReLU or with clip,
// then Bi-Real-18 starts from those weights and trains 6 epochs; the third variant trains
// Bi-Real-18's 6 epochs from random weights. Imagenette at 64 px, Adam with linear decay in
// every stage. Epochs are numbered within each stage.

// %%
const runs = await experimentRuns('clip-pretraining');
const binaryOnly = runs.map((r) => ({
  ...r,
  metrics: r.metrics.filter((m) => m['stage'] === 'binary'),
}));
plot(tslab.display, epochCurves(binaryOnly, 'eval', 'top1', 100), {
  title: { text: `Bi-Real-18 val top-1 after each binary epoch, ${RUNS_LABEL}` },
  xaxis: { title: { text: 'epoch of the binary stage' }, dtick: 1 },
  yaxis: { title: { text: 'top-1 (%)' } },
});
const realStage = runs.map((r) => ({
  ...r,
  metrics: r.metrics.filter((m) => m['stage'] === 'real'),
}));
tslab.display.markdown(
  markdownTable(
    [
      'start',
      'real ResNet-18 top-1 (%)',
      'Bi-Real-18 top-1 after binary epoch 1 (%)',
      'Bi-Real-18 final top-1 (%)',
      'top-5 (%)',
    ],
    runs.map((r, i) => {
      const realEval = (realStage[i]?.metrics ?? []).filter((m) => m['type'] === 'eval').at(-1);
      const firstBinary = (binaryOnly[i]?.metrics ?? []).find((m) => m['type'] === 'eval');
      return [
        r.variant,
        realEval === undefined ? '-' : (100 * (realEval['top1'] as number)).toFixed(1),
        firstBinary === undefined ? '-' : (100 * (firstBinary['top1'] as number)).toFixed(1),
        (100 * r.summary.eval.top1).toFixed(1),
        (100 * r.summary.eval.top5).toFixed(1),
      ];
    }),
  ) + `\n\n${provenance(runs)}`,
);

// %% [markdown]
// ## What to look at
//
// - The first binary epoch shows the head start each initialisation gives.
// - Compare the real networks too: clip bounds every activation to $[-1, 1]$, which can cost
//   the real network some accuracy; what matters is the 1-bit network it leads to.
// - The pretrained variants also trained 4 more epochs in total: compare them with scratch
//   knowing that, or give scratch 10 epochs (exercise 1).
// - This is width 0.25. The same comparison at full width is the experiment `init-64` (64 px,
//   4 real + 16 binary epochs) in `scripts/long-runs.sh`; `results/experiments/README.md`
//   lists it once recorded. Notebook 06 shows how much the width changes the other claims.
//
// ## Exercise
//
// 1. Add a variant to `clip-pretraining` in `src/experiments/index.ts` that trains Bi-Real-18
//    from scratch for 10 epochs, and record it with `npx bireal experiment clip-pretraining`.
// 2. `initFromReal` copies weights by layer name. Which layers of Bi-Real-18 have no
//    counterpart in the real ResNet-18, and what do they start from?
