/**
 * Every page's script: theme, navigation menu, search, charts (drawn when near the viewport),
 * Run buttons of code cells (the kernel loads on first use), the MNIST demo and the deploy
 * page's engine demo (each demo's code loads only on its page).
 */
import { NARROW_PX, redrawCharts, renderChart } from './plotly.js';
import type { CellEditor } from './editor.js';
import { setUpSearch } from './search.js';

function setUpTheme(): void {
  const button = document.querySelector<HTMLButtonElement>('.theme-toggle');
  const root = document.documentElement;
  const dark = () =>
    root.dataset['theme'] === 'dark' ||
    (root.dataset['theme'] === undefined && matchMedia('(prefers-color-scheme: dark)').matches);
  const update = () => button?.setAttribute('aria-pressed', String(dark()));
  update();
  button?.addEventListener('click', () => {
    root.dataset['theme'] = dark() ? 'light' : 'dark';
    localStorage.setItem('bireal-theme', root.dataset['theme']);
    update();
    redrawCharts();
  });
  // Without a chosen theme the page follows the system's, also when it changes while open.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (root.dataset['theme'] !== undefined) return;
    update();
    redrawCharts();
  });
}

function setUpMenu(): void {
  const button = document.querySelector<HTMLButtonElement>('.menu-toggle');
  const nav = document.getElementById('site-nav');
  button?.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    nav?.classList.toggle('open', open);
  });
}

function drawChart(plot: HTMLElement): void {
  const spec = plot.parentElement?.querySelector('.chart-spec')?.textContent;
  if (spec === undefined || spec === null) return;
  const { data, layout } = JSON.parse(spec) as {
    data: unknown[];
    layout?: Record<string, unknown>;
  };
  renderChart(plot, data, layout ?? {}).catch((error: unknown) => {
    plot.textContent = `Chart failed to load: ${String(error)}`;
  });
}

function setUpCharts(): void {
  // A window that becomes narrow or wide again gets the other layout (see narrowLayout).
  matchMedia(`(max-width: ${NARROW_PX - 1}px)`).addEventListener('change', redrawCharts);
  const plots = document.querySelectorAll<HTMLElement>('.chart .plot');
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        drawChart(entry.target as HTMLElement);
      }
    },
    { rootMargin: '400px' },
  );
  plots.forEach((plot) => observer.observe(plot));
}

function setUpCells(): void {
  const codeElement = document.getElementById('cell-code');
  if (codeElement === null) return;
  const sections = [...document.querySelectorAll<HTMLElement>('section.cell')];
  const runnable = sections.filter((s) => s.dataset['node'] === undefined);
  const editors = new Map<number, CellEditor>();
  const kernel = import('./kernel.js').then(
    ({ PageKernel }) =>
      new PageKernel(
        JSON.parse(codeElement.textContent ?? '[]'),
        (i) => sections[i] as HTMLElement,
        (i) => (editors.get(i)?.edited ? editors.get(i)?.code : undefined),
      ),
  );
  const runAll = document.querySelector<HTMLButtonElement>('[data-action="run-all"]');
  runAll?.addEventListener('click', async () => {
    const last = runnable.at(-1);
    if (last === undefined) return;
    runAll.disabled = true;
    await (await kernel).run(Number(last.dataset['cell'])); // runs every earlier cell first
    runAll.disabled = false;
  });
  const editorModule = import('./editor.js');
  for (const section of runnable) {
    const index = Number(section.dataset['cell']);
    // The stored outputs, as built (Reset puts them back; charts are drawn after this).
    const stored = section.querySelector('.outputs[data-stored]')?.cloneNode(true);
    const run = async () => void (await kernel).run(index);
    const reset = section.querySelector<HTMLButtonElement>('[data-action="reset"]');
    section.querySelector('[data-action="run"]')?.addEventListener('click', run);
    section
      .querySelector('[data-action="stop"]')
      ?.addEventListener('click', async () => (await kernel).stop());
    reset?.addEventListener('click', () => {
      editors.get(index)?.reset();
      const copy = stored?.cloneNode(true) as HTMLElement | undefined;
      if (copy !== undefined) {
        section.querySelector('.outputs')?.replaceWith(copy);
        copy.querySelectorAll<HTMLElement>('.chart .plot').forEach(drawChart);
      }
      delete section.dataset['state'];
      const status = section.querySelector('.cell-status');
      if (status) status.textContent = 'reset to the original code and output';
    });
    const pre = section.querySelector<HTMLElement>(':scope > pre');
    if (pre === null) continue;
    void editorModule.then(({ mountEditor }) =>
      editors.set(index, mountEditor(pre, `Code of cell ${index + 1}, editable`, run)),
    );
  }
}

function setUpDemos(): void {
  const mnist = document.getElementById('mnist-demo');
  if (mnist !== null)
    void import('./mnist-demo.js').then(({ mountMnistDemo }) => mountMnistDemo(mnist));
  const engine = document.getElementById('engine-demo');
  if (engine !== null)
    void import('./engine-demo.js').then(({ mountEngineDemo }) => mountEngineDemo(engine));
}

setUpTheme();
setUpMenu();
const input = document.querySelector<HTMLInputElement>('#search-input');
const results = document.getElementById('search-results');
if (input !== null && results !== null) setUpSearch(input, results);
setUpCharts();
setUpCells();
setUpDemos();
document.documentElement.dataset['ready'] = 'true'; // every control is wired (benchmarks wait for it)
