/**
 * The elements notebook pages use in MDX, rendered to static HTML at build time. The browser
 * code (site/client) finds them by class and data attributes: it draws the charts and wires the
 * Run buttons.
 */
import type { ReactNode } from 'react';
import type { EngineAssets, EngineModelFacts } from './engine-assets.js';
import type { ApiUse } from './notebook-mdx.js';

/** JSON inside a `<script type="application/json">`, safe against `</script>`. */
export function JsonScript({
  value,
  className,
  id,
}: {
  value: unknown;
  className?: string;
  id?: string;
}) {
  const json = JSON.stringify(value).replace(/</g, '\\u003c');
  return (
    <script
      type="application/json"
      className={className}
      id={id}
      dangerouslySetInnerHTML={{ __html: json }}
    />
  );
}

/** Where the API reference documents an export of the library (relative to the site's root). */
export function apiHref({ module, name }: ApiUse): string {
  return `api/${module === 'bireal' ? 'index' : 'notebook'}.html#${name}`;
}

/**
 * A code cell: toolbar (Run, Stop and Reset, or the note that it needs Node), what it replays,
 * the library's exports it uses (linked to the API reference), source (an editor once the page's
 * script has loaded), outputs. The answer to a checkable exercise is collapsed until the reader
 * opens it.
 */
export function Cell({
  index,
  node,
  answer = false,
  api = [],
  replays = [],
  children,
}: {
  index: number;
  node: boolean;
  answer?: boolean;
  api?: ApiUse[];
  replays?: string[];
  children: ReactNode;
}) {
  const cell = (
    <section
      className="cell"
      data-cell={index}
      data-node={node ? 'true' : undefined}
      aria-label={`Code cell ${index + 1}`}
    >
      <div className="cell-toolbar">
        <span className="cell-label">[{index + 1}]</span>
        {node ? (
          <span className="badge" title="This cell reads files or datasets that only Node.js has">
            Needs Node.js: stored output shown
          </span>
        ) : (
          <>
            <button
              type="button"
              className="run"
              data-action="run"
              aria-label={`Run cell ${index + 1}`}
            >
              ▶ Run
            </button>
            <button
              type="button"
              className="stop"
              data-action="stop"
              hidden
              aria-label={`Stop cell ${index + 1}`}
            >
              ■ Stop
            </button>
            <button
              type="button"
              data-action="reset"
              aria-label={`Reset cell ${index + 1} to its original code and stored output`}
            >
              ↺ Reset
            </button>
            <span className="cell-status" role="status" aria-live="polite" />
          </>
        )}
      </div>
      {replays.length > 0 && (
        <p className="cell-note" data-replays={replays.join(' ')}>
          Replays recorded runs: nothing trains in your browser. To train{' '}
          {replays.length === 1 ? 'them' : 'each'} for real, in a clone of the repository:{' '}
          {replays.map((name, i) => (
            <span key={name}>
              {i > 0 && ', '}
              <code>npx bireal experiment {name}</code>
            </span>
          ))}
          .
        </p>
      )}
      {api.length > 0 && (
        <p className="cell-note cell-api">
          Uses{' '}
          {api.map((use, i) => (
            <span key={`${use.module}.${use.name}`}>
              {i > 0 && ', '}
              <a href={apiHref(use)}>
                <code>{use.name}</code>
              </a>
            </span>
          ))}
        </p>
      )}
      {children}
    </section>
  );
  return answer ? (
    <details className="answer">
      <summary>Answer and check (cell {index + 1})</summary>
      {cell}
    </details>
  ) : (
    cell
  );
}

/** The outputs a cell had when the notebook was executed (replaced when the reader runs it). */
export function Outputs({ children }: { children?: ReactNode }) {
  return (
    <div className="outputs" data-stored="true">
      {children}
    </div>
  );
}

export function Stream({ name, text }: { name: string; text: string }) {
  return (
    <pre className={`stream ${name}`} tabIndex={0}>
      {text}
    </pre>
  );
}

export function Markdown({ children }: { children?: ReactNode }) {
  return <div className="markdown-output">{children}</div>;
}

interface PlotlySpec {
  data: unknown[];
  layout?: { title?: { text?: string } | string };
}

/** A Plotly chart: its spec travels as JSON; the browser draws it with plotly.js. */
export function Chart({ spec }: { spec: PlotlySpec }) {
  const title = spec.layout?.title;
  const label = (typeof title === 'string' ? title : title?.text) ?? 'chart';
  return (
    <figure className="chart" aria-label={`Chart: ${label}`}>
      <div className="plot" />
      <JsonScript value={spec} className="chart-spec" />
    </figure>
  );
}

export function Picture({ mime, data }: { mime: string; data: string }) {
  return (
    <img
      className="output-image"
      src={`data:${mime};base64,${data.replace(/\s/g, '')}`}
      alt="Cell output image"
    />
  );
}

export function Html({ html }: { html: string }) {
  return <div className="html-output" dangerouslySetInnerHTML={{ __html: html }} />;
}

/** Where the landing page's MNIST demo mounts (site/client/mnist-demo.ts fills it). */
export function MnistDemo() {
  return (
    <div id="mnist-demo" className="mnist-demo" data-state="idle">
      <noscript>The demo trains in your browser and needs JavaScript.</noscript>
    </div>
  );
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const count = (n: number) => n.toLocaleString('en-US');

/** "binary: 8, finetune: 2" (the header's epochs per stage) as words. */
function epochsText(epochs: string): string {
  return epochs
    .split(', ')
    .map((stage) => {
      const [name, n] = stage.split(': ');
      return n === undefined ? stage : `${n} epochs (stage “${name}”)`;
    })
    .join(', ');
}

/** The model's facts: its name, and the rest from its deploy file. */
function ModelFacts({ model, hidden }: { model: EngineModelFacts; hidden: boolean }) {
  const width = model.modelOptions['width'];
  const floatBytes = 4 * (model.binaryWeights + model.floatValues);
  return (
    <dl className="engine-facts" data-model-facts={model.file} hidden={hidden}>
      <dt>Model</dt>
      <dd>
        <code>{model.model}</code>
        {typeof width === 'number' && width !== 1 ? `, channel width × ${width}` : ''}:{' '}
        {model.about}
      </dd>
      <dt>Input</dt>
      <dd>
        {model.size} × {model.size} pixels, {model.channels === 3 ? 'colour (RGB)' : 'grey'}
      </dd>
      <dt>Classes</dt>
      <dd>
        {model.labels.length}: {model.labels.join(', ')}
      </dd>
      {model.eval !== undefined && (
        <>
          <dt>Accuracy</dt>
          <dd>
            {(100 * model.eval.top1).toFixed(1)}% top-1, {(100 * model.eval.top5).toFixed(1)}% top-5
            on {count(model.eval.n)} held-out photos
            {model.dataset !== undefined && (
              <>
                {' '}
                (<code>{model.dataset}</code>)
              </>
            )}
          </dd>
        </>
      )}
      {model.epochs !== undefined && (
        <>
          <dt>Training</dt>
          <dd>{epochsText(model.epochs)}</dd>
        </>
      )}
      <dt>File</dt>
      <dd>
        {megabytes(model.bytes)}: {count(model.binaryWeights)} 1-bit weights and{' '}
        {count(model.floatValues)} float32 values; with every weight in float32 it would take{' '}
        {megabytes(floatBytes)}, {(floatBytes / model.bytes).toFixed(1)} times more. Each 1-bit
        weight takes 32 times less than a float32 one; the whole file saves less, because its real
        layers and per-channel values stay float32.
      </dd>
    </dl>
  );
}

/** One line per model to choose from: its name, accuracy and download size. */
function ModelChoice({ models }: { models: EngineModelFacts[] }) {
  return (
    <fieldset className="engine-models">
      <legend>Model</legend>
      {models.map((model, i) => (
        <label key={model.file}>
          <input
            type="radio"
            name="engine-model"
            value={model.file}
            data-bytes={model.bytes}
            defaultChecked={i === 0}
            disabled
          />{' '}
          <span>
            <strong>{model.title}</strong>
            {model.eval === undefined ? '' : `: ${(100 * model.eval.top1).toFixed(1)}% top-1`},{' '}
            {megabytes(model.bytes)} to download
            {i === 0 ? ' (the default)' : models.length > 1 ? ' (for slow devices)' : ''}
          </span>
        </label>
      ))}
      <p className="engine-note">
        A model downloads when it first classifies a photo; switching models classifies the photo
        shown again.
      </p>
    </fieldset>
  );
}

/**
 * Where the deploy page's engine demo mounts (site/client/engine-demo.ts wires it): the models
 * to choose from and their facts, a file input and sample photos to classify, and the speed
 * measurement.
 */
export function EngineDemo({ assets }: { assets?: EngineAssets }) {
  const models = assets?.models ?? [];
  const model = models[0];
  return (
    <div
      id="engine-demo"
      className="engine-demo"
      data-model={model?.file}
      data-kernels={assets?.kernels ?? 'engine/kernels.wasm'}
      data-onnx-runtime-wasm={assets?.onnxRuntimeWasm}
    >
      <noscript>
        <p>The demo runs in your browser and needs JavaScript.</p>
      </noscript>
      <section className="engine-classify" aria-labelledby="engine-classify-title">
        <h3 id="engine-classify-title">Classify a photo</h3>
        {model === undefined ? (
          <p className="engine-note">This build of the site has no deploy file to run.</p>
        ) : (
          <>
            <ModelChoice models={models} />
            {models.map((m, i) => (
              <ModelFacts key={m.file} model={m} hidden={i !== 0} />
            ))}
            <p className="engine-note">
              The model knows only these {model.labels.length} classes: whatever photo you give it,
              it answers with one of them.
            </p>
            <div className="engine-pick">
              <label htmlFor="engine-file">Choose a photo from your device</label>
              <input id="engine-file" type="file" accept="image/*" disabled />
            </div>
            {assets?.samples.length ? (
              <div role="group" aria-labelledby="engine-samples-title">
                <p id="engine-samples-title">
                  Or click a photo of the validation split, which the model never trained on (the
                  first photo of each class, with its true label):
                </p>
                <ul className="engine-samples">
                  {assets.samples.map((sample) => (
                    <li key={sample.file}>
                      <button
                        type="button"
                        className="engine-sample"
                        data-sample={sample.file}
                        data-label={sample.label}
                        disabled
                      >
                        <img src={`assets/${sample.file}`} alt="" loading="lazy" />
                        <span className="visually-hidden">Classify the photo labelled </span>
                        <span className="engine-sample-label">{sample.label}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </div>
            ) : (
              <p className="engine-note" data-samples="missing">
                No sample photos in this build: {assets?.samplesMissing ?? 'none found'}. Choose a
                photo of your own instead.
              </p>
            )}
            <p className="engine-status" role="status" aria-live="polite" aria-atomic="true">
              Choose a photo or click a sample.
            </p>
            <p className="engine-error" role="alert" hidden />
            <div className="engine-result" hidden />
          </>
        )}
      </section>
      <section className="engine-speed" aria-labelledby="engine-speed-title">
        <h3 id="engine-speed-title">Time it against float arithmetic</h3>
        <p>The button times five networks on this device, one image at a time, on one thread:</p>
        <ul>
          <li>(a) Bi-Real-18 on the packed 1-bit engine;</li>
          <li>
            (b) the same Bi-Real-18 float-emulated on TensorFlow.js: its 1-bit convolutions computed
            as ordinary float convolutions of ±1 values, as in training;
          </li>
          <li>(c) the real-valued ResNet-18 on TensorFlow.js;</li>
          <li>
            (d) the same ResNet-18 on ONNX Runtime Web, a common way to deploy a float network;
          </li>
          <li>(e) the float-emulated Bi-Real-18 of (b) on ONNX Runtime Web.</li>
        </ul>
        <p>
          TensorFlow.js and ONNX Runtime run on WebAssembly with SIMD; the page exports (d) and (e)
          to ONNX itself, as <code>bireal export --format onnx</code> does. All five take 224 × 224
          images and have 1000 classes, as on ImageNet, with random weights: they are not the
          trained model above (the time does not depend on the weights&apos; values). On a laptop it
          takes about 30 s and 15 MB more to download, and the page may not respond for several
          seconds at a time until it is done.
        </p>
        <button type="button" className="primary" data-action="measure-speed" disabled>
          Measure the speed on this device (about 30 s)
        </button>
        <p className="engine-speed-status" role="status" aria-live="polite" aria-atomic="true">
          Not measured yet.
        </p>
        <p className="engine-error" role="alert" hidden />
        <div className="engine-speed-result" hidden />
      </section>
    </div>
  );
}

export const MDX_COMPONENTS = {
  Cell,
  Outputs,
  Stream,
  Markdown,
  Chart,
  Picture,
  Html,
  MnistDemo,
  EngineDemo,
};
