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
  accuracyCurves,
  experimentRuns,
  initialisationTable,
  markdownTable,
  plot,
  provenance,
  samplePhotos,
  stageRun,
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
accuracyCurves(
  tslab.display,
  runs.map((r) => stageRun(r, 'binary')),
  `Bi-Real-18 in its binary stage, width 0.25, ${RUNS_LABEL}`,
);
tslab.display.markdown(`${initialisationTable(runs)}\n\n${provenance(runs)}`);

// %% [markdown]
// ## At full width
//
// `init-64` repeats the comparison at full width (64-512 channels) with longer stages: 4 epochs
// of the real ResNet-18, then 16 of Bi-Real-18, Imagenette at 64 px. Its scratch run is the
// full-width Bi-Real-18 of notebook 6's regime map (seed 0, the same training).

// %%
const fullWidth = await experimentRuns('init-64');
accuracyCurves(
  tslab.display,
  fullWidth.map((r) => stageRun(r, 'binary')),
  `Bi-Real-18 in its binary stage, full width, ${RUNS_LABEL}`,
);
tslab.display.markdown(`${initialisationTable(fullWidth)}\n\n${provenance(fullWidth)}`);

// %% [markdown]
// ## What to look at
//
// - The first binary epoch shows the head start each initialisation gives.
// - Compare the real networks too: clip bounds every activation to $[-1, 1]$, which can cost
//   the real network some accuracy; what matters is the 1-bit network it leads to.
// - The pretrained variants also trained 4 more epochs in total: compare them with scratch
//   knowing that, or give scratch 10 epochs (exercise 1).
// - At width 0.25 (one seed) the clip and ReLU starts beat scratch by 3.3 and 4.4 points. At
//   full width (one seed) they end at 74.4% and 75.4%, 1.2 and 2.2 points above scratch
//   (73.2%; the full-width scratch runs of notebook 6 spread by 0.1 point over three seeds):
//   pretraining helps at both widths here, but the ReLU start leads the clip start the paper
//   prefers, by about a point at both widths. Notebook 6 shows how much the width changes
//   the other claims.
//
// ## Exercise
//
// 1. Add a variant to `clip-pretraining` in `src/experiments/index.ts` that trains Bi-Real-18
//    from scratch for 10 epochs, and record it with `npx bireal experiment clip-pretraining`.
// 2. `initFromReal` copies weights by layer name. Which layers of Bi-Real-18 have no
//    counterpart in the real ResNet-18, and what do they start from?
