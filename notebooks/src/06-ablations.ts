// %% [markdown]
// # 6. Ablations: which part of Bi-Real Net matters, measured over seeds
//
// Bi-Real Net is a plain 1-bit ResNet with four changes: the real-valued shortcut around every
// 1-bit conv (notebook 4), the ApproxSign activation gradient (notebook 2), the magnitude-aware
// weight gradient (notebook 3) and initialisation from a pretrained real network (notebook 5).
// Here each part is changed in turn, on two datasets, and every configuration is trained with
// three seeds, so that a difference can be compared with the spread between seeds.
//
// | part | Bi-Real-18 (reference) | changed to |
// |---|---|---|
// | activation gradient | ApproxSign | the STE (`ste`), the clipped STE (`clipped-ste`) |
// | weight gradient | magnitude-aware $\alpha\,\mathrm{sign}(W)$ | clipped STE on $\alpha\,\mathrm{sign}(W)$ (`scaled-sign`) |
// | initialisation | from scratch | a real ResNet-18 trained first, with ReLU (`relu-pretrained`) or clip (`clip-pretrained`) |
// | structure | shortcut per conv | plain 1-bit ResNet, shortcut per pair of convs (`plain-resnet`) |
//
// The paper's own ablation numbers are on ImageNet-1k and are not reproduced here. These runs
// are small so that the whole grid fits on a laptop's CPU: width 0.25, 32x32 px; Imagenette
// (real ImageNet photos, 10 classes) for 6 epochs, after 4 real epochs for the pretrained
// variants; CIFAR-10 for 1 epoch (50,000 images), after 1 real epoch.

// %%
import * as tslab from 'tslab';
import { GRID_ROWS, gridTable, regimeCells, regimeTable } from 'bireal';
import {
  RUNS_LABEL,
  experimentRuns,
  provenance,
  regimeChart,
  seedBars,
  startNotebook,
} from 'bireal/notebook';

await startNotebook();

// %%
const grids = {
  Imagenette: await experimentRuns('grid-imagenette'),
  'CIFAR-10': await experimentRuns('grid-cifar10'),
};
tslab.display.markdown(
  gridTable(grids) +
    '\n\nstd: sample standard deviation over seeds; "vs Bi-Real-18": difference of the means, ' +
    `in points.\n\nImagenette: ${provenance(grids.Imagenette)}\n\nCIFAR-10: ${provenance(grids['CIFAR-10'])}`,
);
seedBars(
  tslab.display,
  grids,
  GRID_ROWS.map((r) => r.variant),
  `Top-1 of each configuration, mean ± std and each seed, ${RUNS_LABEL}`,
);

// %% [markdown]
// ## How to read it
//
// - A difference smaller than about two standard deviations is not resolved by three seeds.
// - **Activation gradient.** The STE is the worst of the three: clearly on Imagenette, on average
//   on CIFAR-10, where one seed fell far behind. The clipped STE, not ApproxSign, is the best on
//   both: the opposite of the paper's ImageNet-1k ablation.
// - **Weight gradient.** Magnitude-aware and plain scaled-sign gradients give the same accuracy
//   here, within the spread between seeds.
// - **Initialisation.** Starting from a pretrained real ResNet-18 helps on both datasets, with
//   ReLU or clip alike. Part of that gain is compute: the pretrained variants also trained the
//   real network first (4 more epochs on Imagenette, 1 on CIFAR-10).
// - **Structure.** The plain 1-bit ResNet beats Bi-Real-18 here, again the opposite of the
//   paper.
// - Small images and short training favour whatever learns fastest; the paper's ImageNet-1k
//   gaps need not appear here with the same sizes, or at all. That is a finding about this
//   setting, not a verdict on the paper.
//
// ## Where do the claims hold? The regime map
//
// The grid above is far from the paper's regime: width 0.25 (16-128 channels instead of
// 64-512), 32 px instead of 224, 6 epochs instead of tens, 10 classes instead of 1,000. The two
// results that contradict the paper, the plain 1-bit ResNet and the clipped STE beating
// Bi-Real-18, may belong to that regime. So the two gaps are measured again while the regime
// moves toward the paper's, one step at a time:
//
// - **width**: 0.25, 0.5 and 1 (full width) at 64 px, 16 epochs (experiment `regime-map-64`);
// - **resolution**: 128 px at full width, 12 epochs (experiment `imagenette-128`).
//
// Each gap is Bi-Real-18's top-1 minus the variant's, computed per seed (both trained with the
// same seed, so the same data order), in points. **Above zero, the paper's claim holds here.**

// %%
const regime = regimeCells([
  ...grids.Imagenette,
  ...(await experimentRuns('regime-map-64')),
  ...(await experimentRuns('imagenette-128')),
]);
regimeChart(
  tslab.display,
  regime,
  `The two gaps as the network widens (Imagenette val), ${RUNS_LABEL}`,
);
tslab.display.markdown(
  regimeTable(regime) +
    '\n\nGaps: mean ± std over seeds of the per-seed difference, in points.\n\n' +
    provenance(regime.flatMap((cell) => cell.runs)),
);

// %% [markdown]
// ## What the map shows
//
// In these measurements (Imagenette, 10 classes; three seeds per cell at 32 px and at 64 px,
// two at 128 px):
//
// - **Both claims fail in the quick setting, by a lot**: at 32 px, width 0.25 and 6 epochs
//   the plain 1-bit ResNet-18 leads by about 9 points and the clipped STE by about 5.
// - **Most of that is the regime.** Longer training at 64 px cuts both gaps to a third (3.3
//   and 1.6 points below zero).
// - **Widening closes the shortcut gap step by step**: 3.3 points below zero at width 0.25,
//   2.0 at 0.5 and 1.6 at full width (64-512 channels). The estimator gap stays at 1.6 points
//   until width 0.5 and falls to 0.7 at full width.
// - **At 64 px neither claim holds, even at full width**: both gaps stay below zero, by more
//   than their seed spread. On Imagenette at 64 px the paper's shortcut and ApproxSign cost
//   about one and a half points and two thirds of a point.
// - **At 128 px (full width, 12 epochs, two seeds) both gaps are within half a point of
//   zero**: Bi-Real-18 (73.7%) leads the clipped STE by 0.5 ± 0.6 points, the first gap on the
//   paper's side, though inside its spread, and trails the plain 1-bit ResNet-18 by 0.4 ± 0.2.
//   The trend runs the paper's way as the network widens and the images grow, but on
//   Imagenette neither part yet shows the gain the paper reports on ImageNet-1k.
// - What is left between here and the paper is 224 px, 1,000 classes and much longer training:
//   the claims may hold there; this map does not reach it. Notebook 7 trains Bi-Real-18 with
//   the paper's two-stage recipe at 224 px, one seed, without the variants.

// %% [markdown]
// ## Does the learning rate decide it?
//
// Every recipe here uses Adam at 4e-3 with batch 64, chosen by a 2-epoch trial. The authors
// used 1e-3 at batch 512, which is 1.25e-4 at batch 64 under linear scaling. If the gaps
// changed sign with the rate, the map above would describe the rate, not the methods. One
// cell of the map (64 px, width 0.5) is trained again at 1e-3 and 2.5e-4 (experiment
// `lr-sensitivity`).

// %%
const rates = regimeCells(await experimentRuns('lr-sensitivity'));
tslab.display.markdown(
  regimeTable(rates, true) + '\n\n' + provenance(rates.flatMap((cell) => cell.runs)),
);

// %% [markdown]
// The lower the rate, the lower every network ends after 16 epochs (seed 0) and the wider both
// gaps: 3 to 3.5 points below zero at 1e-3, 4 to 6 at 2.5e-4. A rate nearer the authors' does
// not turn the map the paper's way; it slows Bi-Real-18 most. The authors' small rate came with
// a schedule many times longer, which this cell does not test: the conclusions above hold for
// the rate that trains best in 16 epochs.

// %% [markdown]
// ## Exercise
//
// 1. Add a configuration that changes two parts at once (say `plain-resnet` with the clipped
//    STE, in `ablationGrid` of `src/experiments/index.ts`): do the two differences add up?
// 2. Train the CIFAR-10 grid for more epochs (`binary` in its `ablationGrid` call) with
//    `npx bireal experiment grid-cifar10` and see which differences survive longer training.
