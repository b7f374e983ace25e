/**
 * The deploy page's demo (markup: `EngineDemo` in site/build/components.tsx). Classify: the
 * reader picks a model (the default is the most accurate; a small one is there for slow
 * devices) and a photo or a sample; the page resizes and crops it as the training pipeline's
 * evaluation does, runs the model's deploy file on the packed 1-bit engine (WebAssembly, no
 * TensorFlow.js) and shows the top 5 classes and the engine's time. Each model downloads when it
 * first classifies; switching models classifies the last photo again. Speed: loads the `bireal` library with
 * TensorFlow.js on one wasm thread and ONNX Runtime Web (wasm, one thread, its .wasm from the
 * site's assets) and runs `measureSpeed` (engine vs float on both, 224 px, 1000 classes), then
 * shows a table, the binary op rate and a chart of the engine's steps.
 *
 * State for automated tests, on the root element (#engine-demo):
 *   data-state: idle | loading | done | error (classification)
 *   data-model: the deploy file (under assets/) of the model chosen now
 *   data-top1, data-top1-probability, data-engine-ms, data-answer-model: the last classification
 *     and the deploy file that gave it
 *   data-speed-state: idle | running | done | error (set to idle once the button is wired)
 *   data-runs: read when the speed button is pressed: measureSpeed's timed runs (default 10)
 * measureSpeed's report is the JSON of <script type="application/json" id="engine-speed-report">.
 */
import type { Preprocessing } from '../../src/engine/format.js';
import { PackedNet, type OpProfile, type Prediction } from '../../src/engine/runtime.js';
import type { SpeedReport } from '../../src/engine/speed.js';
import { assetUrl } from './base.js';
import { element } from './dom.js';
import { renderChart } from './plotly.js';
import { loadLibrary } from './tf.js';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const percent = (p: number) => `${(100 * p).toFixed(1)}%`;
const ms = (t: number) => `${t < 10 ? t.toFixed(2) : t.toFixed(1)} ms`;
const runsText = (runs: number) => (runs === 1 ? 'one run' : `${runs} runs`);
const billions = (n: number, digits = 1) => `${(n / 1e9).toFixed(digits)} billion`;

/** Lets the browser paint (a timer too, so a hidden tab does not stall on animation frames). */
function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 50);
    requestAnimationFrame(() => {
      clearTimeout(timer);
      setTimeout(resolve, 0);
    });
  });
}

/**
 * The network's input from a decoded image, as `bireal infer` computes it: the shorter side
 * resized to round(size * resizeRatio) (smoothly), the centre size x size crop, each channel
 * normalised with the header's mean and std, HWC. Also returns the crop, for showing it.
 */
export function preprocess(
  image: ImageBitmap,
  p: Preprocessing,
): { input: Float32Array; crop: ImageData } {
  const short = Math.round(p.size * p.resizeRatio);
  const [width, height] =
    image.width <= image.height
      ? [short, Math.floor((short * image.height) / image.width)]
      : [Math.floor((short * image.width) / image.height), short];
  const canvas = element('canvas', '');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('this browser gives no 2D canvas');
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(image, 0, 0, width, height);
  const left = Math.round((width - p.size) / 2);
  const top = Math.round((height - p.size) / 2);
  const crop = context.getImageData(left, top, p.size, p.size);
  const pixels = crop.data;
  const input = new Float32Array(p.size * p.size * p.channels);
  for (let i = 0; i < p.size * p.size; i++) {
    const [r, g, b] = [pixels[4 * i]!, pixels[4 * i + 1]!, pixels[4 * i + 2]!];
    if (p.channels === 1) {
      input[i] = ((0.299 * r + 0.587 * g + 0.114 * b) / 255 - p.mean[0]!) / p.std[0]!;
    } else {
      input[3 * i] = (r / 255 - p.mean[0]!) / p.std[0]!;
      input[3 * i + 1] = (g / 255 - p.mean[1]!) / p.std[1]!;
      input[3 * i + 2] = (b / 255 - p.mean[2]!) / p.std[2]!;
    }
  }
  return { input, crop };
}

/** A photo to classify: a file of the reader's, or a sample of the site with its true label. */
interface Photo {
  blob: Blob;
  url: string;
  description: string;
  label?: string;
}

/** ONNX Runtime Web on one wasm thread, its .wasm from `wasm` (a path under `assets/`). */
async function loadOnnxRuntime(wasm: string) {
  const ort = await import('onnxruntime-web/wasm');
  // Only the .wasm is fetched: the bundled build has its JavaScript glue inside.
  ort.env.wasm.wasmPaths = { wasm: assetUrl(wasm) };
  ort.env.wasm.numThreads = 1;
  return ort;
}

/** Builds the demo's behaviour on the markup inside `root`. */
export function mountEngineDemo(root: HTMLElement): void {
  mountClassifier(root);
  mountSpeed(root);
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function mountClassifier(root: HTMLElement): void {
  const kernels = assetUrl(root.dataset['kernels'] ?? 'engine/kernels.wasm');
  const section = root.querySelector<HTMLElement>('.engine-classify');
  const file = root.querySelector<HTMLInputElement>('#engine-file');
  const samples = [...root.querySelectorAll<HTMLButtonElement>('button[data-sample]')];
  const choices = [...root.querySelectorAll<HTMLInputElement>('input[name="engine-model"]')];
  const facts = [...root.querySelectorAll<HTMLElement>('[data-model-facts]')];
  const status = section?.querySelector<HTMLElement>('.engine-status');
  const error = section?.querySelector<HTMLElement>('.engine-error');
  const result = section?.querySelector<HTMLElement>('.engine-result');
  if (root.dataset['model'] === undefined || !file || !status || !error || !result) return;

  /** The chosen model's deploy file (under assets/); its facts shown, the others' hidden. */
  const chooseModel = (modelFile: string) => {
    root.dataset['model'] = modelFile;
    for (const dl of facts) dl.hidden = dl.dataset['modelFacts'] !== modelFile;
  };
  // The browser may restore another choice than the markup's (back and forward).
  const restored = choices.find((c) => c.checked)?.value;
  if (restored !== undefined) chooseModel(restored);

  const engines = new Map<string, Promise<PackedNet>>();
  const loadEngine = (modelFile: string) => {
    let engine = engines.get(modelFile);
    if (engine === undefined) {
      engine = (async () => {
        const response = await fetch(assetUrl(modelFile));
        if (!response.ok) throw new Error(`cannot load ${response.url}: HTTP ${response.status}`);
        const net = await PackedNet.load(
          new Uint8Array(await response.arrayBuffer()),
          kernels,
          modelFile,
        );
        net.run(new Float32Array(net.inputSize)); // warm-up: the first call also compiles code
        return net;
      })();
      engines.set(modelFile, engine);
      engine.catch(() => engines.delete(modelFile)); // a later try loads again
    }
    return engine;
  };
  const loaded = new Set<string>();

  /** The photo chosen last (classified again when the model changes) and the one shown. */
  let lastPhoto: Photo | undefined;
  let shownUrl: string | undefined;
  let latest = 0;
  const pick = (photo: Photo) => {
    const previous = lastPhoto;
    lastPhoto = photo;
    if (previous?.url.startsWith('blob:') && previous.url !== shownUrl) {
      URL.revokeObjectURL(previous.url);
    }
    void classify(photo);
  };
  const classify = async (photo: Photo) => {
    const ticket = ++latest;
    const modelFile = root.dataset['model'] as string;
    root.dataset['state'] = 'loading';
    error.hidden = true;
    const bytes = Number(choices.find((c) => c.value === modelFile)?.dataset['bytes']);
    status.textContent =
      loaded.has(modelFile) || !(bytes > 0)
        ? `Classifying ${photo.description}…`
        : `Downloading the model (${megabytes(bytes)}) and classifying ${photo.description}…`;
    try {
      const [net, image] = await Promise.all([
        loadEngine(modelFile),
        createImageBitmap(photo.blob).catch((e: unknown) => {
          throw new Error(`cannot read ${photo.description} as an image (${message(e)})`);
        }),
      ]);
      loaded.add(modelFile);
      const { input, crop } = preprocess(image, net.header.preprocessing);
      image.close();
      const start = performance.now();
      const logits = net.run(input);
      const took = performance.now() - start;
      const top = net.top(logits, 5);
      if (ticket !== latest) return; // the reader picked another photo or model meanwhile
      if (shownUrl !== undefined && shownUrl !== photo.url && shownUrl !== lastPhoto?.url) {
        URL.revokeObjectURL(shownUrl);
      }
      shownUrl = photo.url.startsWith('blob:') ? photo.url : undefined;
      showResult(net, modelFile, photo, crop, top, took);
    } catch (e) {
      if (ticket !== latest) return;
      root.dataset['state'] = 'error';
      status.textContent = 'No result.';
      error.textContent = `The engine could not classify it: ${message(e)}`;
      error.hidden = false;
    }
  };

  const showResult = (
    net: PackedNet,
    modelFile: string,
    photo: Photo,
    crop: ImageData,
    top: Prediction[],
    took: number,
  ): void => {
    const { size } = net.header.preprocessing;
    const width = net.header.modelOptions['width'];
    const network =
      `${modelTitle(net.header.model)}${typeof width === 'number' && width !== 1 ? ` at width × ${width}` : ''}, ` +
      `${size} × ${size} px, the trained model chosen above`;
    const picture = element('figure', 'engine-photo');
    picture.append(
      element('img', '', '', { src: photo.url, alt: photo.description }),
      element(
        'figcaption',
        '',
        photo.label === undefined ? 'Your photo' : `Labelled: ${photo.label}`,
      ),
    );
    const seen = element('figure', 'engine-input');
    const canvas = element('canvas', '', '', {
      role: 'img',
      'aria-label': `The ${size} × ${size} pixel centre crop the network sees`,
    });
    canvas.width = size;
    canvas.height = size;
    canvas.getContext('2d')?.putImageData(crop, 0, 0);
    seen.append(canvas, element('figcaption', '', `What the network sees: ${size} × ${size} px`));

    const ranking = element('div', 'engine-ranking');
    const title = element('h4', '', 'Top 5 classes', { id: 'engine-top-title' });
    const list = element('ol', 'engine-top', '', { 'aria-labelledby': 'engine-top-title' });
    for (const p of top) {
      const item = element('li', '', '', { 'data-label': p.label });
      const name = element('span', 'engine-top-label', p.label);
      if (p.label === photo.label) {
        name.append(element('span', 'engine-true', ' ✓ true label'));
        item.classList.add('engine-correct');
      }
      const bar = element('span', 'engine-bar', '', { 'aria-hidden': 'true' });
      const fill = element('span', '');
      fill.style.width = percent(p.probability);
      bar.append(fill);
      item.append(name, bar, element('span', 'engine-top-p', percent(p.probability)));
      list.append(item);
    }
    const time = element(
      'p',
      'engine-time',
      `The engine ran ${network} in ${ms(took)} (one image, one thread; decoding and ` +
        'resizing the photo not included). The speed test below times other networks: ' +
        'untrained ones of ImageNet’s shape.',
    );
    ranking.append(title, list, time);
    result.replaceChildren(picture, seen, ranking);
    result.hidden = false;

    const best = top[0] as Prediction;
    const verdict =
      photo.label === undefined
        ? `(it can only answer with one of its ${net.header.labels.length} classes)`
        : best.label === photo.label
          ? '— correct.'
          : `— wrong: the photo is labelled ${photo.label}.`;
    status.textContent = `Top guess: ${best.label}, ${percent(best.probability)} ${verdict} Engine time ${ms(took)} (${network}).`;
    root.dataset['top1'] = best.label;
    root.dataset['top1Probability'] = String(best.probability);
    root.dataset['engineMs'] = String(took);
    root.dataset['answerModel'] = modelFile;
    root.dataset['state'] = 'done';
  };

  for (const choice of choices) {
    choice.addEventListener('change', () => {
      if (!choice.checked) return;
      chooseModel(choice.value);
      if (lastPhoto !== undefined) void classify(lastPhoto);
    });
  }
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    root.dataset['state'] = 'loading';
    pick({
      blob: chosen,
      url: URL.createObjectURL(chosen),
      description: `your photo ${chosen.name}`,
    });
  });
  for (const button of samples) {
    button.addEventListener('click', async () => {
      const path = button.dataset['sample'] as string;
      const label = button.dataset['label'] as string;
      const url = assetUrl(path);
      const description = `the sample photo labelled ${label}`;
      root.dataset['state'] = 'loading';
      try {
        const response = await fetch(url);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        pick({ blob: await response.blob(), url, description, label });
      } catch (e) {
        root.dataset['state'] = 'error';
        error.textContent = `Cannot load ${url}: ${message(e)}`;
        error.hidden = false;
      }
    });
  }
  file.disabled = false;
  samples.forEach((b) => (b.disabled = false));
  choices.forEach((c) => (c.disabled = false));
  root.dataset['state'] = 'idle';
}

/** "bireal18" → "Bi-Real-18", "resnet18" → "ResNet-18". */
function modelTitle(name: string): string {
  return name.replace(/^bireal(\d+)$/, 'Bi-Real-$1').replace(/^resnet(\d+)$/, 'ResNet-$1');
}

/** The bar chart's groups of engine steps, in colours readable on light and dark pages. */
const STEP_KINDS: { name: string; color: string; ops: OpProfile['op'][] }[] = [
  { name: '1-bit conv (XNOR + popcount)', color: '#3b82f6', ops: ['binaryConv'] },
  { name: 'sign packing', color: '#f59e0b', ops: ['sign'] },
  { name: 'real conv (float32)', color: '#a855f7', ops: ['conv'] },
  { name: 'pooling', color: '#8b949e', ops: ['maxPool', 'avgPool', 'globalAvgPool'] },
  { name: 'classifier (float32)', color: '#10b981', ops: ['dense'] },
];

function mountSpeed(root: HTMLElement): void {
  const section = root.querySelector<HTMLElement>('.engine-speed');
  const button = section?.querySelector<HTMLButtonElement>('[data-action="measure-speed"]');
  const status = section?.querySelector<HTMLElement>('.engine-speed-status');
  const error = section?.querySelector<HTMLElement>('.engine-error');
  const result = section?.querySelector<HTMLElement>('.engine-speed-result');
  if (!button || !status || !error || !result) return;
  const kernels = assetUrl(root.dataset['kernels'] ?? 'engine/kernels.wasm');
  const onnxRuntimeWasm = root.dataset['onnxRuntimeWasm'] ?? 'ort/ort-wasm-simd-threaded.wasm';

  const measure = async () => {
    root.dataset['speedState'] = 'running';
    button.disabled = true;
    error.hidden = true;
    const started = performance.now();
    const seconds = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
    try {
      status.textContent = 'Loading TensorFlow.js and ONNX Runtime (WebAssembly, one thread)…';
      await nextPaint();
      const [library, onnxRuntime] = await Promise.all([
        loadLibrary({ threads: 1 }),
        loadOnnxRuntime(onnxRuntimeWasm),
      ]);
      const runs = Number(root.dataset['runs']) || undefined;
      const report = await library.measureSpeed({
        kernels,
        runs,
        onnxRuntime,
        progress: async (step) => {
          status.textContent = `Measuring (${seconds()} so far): ${step}…`;
          await nextPaint();
        },
      });
      showSpeed(report);
      const faster = (t: number) => `${(t / report.engineMs).toFixed(1)}×`;
      const real = modelTitle(report.model.replace('bireal', 'resnet'));
      status.textContent =
        `Done in ${seconds()}: the packed engine took ${ms(report.engineMs)} per image, ` +
        `${faster(report.emulatedMs)} faster than float-emulated ${modelTitle(report.model)} ` +
        `and ${faster(report.realMs)} faster than real ${real} on TensorFlow.js` +
        (report.onnx === undefined
          ? '.'
          : `, ${faster(report.onnx.realMs)} faster than ${real} on ONNX Runtime.`);
      root.dataset['speedState'] = 'done';
    } catch (e) {
      root.dataset['speedState'] = 'error';
      status.textContent = 'The measurement stopped.';
      error.textContent = `The speed measurement failed: ${message(e)}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  };

  const showSpeed = (report: SpeedReport): void => {
    const binary = modelTitle(report.model);
    const real = modelTitle(report.model.replace('bireal', 'resnet'));
    const table = element('table', 'engine-speed-table', '', { tabindex: '0' });
    table.append(
      element(
        'caption',
        '',
        `Milliseconds per image on this device (median of ${runsText(report.runs)}), for ` +
          `untrained networks of ImageNet’s shape, not the trained model above: ` +
          `${report.inputSize} × ${report.inputSize} input, ${report.classes} classes, random ` +
          'weights (the time does not depend on their values), batch 1, one thread, this ' +
          `browser. TensorFlow.js backend: ${report.backend}.` +
          (report.onnx === undefined ? '' : ` ONNX Runtime: ${report.onnx.runtime}.`),
      ),
    );
    const head = element('thead', '');
    const headRow = element('tr', '');
    for (const text of ['Network and runtime', 'ms per image', 'Engine is faster by']) {
      headRow.append(element('th', '', text, { scope: 'col' }));
    }
    head.append(headRow);
    const body = element('tbody', '');
    const rows: [string, number][] = [
      [`(a) ${binary} on the packed 1-bit engine (WebAssembly)`, report.engineMs],
      [`(b) ${binary} float-emulated on TensorFlow.js`, report.emulatedMs],
      [`(c) ${real} (real-valued) on TensorFlow.js`, report.realMs],
      ...(report.onnx === undefined
        ? []
        : ([
            [`(d) ${real} (real-valued) on ONNX Runtime`, report.onnx.realMs],
            [`(e) ${binary} float-emulated on ONNX Runtime`, report.onnx.emulatedMs],
          ] as [string, number][])),
    ];
    for (const [i, [name, time]] of rows.entries()) {
      const row = element('tr', '');
      row.append(
        element('th', '', name, { scope: 'row' }),
        element('td', 'number', time.toFixed(1)),
        element('td', 'number', i === 0 ? '—' : `${(time / report.engineMs).toFixed(1)}×`),
      );
      body.append(row);
    }
    table.append(head, body);

    const rate = element(
      'p',
      '',
      `The 1-bit convolutions do ${billions(report.binaryMacs, 2)} binary multiply-accumulates ` +
        `per image. The engine ran them at ${billions(report.binaryOpsPerSecond)} per second: ` +
        `${percent(report.binaryOpsPerSecond / report.popcountPeak)} of the ` +
        `${billions(report.popcountPeak)} per second that their fastest inner loop (XOR and ` +
        'popcount for two channels and four pixels) reaches on this core with its data in the ' +
        'fastest cache, the ceiling for this code.',
    );

    const steps = report.ops.map((op, i) => `${i + 1}. ${op.name}`);
    const totalMs = report.ops.reduce((sum, op) => sum + op.ms, 0);
    const figure = element('figure', 'engine-steps', '', {
      'aria-label':
        `Bar chart: the packed engine's time per step, ${report.ops.length} steps ` +
        `adding up to ${ms(totalMs)}; the table below lists them.`,
    });
    const plot = element('div', 'engine-plot');
    const caption = element(
      'figcaption',
      '',
      `Where the engine's time goes: each step's time, the fastest of ${runsText(report.runs)}. ` +
        'Sign packing turns a float activation into 1 bit per channel before a 1-bit conv.',
    );
    const legend = element('ul', 'engine-legend', '', { 'aria-label': 'Colours of the chart' });
    for (const kind of STEP_KINDS.filter((k) => report.ops.some((op) => k.ops.includes(op.op)))) {
      const swatch = element('span', 'engine-swatch', '', { 'aria-hidden': 'true' });
      swatch.style.background = kind.color;
      const item = element('li', '');
      item.append(swatch, kind.name);
      legend.append(item);
    }
    figure.append(plot, legend, caption);

    const details = element('details', 'engine-step-details');
    details.append(element('summary', '', 'The steps as a table'));
    const stepTable = element('table', '', '', { tabindex: '0' });
    const stepHead = element('tr', '');
    for (const text of ['Step', 'Kind', 'Output (h × w × c)', 'ms', 'Binary MACs', 'Real MACs']) {
      stepHead.append(element('th', '', text, { scope: 'col' }));
    }
    const stepBody = element('tbody', '');
    for (const [i, op] of report.ops.entries()) {
      const row = element('tr', '');
      row.append(
        element('th', '', steps[i] as string, { scope: 'row' }),
        element('td', '', op.op),
        element('td', '', op.shape.join(' × ')),
        element('td', 'number', op.ms.toFixed(3)),
        element('td', 'number', op.binaryMacs.toLocaleString('en-US')),
        element('td', 'number', op.realMacs.toLocaleString('en-US')),
      );
      stepBody.append(row);
    }
    const stepThead = element('thead', '');
    stepThead.append(stepHead);
    stepTable.append(stepThead, stepBody);
    details.append(stepTable);

    const json = element('script', '', JSON.stringify(report), {
      type: 'application/json',
      id: 'engine-speed-report',
    });
    result.replaceChildren(table, rate, figure, details, json);
    result.hidden = false;

    const traces = STEP_KINDS.map((kind) => {
      const chosen = report.ops
        .map((op, i) => ({ op, label: steps[i] as string }))
        .filter(({ op }) => kind.ops.includes(op.op));
      return {
        type: 'bar',
        orientation: 'h',
        name: kind.name,
        x: chosen.map(({ op }) => op.ms),
        y: chosen.map(({ label }) => label),
        marker: { color: kind.color },
        hovertemplate: '%{y}: %{x:.3f} ms<extra></extra>',
      };
    }).filter((trace) => trace.x.length > 0);
    void renderChart(
      plot,
      traces,
      {
        height: 16 * steps.length + 70,
        margin: { l: 10, r: 10, t: 10, b: 50 },
        barmode: 'overlay',
        bargap: 0.25,
        showlegend: false, // the legend is HTML: it wraps on phones
        xaxis: { title: { text: 'ms (fastest of the runs)' }, rangemode: 'tozero' },
        yaxis: {
          type: 'category',
          categoryorder: 'array',
          categoryarray: steps,
          autorange: 'reversed',
          automargin: true,
          tickfont: { size: 10 },
        },
      },
      { displayModeBar: false },
    ).catch((e: unknown) => {
      plot.textContent = `The chart failed to load: ${message(e)}`;
    });
  };

  button.addEventListener('click', () => void measure());
  button.disabled = false;
  root.dataset['speedState'] = 'idle';
}
