/**
 * plotly.js (its cartesian bundle: scatter, bar, histogram, heatmap...), loaded from
 * `assets/plotly.min.js` (one cached file for every page,
 * never inlined), when the first chart scrolls near the viewport.
 */
import { assetUrl } from './base.js';

/** The part of plotly.js the site uses. */
export interface Plotly {
  react(root: HTMLElement, data: unknown[], layout: object, config?: object): Promise<unknown>;
  extendTraces(root: HTMLElement, update: object, indices: number[]): Promise<unknown>;
  purge(root: HTMLElement): void;
}

let loading: Promise<Plotly> | undefined;

export function loadPlotly(): Promise<Plotly> {
  loading ??= new Promise<Plotly>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = assetUrl('plotly.min.js');
    script.onload = () => resolve((window as unknown as { Plotly: Plotly }).Plotly);
    script.onerror = () => reject(new Error(`cannot load ${script.src}`));
    document.head.append(script);
  });
  return loading;
}

/**
 * The colour a CSS variable of the page gives now, as `rgb(...)` (the variables hold
 * `light-dark(...)`, which only an element's computed colour resolves).
 */
export function themeColor(variable: string): string {
  const probe = document.body.appendChild(document.createElement('span'));
  probe.style.color = `var(${variable})`;
  const color = getComputedStyle(probe).color;
  probe.remove();
  return color;
}

/** Chart colours that follow the page's light/dark theme. */
export function themedLayout(layout: Record<string, unknown>): Record<string, unknown> {
  const text = themeColor('--text');
  const grid = themeColor('--border');
  const axis = (a: unknown) => ({ gridcolor: grid, zerolinecolor: grid, ...(a as object) });
  const axes = Object.fromEntries(
    Object.entries(layout)
      .filter(([k]) => /^[xy]axis\d*$/.test(k))
      .map(([k, v]) => [k, axis(v)]),
  );
  return {
    ...layout,
    xaxis: axis(layout['xaxis']),
    yaxis: axis(layout['yaxis']),
    ...axes,
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: text, ...(layout['font'] as object) },
    autosize: true,
  };
}

const drawn = new Map<
  HTMLElement,
  { data: unknown[]; layout: Record<string, unknown>; config: Record<string, unknown> }
>();

/**
 * Renders (or re-renders) a chart into `root`, responsive to the page's width; `config` adds
 * plotly.js options (e.g. `{ displayModeBar: false }`).
 */
export async function renderChart(
  root: HTMLElement,
  data: unknown[],
  layout: Record<string, unknown>,
  config: Record<string, unknown> = {},
): Promise<void> {
  drawn.set(root, { data, layout, config });
  const plotly = await loadPlotly();
  await plotly.react(root, data, themedLayout(layout), {
    responsive: true,
    displaylogo: false,
    ...config,
  });
  root.dataset['rendered'] = 'true';
}

/** Draws every chart on the page again, in the colours of the current theme. */
export function rethemeCharts(): void {
  for (const [root, { data, layout, config }] of drawn) {
    if (root.isConnected) void renderChart(root, data, layout, config);
    else drawn.delete(root);
  }
}
