/**
 * The landing page's demo: trains a small Bi-Real net on real MNIST digits in the reader's
 * browser (TensorFlow.js on WebAssembly), with live loss and test-accuracy charts, then compares
 * the size of the 1-bit model with the same network in float32. TensorFlow.js, the recipe and the
 * digits load only when the reader presses Train; plotly.js loads with them.
 *
 * Class names, for the page's stylesheet (no CSS ships with this module):
 *   mnist-demo (added to the root), mnist-intro, mnist-controls, mnist-button, mnist-status,
 *   mnist-error, mnist-charts, mnist-chart, mnist-plot, mnist-caption, mnist-sizes, mnist-ratio
 *
 * State for automated tests, on the root element:
 *   data-state: idle | loading | training | done | stopped | error
 *   data-test-accuracy: latest accuracy (0..1) on the whole test subset
 *   data-seconds-to-90: seconds from the first training step until test accuracy first
 *     exceeded 0.9 (set only when it did)
 * Controls: button[data-action="train"], button[data-action="stop"]; the progress line has
 * aria-live="polite"; errors appear in an element with role="alert"; each chart element carries
 * data-chart="loss" or data-chart="accuracy".
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { assetUrl } from './base.js';
import { element } from './dom.js';
import { loadPlotly, renderChart, themeColor } from './plotly.js';
import { loadLibrary } from './tf.js';
import type {
  EvalReport,
  MnistSplit,
  SizeComparison,
  StepReport,
  TrainResult,
} from './mnist-recipe.js';

type State = 'idle' | 'loading' | 'training' | 'done' | 'stopped' | 'error';

/** The `mnist/meta.json` asset. */
interface Meta {
  train: number;
  test: number;
  source: string;
}

/** Fetches one asset of `assets/mnist/` as bytes, checking its length. */
async function fetchBytes(name: string, length: number): Promise<Uint8Array> {
  const response = await fetch(assetUrl(`mnist/${name}`));
  if (!response.ok) throw new Error(`cannot load ${response.url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length !== length) {
    throw new Error(`${name} has ${bytes.length} bytes, expected ${length}`);
  }
  return bytes;
}

/** The shipped MNIST subsets (see `site/build/mnist-assets.ts`). */
async function loadDigits(): Promise<{ meta: Meta; train: MnistSplit; test: MnistSplit }> {
  const response = await fetch(assetUrl('mnist/meta.json'));
  if (!response.ok) throw new Error(`cannot load ${response.url}: HTTP ${response.status}`);
  const meta = (await response.json()) as Meta;
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    fetchBytes('train-images.bin', meta.train * 784),
    fetchBytes('train-labels.bin', meta.train),
    fetchBytes('test-images.bin', meta.test * 784),
    fetchBytes('test-labels.bin', meta.test),
  ]);
  return {
    meta,
    train: { images: trainImages, labels: trainLabels },
    test: { images: testImages, labels: testLabels },
  };
}

/** Resolves in a new task without the 4 ms clamp of nested `setTimeout(0)`. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

const number = (n: number) => n.toLocaleString('en-US');
const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const kibibytes = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Builds the demo inside `root` and wires its buttons. */
export function mountMnistDemo(root: HTMLElement): void {
  root.classList.add('mnist-demo');
  const intro = element(
    'p',
    'mnist-intro',
    'Press Train to teach a small Bi-Real net to read handwritten digits, here in your browser ' +
      '(TensorFlow.js on WebAssembly). Its 3×3 convolutions use 1-bit weights and 1-bit ' +
      'activations, each with a real-valued shortcut around it; the first convolution, the 1×1 ' +
      'shortcut convolutions and the classifier stay real. It trains on real MNIST digits and ' +
      'is tested regularly on held-out test digits it never trains on.',
  );
  const train = element('button', 'mnist-button', 'Train (about 40 s)', {
    type: 'button',
    'data-action': 'train',
  });
  const stop = element('button', 'mnist-button', 'Stop', { type: 'button', 'data-action': 'stop' });
  stop.disabled = true;
  const controls = element('div', 'mnist-controls');
  controls.append(train, stop);
  const status = element('p', 'mnist-status', 'Not trained yet.', {
    role: 'status',
    'aria-live': 'polite',
    'aria-atomic': 'true',
  });
  const error = element('p', 'mnist-error', '', { role: 'alert' });
  error.hidden = true;
  const chart = (name: string, caption: string) => {
    const figure = element('figure', 'mnist-chart');
    const plot = element('div', 'mnist-plot', '', {
      'data-chart': name,
      role: 'img',
      'aria-label': caption,
    });
    figure.append(plot, element('figcaption', 'mnist-caption', caption));
    return { figure, plot };
  };
  const lossChart = chart('loss', 'Training loss (cross-entropy) of each batch, per step.');
  const accuracyChart = chart(
    'accuracy',
    'Accuracy on the held-out test digits against training time; the dashed line is 90%.',
  );
  const charts = element('div', 'mnist-charts');
  charts.append(lossChart.figure, accuracyChart.figure);
  charts.hidden = true;
  const sizes = element('table', 'mnist-sizes');
  sizes.hidden = true;
  root.replaceChildren(intro, controls, status, error, charts, sizes);

  let stopRequested = false;
  let model: tfl.LayersModel | undefined;
  const setState = (state: State) => {
    root.dataset['state'] = state;
    train.disabled = state === 'loading' || state === 'training';
    stop.disabled = state !== 'training';
  };
  setState('idle');

  stop.addEventListener('click', () => {
    stopRequested = true;
    stop.disabled = true;
    status.textContent = 'Stopping after this step…';
  });
  train.addEventListener('click', () => {
    stopRequested = false;
    void run().catch((e: unknown) => {
      setState('error');
      error.textContent = `The demo failed: ${e instanceof Error ? e.message : String(e)}`;
      error.hidden = false;
    });
  });

  /** Loads what training needs, trains, then shows the size table. */
  async function run(): Promise<void> {
    setState('loading');
    error.hidden = true;
    sizes.hidden = true;
    delete root.dataset['testAccuracy'];
    root.removeAttribute('data-seconds-to-90');
    status.textContent = 'Loading TensorFlow.js and the MNIST digits…';
    const [, recipe, digits] = await Promise.all([
      loadLibrary(),
      import('./mnist-recipe.js'),
      loadDigits(),
      loadPlotly(),
    ]);
    model?.dispose();
    model = undefined;
    charts.hidden = false;
    const accent = themeColor('--accent');
    const muted = themeColor('--muted');
    const steps: number[] = [];
    const losses: number[] = [];
    const times: number[] = [];
    const accuracies: number[] = [];
    const total = recipe.MNIST_RECIPE.steps;
    let lastShown = 0;
    let drawing: Promise<void> | undefined;
    const draw = () => {
      // Copies: Plotly.react redraws only data it has not seen (new arrays).
      const lossTrace = { x: [...steps], y: [...losses], mode: 'lines', line: { color: accent } };
      const accuracyTrace = {
        x: [...times],
        y: [...accuracies],
        mode: 'lines+markers',
        line: { color: accent },
      };
      const target = {
        type: 'line',
        xref: 'paper',
        x0: 0,
        x1: 1,
        y0: 0.9,
        y1: 0.9,
        line: { color: muted, dash: 'dash', width: 1 },
      };
      const margin = { l: 50, r: 10, t: 10, b: 40 };
      drawing = Promise.all([
        renderChart(lossChart.plot, [lossTrace], {
          height: 260,
          margin,
          xaxis: { title: { text: 'step' }, range: [0, total] },
          yaxis: { title: { text: 'loss' }, rangemode: 'tozero' },
        }),
        renderChart(accuracyChart.plot, [accuracyTrace], {
          height: 260,
          margin,
          xaxis: { title: { text: 'seconds of training' }, rangemode: 'tozero' },
          yaxis: { title: { text: 'test accuracy' }, range: [0, 1], tickformat: '.0%' },
          shapes: [target],
        }),
      ]).then(() => {
        drawing = undefined;
      });
    };
    let progress = '';
    let accuracyText = '';
    /** Updates the progress line and the charts: at most every 0.5 s, unless `now`. */
    const show = (now: boolean) => {
      if (!now && performance.now() - lastShown < 500) return;
      lastShown = performance.now();
      if (!stopRequested) status.textContent = progress + accuracyText;
      if (drawing === undefined) draw();
    };
    const onStep = (r: StepReport) => {
      steps.push(r.step);
      losses.push(r.loss);
      progress =
        `Step ${number(r.step)} of ${number(total)} · ${number(r.images)} images seen · ` +
        `${r.seconds.toFixed(1)} s · loss ${r.loss.toFixed(3)}`;
      show(r.step === 1);
    };
    const onEvaluate = (e: EvalReport) => {
      times.push(e.seconds);
      accuracies.push(e.accuracy);
      accuracyText = ` · test accuracy ${percent(e.accuracy)}`;
      root.dataset['testAccuracy'] = String(e.accuracy);
      // Set as an attribute: the dataset name secondsTo90 would map to data-seconds-to90.
      if (e.accuracy > recipe.TARGET_ACCURACY && !root.hasAttribute('data-seconds-to-90')) {
        root.setAttribute('data-seconds-to-90', e.seconds.toFixed(2));
      }
      show(true);
    };
    setState('training');
    const result: TrainResult = await recipe.trainMnist(digits.train, digits.test, {
      onStep,
      onEvaluate,
      shouldStop: () => stopRequested,
      pause: nextTask,
    });
    model = result.model;
    await drawing;
    draw();
    await drawing;
    showSizes(recipe.compareSizes(result.model));
    const accuracy = result.testAccuracy === null ? 'not measured' : percent(result.testAccuracy);
    const reached = result.reached
      ? `It passed 90% after ${result.reached.seconds.toFixed(1)} s (step ${result.reached.step}).`
      : 'It did not pass 90%.';
    status.textContent =
      `${result.stopped ? 'Stopped' : 'Done'} after ${number(result.steps)} steps ` +
      `(${result.seconds.toFixed(1)} s, ${number(result.steps * recipe.MNIST_RECIPE.batchSize)} ` +
      `images): test accuracy ${accuracy} on ${number(digits.meta.test)} held-out digits. ` +
      reached;
    setState(result.stopped ? 'stopped' : 'done');
  }

  /** Fills the size table: the 1-bit model against the same network in float32. */
  function showSizes(size: SizeComparison): void {
    const caption = element(
      'caption',
      '',
      'Size of the trained model: its binary conv weights stored at 1 bit each (the other ' +
        'parameters, such as the first conv, shortcut convs, BatchNorm scales and classifier, ' +
        'at 32 bits) versus the same network with every parameter stored as float32.',
    );
    const head = element('thead', '');
    const headRow = element('tr', '');
    for (const text of ['Model', 'Parameters', 'Size (bytes)', 'Size (KiB)']) {
      headRow.append(element('th', '', text, { scope: 'col' }));
    }
    head.append(headRow);
    const body = element('tbody', '');
    const row = (name: string, params: string, bytes: number) => {
      const tr = element('tr', '');
      tr.append(
        element('th', '', name, { scope: 'row' }),
        element('td', '', params),
        element('td', '', number(Math.round(bytes))),
        element('td', '', kibibytes(bytes)),
      );
      body.append(tr);
    };
    row(
      '1-bit Bi-Real net (this model)',
      `${number(size.binaryParams)} × 1 bit + ${number(size.realParams)} × 32 bits`,
      size.oneBitBytes,
    );
    row('Same network, float32 weights', `${number(size.params)} × 32 bits`, size.float32Bytes);
    const foot = element('tfoot', '');
    const footRow = element('tr', 'mnist-ratio');
    footRow.append(
      element('th', '', 'Ratio', { scope: 'row' }),
      element(
        'td',
        '',
        `${size.ratio.toFixed(1)}× smaller as a whole: each 1-bit weight takes 32× less than a ` +
          'float32 one, and the real layers stay float32.',
        { colspan: '3' },
      ),
    );
    foot.append(footRow);
    sizes.replaceChildren(caption, head, body, foot);
    sizes.hidden = false;
  }
}
