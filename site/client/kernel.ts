/**
 * Runs a page's code cells in the reader's browser, like a notebook kernel: cells share one
 * scope, earlier cells run first when needed, a cell the reader edited runs as edited (compiled
 * here, by the TypeScript compiler that loads on first use), output (console, tslab's display,
 * the final value) appears under the cell, long runs show their time and can be stopped.
 */
import { marked } from 'marked';
import type { CompiledCell } from '../build/cells.js';
import { renderChart } from './plotly.js';
import { keepNumbersTogether } from './text.js';
import { loadLibrary } from './tf.js';

/** A cell as site/build/cells.ts compiled it. */
interface CellCode extends CompiledCell {
  node: boolean;
}

type Output =
  | { kind: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { kind: 'markdown'; text: string }
  | { kind: 'html'; html: string }
  | { kind: 'chart'; spec: { data: unknown[]; layout?: Record<string, unknown> } }
  | { kind: 'image'; mime: string; bytes: Uint8Array };

class CellStopped extends Error {
  constructor() {
    super('stopped by the reader');
  }
}

/** The cell that is running now: where console and display write. */
let current: { out: HTMLElement; stopped: boolean; lastYield: number } | undefined;

function write(output: Output): void {
  if (current === undefined) return;
  if (current.stopped) throw new CellStopped();
  const out = current.out;
  if (output.kind === 'stream') {
    const last = out.lastElementChild;
    const pre =
      last instanceof HTMLPreElement && last.classList.contains(output.name)
        ? last
        : out.appendChild(
            Object.assign(document.createElement('pre'), {
              className: `stream ${output.name}`,
              tabIndex: 0,
            }),
          );
    pre.textContent += output.text;
  } else if (output.kind === 'markdown') {
    const div = out.appendChild(
      Object.assign(document.createElement('div'), { className: 'markdown-output' }),
    );
    div.innerHTML = marked.parse(keepNumbersTogether(output.text), { async: false });
    div.querySelectorAll('table').forEach((table) => (table.tabIndex = 0)); // scrolls sideways
  } else if (output.kind === 'html') {
    out.appendChild(
      Object.assign(document.createElement('div'), { className: 'html-output' }),
    ).innerHTML = output.html;
  } else if (output.kind === 'chart') {
    const figure = out.appendChild(
      Object.assign(document.createElement('figure'), { className: 'chart' }),
    );
    const plot = figure.appendChild(
      Object.assign(document.createElement('div'), { className: 'plot' }),
    );
    void renderChart(plot, output.spec.data, output.spec.layout ?? {});
  } else {
    const url = URL.createObjectURL(new Blob([output.bytes.slice()], { type: output.mime }));
    out.appendChild(
      Object.assign(document.createElement('img'), { src: url, alt: 'Cell output image' }),
    );
  }
}

const show = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  if (typeof (value as { toString?: unknown }).toString === 'function' && 'dtype' in value)
    return String(value);
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
};

/** What the notebooks import as `tslab`: its `display` API, writing under the running cell. */
const tslab = {
  display: {
    text: (text: string) => write({ kind: 'stream', name: 'stdout', text: `${text}\n` }),
    markdown: (text: string) => write({ kind: 'markdown', text }),
    html: (html: string) => write({ kind: 'html', html }),
    png: (bytes: Uint8Array) => write({ kind: 'image', mime: 'image/png', bytes }),
    jpeg: (bytes: Uint8Array) => write({ kind: 'image', mime: 'image/jpeg', bytes }),
    raw(mime: string, data: unknown) {
      if (mime === 'application/vnd.plotly.v1+json') write({ kind: 'chart', spec: data as never });
      else if (mime === 'text/markdown') write({ kind: 'markdown', text: String(data) });
      else if (mime === 'text/html') write({ kind: 'html', html: String(data) });
      else write({ kind: 'stream', name: 'stdout', text: `${show(data)}\n` });
    },
  },
};

/** A module that only Node.js has: importing works, using it says what is missing. */
function nodeOnly(name: string): unknown {
  const fail = (member: string) => () => {
    throw new Error(
      `${name}${member} needs Node.js: run this notebook in Jupyter (tslab) to use it`,
    );
  };
  // `then` stays undefined: awaiting the module must not look like a promise.
  return new Proxy(fail(''), {
    get: (_, member) => (member === 'then' ? undefined : fail(`.${String(member)}`)),
  });
}

async function importModule(name: string): Promise<unknown> {
  switch (name) {
    case 'bireal':
      return loadLibrary();
    case 'bireal/notebook':
      return import('./notebook.js');
    case '@tensorflow/tfjs-core':
      return (await loadLibrary(), import('@tensorflow/tfjs-core'));
    case '@tensorflow/tfjs-layers':
      return (await loadLibrary(), import('@tensorflow/tfjs-layers'));
    case 'tslab':
      return tslab;
    default:
      if (/^(node:|sharp$|tar$)/.test(name)) return nodeOnly(name);
      throw new Error(`module '${name}' is not available in the browser`);
  }
}

/** Called at each loop iteration: yields to the page every 50 ms; throws once stopped. */
async function checkpoint(): Promise<void> {
  const run = current;
  if (run === undefined) return;
  if (run.stopped) throw new CellStopped();
  if (performance.now() - run.lastYield < 50) return;
  await new Promise((resolve) => setTimeout(resolve, 0));
  run.lastYield = performance.now();
  if (run.stopped) throw new CellStopped();
}

const CONSOLE_METHODS = ['log', 'info', 'debug', 'warn', 'error'] as const;

/** Runs `fn` with the page's console writing into the running cell's output. */
async function capturingConsole<T>(fn: () => Promise<T>): Promise<T> {
  const saved = CONSOLE_METHODS.map((m) => console[m]);
  for (const method of CONSOLE_METHODS) {
    const name = method === 'warn' || method === 'error' ? 'stderr' : 'stdout';
    console[method] = (...args: unknown[]) =>
      write({ kind: 'stream', name, text: `${args.map(show).join(' ')}\n` });
  }
  try {
    return await fn();
  } finally {
    CONSOLE_METHODS.forEach((m, i) => (console[m] = saved[i] as never));
  }
}

/** One page's kernel: the shared scope and which cells have run. */
export class PageKernel {
  private readonly scope: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  private readonly ran = new Set<number>();
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `editedSource` answers the TypeScript of a cell the reader has changed, undefined for one
   * as written.
   */
  constructor(
    private readonly cells: CellCode[],
    private readonly elementOf: (index: number) => HTMLElement,
    private readonly editedSource: (index: number) => string | undefined,
  ) {}

  /** Runs cell `index`, first running the earlier cells that have not run yet. */
  run(index: number): Promise<boolean> {
    const result = this.queue.then(async () => {
      for (let i = 0; i < index; i++) {
        if (!this.ran.has(i) && !this.cells[i]?.node && !(await this.runOne(i))) return false;
      }
      return this.runOne(index);
    });
    this.queue = result;
    return result;
  }

  /** Stops the running cell at its next output or loop iteration. */
  stop(): void {
    if (current !== undefined) current.stopped = true;
  }

  private async runOne(index: number): Promise<boolean> {
    const cell = this.cells[index];
    const element = this.elementOf(index);
    if (cell === undefined || cell.node) return false;
    const out =
      element.querySelector<HTMLElement>('.outputs') ??
      element.appendChild(document.createElement('div'));
    out.className = 'outputs';
    out.replaceChildren();
    delete out.dataset['stored'];
    const status = element.querySelector<HTMLElement>('.cell-status');
    const stopButton = element.querySelector<HTMLButtonElement>('[data-action="stop"]');
    const started = performance.now();
    const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
    const timer = setInterval(
      () => status && (status.textContent = `running… ${seconds()} s`),
      250,
    );
    element.dataset['state'] = 'running';
    if (stopButton) stopButton.hidden = false;
    current = { out, stopped: false, lastYield: started };
    try {
      const edited = this.editedSource(index);
      const { code, names } =
        edited === undefined ? cell : (await import('../build/cells.js')).compileCell(edited);
      for (const name of names) if (!(name in this.scope)) this.scope[name] = undefined;
      const body = new Function(
        'scope',
        '__import',
        '__checkpoint',
        `with (scope) { return (async () => {\n${code}\n})(); }`,
      ) as (scope: object, load: typeof importModule, check: typeof checkpoint) => Promise<unknown>;
      const value = await capturingConsole(() => body(this.scope, importModule, checkpoint));
      if (value !== undefined) write({ kind: 'stream', name: 'stdout', text: `${show(value)}\n` });
      this.ran.add(index);
      element.dataset['state'] = 'done';
      if (status) status.textContent = `done in ${seconds()} s`;
      return true;
    } catch (error) {
      const stopped = error instanceof CellStopped || current.stopped;
      current.stopped = false;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      write({
        kind: 'stream',
        name: 'stderr',
        text: stopped ? `Stopped after ${seconds()} s.\n` : `${message}\n`,
      });
      element.dataset['state'] = stopped ? 'stopped' : 'error';
      if (status) status.textContent = stopped ? `stopped after ${seconds()} s` : 'failed';
      return false;
    } finally {
      clearInterval(timer);
      current = undefined;
      if (stopButton) stopButton.hidden = true;
    }
  }
}
