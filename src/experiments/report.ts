/**
 * Tables of the recorded experiments (issue 7): the ablation grid on Imagenette and CIFAR-10,
 * and the results table of models. Pure functions of the runs, so the notebooks, the site (in
 * the browser) and `bireal report` (which writes results/README.md) show the same numbers.
 */
import { costSummary } from '../analysis/summary.js';
import { createModel } from '../models/index.js';
import { EXPERIMENTS, type ExperimentRun } from './index.js';

/**
 * Mean and sample standard deviation (NaN for a single value).
 * @param values - the numbers.
 */
export function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std =
    values.length > 1
      ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1))
      : NaN;
  return { mean, std };
}

/**
 * `41.1 ± 0.6` (percent, from fractions), or `41.1` for one seed; `-` for none.
 * @param values - one fraction per seed (0.411 for 41.1%).
 */
export function formatPercent(values: number[]): string {
  if (values.length === 0) return '-';
  const { mean, std } = meanStd(values.map((v) => 100 * v));
  return Number.isNaN(std) ? mean.toFixed(1) : `${mean.toFixed(1)} ± ${std.toFixed(1)}`;
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (header: string[], rows: (string | number)[][]) =>
  [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');

const top1 = (runs: ExperimentRun[], variant: string) =>
  runs.filter((r) => r.variant === variant).map((r) => r.summary.eval.top1);

/** What each variant of the ablation grid changes, by part of Bi-Real Net. */
export const GRID_ROWS: { variant: string; part: string; setting: string }[] = [
  {
    variant: 'bi-real',
    part: 'Bi-Real-18 (reference)',
    setting: 'ApproxSign, magnitude-aware, from scratch, shortcut per conv',
  },
  { variant: 'ste', part: 'activation gradient', setting: 'STE' },
  { variant: 'clipped-ste', part: 'activation gradient', setting: 'clipped STE' },
  { variant: 'scaled-sign', part: 'weight gradient', setting: 'plain scaled sign' },
  { variant: 'relu-pretrained', part: 'initialisation', setting: 'from a real ReLU ResNet-18' },
  { variant: 'clip-pretrained', part: 'initialisation', setting: 'from a real clip ResNet-18' },
  { variant: 'plain-resnet', part: 'structure', setting: 'plain 1-bit ResNet-18' },
];

/**
 * How a recorded experiment was trained, e.g. `imagenette, 32 px, 4 + 6 epochs`.
 * @param runs - the runs of an experiment (`loadExperiment`).
 */
export function trainingSetting(runs: ExperimentRun[]): string {
  const first = runs[0];
  if (first === undefined) return 'no runs';
  const epochs = [...new Set(runs.map((r) => r.recipe.stages.map((s) => s.epochs).join(' + ')))];
  return `${first.summary.dataset.train.split(':')[0]} at ${first.summary.dataset.imageSize} px, ${epochs.join(' or ')} epochs`;
}

/**
 * The distinct backends that trained `runs`, e.g. `wasm (SIMD, 1 thread)`.
 * @param runs - the runs of an experiment (`loadExperiment`).
 */
export function backends(runs: ExperimentRun[]): string {
  return [...new Set(runs.map((r) => r.summary.backend))].join(', ') || '-';
}

/**
 * The ablation grid: per variant, top-1 (%) mean ± std over seeds and its gap to Bi-Real-18 (the
 * reference), one column group per dataset (`columns`: heading → that dataset's runs). The gap
 * has the sign of the regime table's: Bi-Real-18's top-1 minus the variant's, per seed (see
 * {@link gapBySeed}), mean ± std over seeds, in points.
 * @param columns - a column group's heading → that dataset's runs.
 */
export function gridTable(columns: Record<string, ExperimentRun[]>): string {
  const names = Object.keys(columns);
  return table(
    [
      'part',
      'setting',
      ...names.flatMap((n) => [`${n} top-1 (%)`, 'Bi-Real-18 − variant (points)', 'seeds']),
    ],
    GRID_ROWS.map(({ variant, part, setting }) => [
      part,
      setting,
      ...names.flatMap((name) => {
        const runs = columns[name] ?? [];
        const mine = top1(runs, variant);
        const gap = variant === 'bi-real' ? '' : formatGap(gapBySeed({ runs }, variant));
        return [formatPercent(mine), gap, mine.length];
      }),
    ]),
  );
}

/** What the sign of a grid gap says (under the grid table, in the notebook and the reports). */
export const GRID_GAP_NOTE =
  'Gap: Bi-Real-18 minus the variant, per seed (both trained with the same seed), mean ± std ' +
  'over seeds, in points. Positive where Bi-Real-18 is better: where the part the variant ' +
  'changes helps (activation gradient, weight gradient, structure). The initialisation ' +
  'variants add a part instead (a pretrained real network, which the paper uses and the ' +
  'reference does not): in those rows a negative gap means that pretraining helps.';

/**
 * The two gaps of the regime study, each testing one claim of the paper: Bi-Real-18's top-1
 * minus that of the variant without the claimed part. Positive where the claim holds.
 */
export const GAPS = [
  {
    claim: 'shortcut',
    variant: 'plain-resnet',
    title: 'plain 1-bit ResNet-18',
    gap: 'Bi-Real-18 − plain 1-bit ResNet-18',
  },
  {
    claim: 'estimator',
    variant: 'clipped-ste',
    title: 'clipped STE',
    gap: 'ApproxSign − clipped STE',
  },
] as const;

/** One setting of the regime study: Bi-Real-18 and the {@link GAPS} variants trained alike. */
export interface RegimeCell {
  imageSize: number;
  /** Channel multiplier (1: 64-512 channels). */
  width: number;
  /** Epochs of the trained stages, e.g. `16` or `4 + 6`. */
  epochs: string;
  /** Classes trained and evaluated on. */
  classes: number;
  /** Learning rate of the binary stage. */
  lr: number;
  /** The runs, each under its variant's name without the setting (`bi-real-w0.5`: `bi-real`). */
  runs: ExperimentRun[];
}

/** `bi-real-w0.5` → `bi-real`; `clipped-ste-lr1e-3` → `clipped-ste`; `bi-real-c2` → `bi-real`. */
const baseVariant = (variant: string) => variant.replace(/-(w|lr|c)[0-9.e+-]+$/, '');

/**
 * The runs of Bi-Real-18 and the {@link GAPS} variants in `runs` (any experiments; other
 * variants are left out), grouped by setting: resolution, width, epochs, classes and learning
 * rate. Of
 * two runs of one variant and seed in a setting, the first is kept.
 * @param runs - runs of any experiments.
 */
export function regimeCells(runs: ExperimentRun[]): RegimeCell[] {
  const wanted: string[] = ['bi-real', ...GAPS.map((g) => g.variant)];
  const cells = new Map<string, RegimeCell>();
  for (const run of runs) {
    const variant = baseVariant(run.variant);
    if (!wanted.includes(variant)) continue;
    const binary = run.recipe.stages.at(-1);
    const cell: RegimeCell = {
      imageSize: run.summary.dataset.imageSize,
      width: binary?.model.options?.width ?? 1,
      epochs: run.recipe.stages.map((s) => s.epochs).join(' + '),
      classes: run.summary.dataset.classes,
      lr: binary?.optimizer.lr ?? NaN,
      runs: [],
    };
    const key = JSON.stringify({ ...cell, runs: undefined });
    const found = cells.get(key) ?? cell;
    // The same training recorded twice (a reused twin in two experiments) counts once.
    if (!found.runs.some((r) => r.variant === variant && r.seed === run.seed)) {
      found.runs.push({ ...run, variant });
    }
    cells.set(key, found);
  }
  return [...cells.values()];
}

/**
 * Bi-Real-18's top-1 minus `variant`'s, in points, for each seed that trained both, by seed:
 * of a regime cell, or of any runs (`{ runs }`, e.g. one dataset of the ablation grid).
 * @param cell - a regime cell, or `{ runs }`.
 * @param variant - the variant compared with Bi-Real-18.
 */
export function gapBySeed(cell: Pick<RegimeCell, 'runs'>, variant: string): number[] {
  const top1 = (v: string, seed: number) =>
    cell.runs.find((r) => r.variant === v && r.seed === seed)?.summary.eval.top1;
  return cell.runs
    .filter((r) => r.variant === 'bi-real')
    .sort((a, b) => a.seed - b.seed)
    .flatMap((r) => {
      const other = top1(variant, r.seed);
      return other === undefined ? [] : [100 * (r.summary.eval.top1 - other)];
    });
}

/**
 * `+4.4 ± 1.2` points (sample std over seeds), `+4.4` for one seed, `-` for none.
 * @param points - the gap of each seed, in points.
 */
export function formatGap(points: number[]): string {
  if (points.length === 0) return '-';
  const { mean, std } = meanStd(points);
  const signed = `${mean >= 0 ? '+' : '−'}${Math.abs(mean).toFixed(1)}`;
  return Number.isNaN(std) ? signed : `${signed} ± ${std.toFixed(1)}`;
}

/** `16 epochs`, `1 epoch`, `4 + 6 epochs`. */
export const epochsText = (cell: RegimeCell) =>
  `${cell.epochs} epoch${cell.epochs === '1' ? '' : 's'}`;

/**
 * `64 px, width 0.5 (32-256 channels), 16 epochs, 10 classes`, with `Adam 1e-3` when `withLr`.
 * @param cell - a cell of `regimeCells`.
 * @param withLr - add the optimizer and learning rate.
 */
export function cellSetting(cell: RegimeCell, withLr = false): string {
  const channels = [64, 512].map((c) => Math.max(1, Math.round(c * cell.width))).join('-');
  return (
    `${cell.imageSize} px, width ${cell.width} (${channels} channels), ${epochsText(cell)}, ` +
    `${cell.classes} classes` +
    (withLr ? `, Adam ${cell.lr.toExponential()}` : '')
  );
}

/**
 * The regime table: per setting, the top-1 (%) of Bi-Real-18 and of each {@link GAPS} variant,
 * and each gap as the mean ± std over seeds of the per-seed differences.
 * @param cells - what `regimeCells` returned.
 * @param withLr - add the optimizer and learning rate to each setting.
 */
export function regimeTable(cells: RegimeCell[], withLr = false): string {
  const top1 = (cell: RegimeCell, v: string) =>
    formatPercent(cell.runs.filter((r) => r.variant === v).map((r) => r.summary.eval.top1));
  return table(
    [
      'setting',
      'Bi-Real-18 top-1 (%)',
      ...GAPS.map((g) => `${g.title} top-1 (%)`),
      ...GAPS.map((g) => `${g.claim} gap (points)`),
      'seeds',
    ],
    cells.map((cell) => [
      cellSetting(cell, withLr),
      top1(cell, 'bi-real'),
      ...GAPS.map((g) => top1(cell, g.variant)),
      ...GAPS.map((g) => formatGap(gapBySeed(cell, g.variant))),
      cell.runs
        .filter((r) => r.variant === 'bi-real')
        .map((r) => r.seed)
        .join(', '),
    ]),
  );
}

/** A model of a results table: its variant in the experiment, and the paper's ImageNet-1k numbers. */
export interface TableModel {
  variant: string;
  title: string;
  model: string;
  options?: object;
  paper: string;
  /** Whether seed 0's deploy file is committed (float models at full width are too large). */
  download: boolean;
  /** A stage of a multi-stage recipe, by index: its model's evaluation (default: the final model). */
  stage?: number;
}

/**
 * The results tables, by experiment: the two-stage run at 224 px first (not the paper's recipe:
 * the results text says how it differs), then the 128 px table, the 32 px quick grid last.
 */
export const RESULTS_TABLES: Record<string, TableModel[]> = {
  'headline-224': [
    {
      variant: 'bi-real',
      stage: 0,
      title: 'real ResNet-18 (clip), stage 1',
      model: 'resnet18',
      options: { activation: 'clip' },
      paper: '-',
      download: false,
    },
    {
      variant: 'bi-real',
      title: 'Bi-Real-18, stage 2 (from stage 1)',
      model: 'bireal18',
      paper: '56.4 / 79.5',
      download: true,
    },
  ],
  'imagenette-128': [
    {
      variant: 'bi-real',
      title: 'Bi-Real-18',
      model: 'bireal18',
      paper: '56.4 / 79.5',
      download: true,
    },
    {
      variant: 'clipped-ste',
      title: 'Bi-Real-18, clipped STE',
      model: 'bireal18',
      paper: '-',
      download: true,
    },
    {
      variant: 'plain-resnet',
      title: 'plain 1-bit ResNet-18',
      model: 'plain-binary-resnet18',
      paper: '-',
      download: true,
    },
    {
      variant: 'real-relu',
      title: 'real ResNet-18 (ReLU)',
      model: 'resnet18',
      options: { activation: 'relu' },
      paper: '-',
      download: false,
    },
  ],
  'model-table': [
    {
      variant: 'bireal18',
      title: 'Bi-Real-18',
      model: 'bireal18',
      paper: '56.4 / 79.5',
      download: true,
    },
    {
      variant: 'bireal34',
      title: 'Bi-Real-34',
      model: 'bireal34',
      paper: '62.2 / 83.9',
      download: true,
    },
    {
      variant: 'plain-binary-resnet18',
      title: 'plain 1-bit ResNet-18',
      model: 'plain-binary-resnet18',
      paper: '-',
      download: true,
    },
    {
      variant: 'resnet18-clip',
      title: 'real ResNet-18 (clip)',
      model: 'resnet18',
      options: { activation: 'clip' },
      paper: '-',
      download: true,
    },
    {
      variant: 'resnet18-relu',
      title: 'real ResNet-18 (ReLU)',
      model: 'resnet18',
      options: { activation: 'relu' },
      paper: '-',
      download: true,
    },
  ],
};

/**
 * Where `bireal export` writes the deploy file of a results-table model (seed 0), in the
 * repository.
 * @param experiment - the experiment, a key of `RESULTS_TABLES`.
 * @param variant - its variant.
 */
export function deployFile(experiment: string, variant: string): string {
  return `results/models/${experiment}-${variant}-s0.bireal`;
}

/**
 * The results table of `experiment` (a key of {@link RESULTS_TABLES}): parameters and FLOPs at
 * the ImageNet-1k configuration (224 px, 1000 classes, full width), top-1/top-5 of the recorded
 * runs (mean ± std over seeds), the recipe, the trained weights of seed 0 as a deploy file
 * (`bireal infer --model`) once recorded, and the paper's ImageNet-1k numbers. With
 * `linkPrefix` (the path from the document to the repository root) the download is a link;
 * without, its path in the repository.
 * @param experiment - a key of `RESULTS_TABLES`.
 * @param runs - its recorded runs.
 * @param linkPrefix - the path from the document to the repository root; without it, downloads are
 *   paths.
 */
export function modelTable(experiment: string, runs: ExperimentRun[], linkPrefix?: string): string {
  const models = RESULTS_TABLES[experiment];
  if (models === undefined) {
    throw new Error(
      `no results table for '${experiment}'; valid: ${Object.keys(RESULTS_TABLES).join(', ')}`,
    );
  }
  return table(
    [
      'Model',
      'Params (M)',
      'FLOPs (G)',
      'Top-1 (%)',
      'Top-5 (%)',
      'Seeds',
      'Config',
      'Download',
      'Paper, ImageNet-1k top-1 / top-5',
    ],
    models.map(({ variant, title, model, options, paper, download, stage }) => {
      const network = createModel(model, { inputSize: 224, classes: 1000, ...options });
      const cost = costSummary(network);
      network.dispose();
      const mine = runs.filter((r) => r.variant === variant);
      const scores = mine.map((r) =>
        stage === undefined ? r.summary.eval : r.summary.stages[stage]?.eval,
      );
      const width = mine[0]?.recipe.stages.at(-1)?.model.options?.width ?? 1;
      const file = deployFile(experiment, variant);
      const recorded = download && mine.some((r) => r.seed === 0);
      return [
        title,
        (cost.params / 1e6).toFixed(2),
        (cost.flops / 1e9).toFixed(3),
        formatPercent(scores.flatMap((e) => (e ? [e.top1] : []))),
        formatPercent(scores.flatMap((e) => (e ? [e.top5] : []))),
        mine.length,
        mine.length === 0
          ? '-'
          : `${trainingSetting(mine)}, width ${width} (\`results/experiments/${experiment}/${variant}-s*\`)`,
        !recorded
          ? '-'
          : linkPrefix === undefined
            ? `\`${file}\``
            : `[${file.split('/').pop()}](${linkPrefix}${file})`,
        paper,
      ];
    }),
  );
}

/**
 * What the two-stage run at 224 px (experiment `headline-224`) is, read from its recipe, and what
 * it is not: the paper's recipe (a real network pretrained with ReLU, fine-tuned with clip, then
 * Bi-Real-18 trained with SGD for 20 epochs). `scratch`: Bi-Real-18 trained from scratch for as
 * many epochs (experiment `scratch-224`), which tells what the initialisation adds.
 */
export function twoStageRun(runs: ExperimentRun[], scratch: ExperimentRun[] = []): string {
  const [real, binary] = runs[0]?.recipe.stages ?? [];
  if (real === undefined || binary === undefined) return '';
  const optimizers = [real, binary].map((s) => (s.optimizer.type === 'adam' ? 'Adam' : 'SGD'));
  const block = real.model.options?.block === 'bireal' ? "Bi-Real's structure" : 'basic blocks';
  const epochs = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;
  return (
    `a real ResNet-18 (${real.model.options?.activation ?? 'relu'} activations, ${block}) ` +
    `trained ${epochs(real.epochs)} from scratch, then Bi-Real-18 ${epochs(binary.epochs)} from ` +
    `its weights, ${[...new Set(optimizers)].join(' then ')}: shorter than and different from the ` +
    "paper's recipe (a real network pretrained with ReLU, fine-tuned with clip, then Bi-Real-18 " +
    'trained with SGD for 20 epochs). ' +
    (scratch.length === 0
      ? 'No from-scratch run of Bi-Real-18 at 224 px of the same length is recorded yet, so ' +
        'this table cannot tell how much of the accuracy the initialisation gives.'
      : `Bi-Real-18 trained from scratch for the same ${epochs(real.epochs + binary.epochs)} ` +
        `(\`scratch-224\`): ${formatPercent(scratch.map((r) => r.summary.eval.top1))}% top-1, ` +
        `seed${scratch.length === 1 ? '' : 's'} ${scratch.map((r) => r.seed).join(', ')}.`)
  );
}

/**
 * The results tables, the regime map and the ablation grid, with what they were trained on
 * (`linkPrefix`: see {@link modelTable}).
 * @param recorded - the recorded runs of an experiment, by name.
 * @param linkPrefix - see `modelTable`.
 */
export function resultsMarkdown(
  recorded: (experiment: string) => ExperimentRun[],
  linkPrefix?: string,
): string {
  const headline = recorded('headline-224');
  const closest = recorded('imagenette-128');
  const models = recorded('model-table');
  const imagenette = recorded('grid-imagenette');
  const cifar = recorded('grid-cifar10');
  const regime = regimeCells([
    ...imagenette,
    ...['regime-map-64', 'regime-length-64', 'regime-classes-64'].flatMap(recorded),
    ...closest,
  ]);
  const rates = regimeCells(recorded('lr-sensitivity'));
  const evaluated = (runs: ExperimentRun[]) =>
    'evaluated on Imagenette val (3,925 real ImageNet photos, 10 classes); mean ± std over ' +
    `seeds; backend ${backends(runs)}. Params and FLOPs are at the ImageNet-1k configuration ` +
    '(224 px, 1000 classes, full width). The paper column is ImageNet-1k, a different task: ' +
    'for reference only.';
  const pending = (experiment: string) =>
    `not recorded yet: \`npx bireal experiment ${experiment}\` trains it (\`scripts/long-runs.sh\` ` +
    'runs every long experiment in turn).';
  const download =
    'Download: the weights of seed 0 as a deploy file (`npx bireal infer --model FILE ' +
    'IMAGE...`, or `npx bireal eval --model FILE`).';
  return [
    headline.length === 0
      ? '**A two-stage run at 224 px** (Imagenette, full width: a real clip ResNet-18, then ' +
        "Bi-Real-18 from its weights; shorter than and different from the paper's recipe): " +
        pending('headline-224')
      : `**A two-stage run at 224 px** (${trainingSetting(headline)}, full width): ` +
        `${twoStageRun(headline, recorded('scratch-224'))} Top-1 and top-5 ${evaluated(headline)} ${download}\n\n` +
        modelTable('headline-224', headline, linkPrefix),
    '',
    closest.length === 0
      ? '**Results table at 128 px** (Imagenette, full width, 12 epochs): ' +
        pending('imagenette-128')
      : `**Results table at 128 px**: ${trainingSetting(closest)}, full width, ` +
        `${evaluated(closest)} ${download}\n\n` +
        modelTable('imagenette-128', closest, linkPrefix),
    '',
    "**Where the paper's claims hold** (notebook 06): Bi-Real-18 against the variant without " +
      'each claimed part, top-1 (%) on Imagenette val. A gap is the mean ± std over seeds of ' +
      "the per-seed difference, in points: positive where the paper's claim holds here.",
    '',
    regimeTable(regime),
    '',
    `**Learning rate**: the same gaps at one cell of the map, at three Adam rates.`,
    '',
    rates.length === 0 ? pending('lr-sensitivity') : regimeTable(rates, true),
    '',
    `**Quick results table**: ${trainingSetting(models)}, width 0.25, ${evaluated(models)}`,
    '',
    modelTable('model-table', models, linkPrefix),
    '',
    `**Ablation grid**, top-1 (%) mean ± std over seeds: Imagenette (${trainingSetting(imagenette)}; ` +
      `val, 3,925 images) and CIFAR-10 (${trainingSetting(cifar)}; test, 10,000 images). ` +
      GRID_GAP_NOTE,
    '',
    gridTable({ Imagenette: imagenette, 'CIFAR-10': cifar }),
  ].join('\n');
}

/**
 * Every recorded experiment, variant by variant, with its description and setting.
 * @param recorded - the recorded runs of an experiment, by name.
 */
export function experimentsMarkdown(recorded: (experiment: string) => ExperimentRun[]): string {
  return Object.keys(EXPERIMENTS)
    .map((name) => ({ name, runs: recorded(name) }))
    .filter(({ runs }) => runs.length > 0)
    .map(({ name, runs }) => {
      const variants = [...new Set(runs.map((r) => r.variant))];
      const hours = runs.reduce((a, r) => a + r.summary.wallSeconds, 0) / 3600;
      return [
        `### ${name}`,
        '',
        EXPERIMENTS[name]?.description ?? '',
        '',
        '| variant | seeds | top-1 (%) | top-5 (%) |',
        '| --- | --- | --- | --- |',
        ...variants.map((v) => {
          const mine = runs.filter((r) => r.variant === v);
          return `| ${v} | ${mine.map((r) => r.seed).join(', ')} | ${formatPercent(mine.map((r) => r.summary.eval.top1))} | ${formatPercent(mine.map((r) => r.summary.eval.top5))} |`;
        }),
        '',
        `${trainingSetting(runs)}; backends: ${backends(runs)}; ` +
          `training wall time ${hours.toFixed(2)} h in all on a 2-core machine (at most ` +
          `${(2 * hours).toFixed(1)} core-hours).`,
      ].join('\n');
    })
    .join('\n\n');
}
