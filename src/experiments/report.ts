/**
 * Tables of the recorded experiments (issue 7): the ablation grid on Imagenette and CIFAR-10,
 * and the results table of models. Pure functions of the runs, so the notebooks, the site (in
 * the browser) and `bireal report` (which writes results/README.md) show the same numbers.
 */
import { costSummary } from '../analysis/summary.js';
import { createModel } from '../models/index.js';
import { EXPERIMENTS, type ExperimentRun } from './index.js';

/** Mean and sample standard deviation (NaN for a single value). */
export function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std =
    values.length > 1
      ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1))
      : NaN;
  return { mean, std };
}

/** `41.1 ± 0.6` (percent, from fractions), or `41.1` for one seed; `-` for none. */
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

/** How a recorded experiment was trained, e.g. `imagenette, 32 px, 4 + 6 epochs`. */
export function trainingSetting(runs: ExperimentRun[]): string {
  const first = runs[0];
  if (first === undefined) return 'no runs';
  const epochs = [...new Set(runs.map((r) => r.recipe.stages.map((s) => s.epochs).join(' + ')))];
  return `${first.summary.dataset.train.split(':')[0]} at ${first.summary.dataset.imageSize} px, ${epochs.join(' or ')} epochs`;
}

/**
 * The ablation grid: per variant, top-1 (%) mean ± std over seeds and the difference of the
 * means to Bi-Real-18, one column pair per dataset (`columns`: heading → that dataset's runs).
 */
export function gridTable(columns: Record<string, ExperimentRun[]>): string {
  const names = Object.keys(columns);
  return table(
    ['part', 'setting', ...names.flatMap((n) => [`${n} top-1 (%)`, 'vs Bi-Real-18', 'seeds'])],
    GRID_ROWS.map(({ variant, part, setting }) => [
      part,
      setting,
      ...names.flatMap((name) => {
        const runs = columns[name] ?? [];
        const mine = top1(runs, variant);
        const reference = top1(runs, 'bi-real');
        const delta =
          mine.length === 0 || reference.length === 0
            ? '-'
            : (100 * (meanStd(mine).mean - meanStd(reference).mean)).toFixed(1);
        return [formatPercent(mine), variant === 'bi-real' ? '' : delta, mine.length];
      }),
    ]),
  );
}

/** The models of the results table: variant of `model-table`, title, and the paper's ImageNet-1k numbers. */
export const TABLE_MODELS: {
  variant: string;
  title: string;
  model: string;
  options?: object;
  paper: string;
}[] = [
  { variant: 'bireal18', title: 'Bi-Real-18', model: 'bireal18', paper: '56.4 / 79.5' },
  { variant: 'bireal34', title: 'Bi-Real-34', model: 'bireal34', paper: '62.2 / 83.9' },
  {
    variant: 'plain-binary-resnet18',
    title: 'plain 1-bit ResNet-18',
    model: 'plain-binary-resnet18',
    paper: '-',
  },
  {
    variant: 'resnet18-clip',
    title: 'real ResNet-18 (clip)',
    model: 'resnet18',
    options: { activation: 'clip' },
    paper: '-',
  },
  {
    variant: 'resnet18-relu',
    title: 'real ResNet-18 (ReLU)',
    model: 'resnet18',
    options: { activation: 'relu' },
    paper: '-',
  },
];

/** Where `bireal export` wrote the deploy file of a results-table model (seed 0), in the repository. */
export function deployFile(variant: string): string {
  return `results/models/model-table-${variant}-s0.bireal`;
}

/**
 * The results table: parameters and FLOPs at the ImageNet-1k configuration (224 px, 1000
 * classes, full width), top-1/top-5 of the recorded `model-table` runs (mean ± std over
 * seeds), the recipe, the trained weights of seed 0 as a deploy file (`bireal infer --model`),
 * and the paper's ImageNet-1k numbers. With `linkPrefix` (the path from the document to the
 * repository root) the download is a link; without, its path in the repository.
 */
export function modelTable(runs: ExperimentRun[], linkPrefix?: string): string {
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
    TABLE_MODELS.map(({ variant, title, model, options, paper }) => {
      const network = createModel(model, { inputSize: 224, classes: 1000, ...options });
      const cost = costSummary(network);
      network.dispose();
      const mine = runs.filter((r) => r.variant === variant);
      return [
        title,
        (cost.params / 1e6).toFixed(2),
        (cost.flops / 1e9).toFixed(3),
        formatPercent(mine.map((r) => r.summary.eval.top1)),
        formatPercent(mine.map((r) => r.summary.eval.top5)),
        mine.length,
        mine.length === 0
          ? '-'
          : `${trainingSetting(mine)}, width 0.25 (\`results/experiments/model-table/${variant}-s*\`)`,
        linkPrefix === undefined
          ? `\`${deployFile(variant)}\``
          : `[${deployFile(variant).split('/').pop()}](${linkPrefix}${deployFile(variant)})`,
        paper,
      ];
    }),
  );
}

/**
 * The results table and the ablation grid, with what they were trained on (`linkPrefix`: see
 * {@link modelTable}).
 */
export function resultsMarkdown(
  recorded: (experiment: string) => ExperimentRun[],
  linkPrefix?: string,
): string {
  const models = recorded('model-table');
  const imagenette = recorded('grid-imagenette');
  const cifar = recorded('grid-cifar10');
  return [
    `**Results table**: ${trainingSetting(models)}, evaluated on Imagenette val (3,925 real ImageNet ` +
      'photos, 10 classes); mean ± std over seeds; wasm backend. Params and FLOPs are at the ' +
      'ImageNet-1k configuration (224 px, 1000 classes, full width). The paper column is ' +
      'ImageNet-1k, a different task: for reference only. Download: the weights of seed 0 as a ' +
      'deploy file (`npx bireal infer --model FILE IMAGE...`, or `npx bireal eval --model FILE`).',
    '',
    modelTable(models, linkPrefix),
    '',
    `**Ablation grid**, top-1 (%) mean ± std over seeds: Imagenette (${trainingSetting(imagenette)}; ` +
      `val, 3,925 images) and CIFAR-10 (${trainingSetting(cifar)}; test, 10,000 images).`,
    '',
    gridTable({ Imagenette: imagenette, 'CIFAR-10': cifar }),
  ].join('\n');
}

/** Every recorded experiment, variant by variant, with its description and setting. */
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
        `${trainingSetting(runs)}; backends: ${[...new Set(runs.map((r) => r.summary.backend))].join(', ')}; ` +
          `training wall time ${hours.toFixed(2)} h in all (runs shared the machine's 2 cores).`,
      ].join('\n');
    })
    .join('\n\n');
}
