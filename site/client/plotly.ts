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
  relayout(root: HTMLElement, update: object): Promise<unknown>;
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

/** Charts narrower than this get the phone layout of {@link narrowLayout}. */
export const NARROW_PX = 600;

type Layout = Record<string, unknown>;
type Annotation = Layout & { x?: number; y?: number; xref?: string; yref?: string };
const get = (layout: Layout, key: string) => (layout[key] ?? {}) as Layout;
const domain = (layout: Layout, axis: string) => get(layout, axis)['domain'] as [number, number];

/** `text` broken into lines (`<br>`) of at most `chars` characters, at spaces. */
export function wrap(text: string, chars: number): string {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.at(-1);
    if (last !== undefined && `${last} ${word}`.length <= chars)
      lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines.join('<br>');
}

/** Phone layout sizes, px: a stacked panel's plot, the space between panels, a legend row. */
const PANEL = 280;
const PANEL_GAP = 150;
const LEGEND_ROW = 22;

/**
 * Panels side by side (a grid of one row, or x axes with domains) stacked instead, each the
 * full width and anchored to its own y axis; annotations placed on the paper (a panel's heading) move with their panel.
 * Returns the layout and the height of its plot area (px).
 */
function stackPanels(layout: Layout, plotHeight: number): [Layout, number] {
  const grid = get(layout, 'grid');
  const columns = Number(grid['columns'] ?? 1);
  if (grid['rows'] === 1 && columns > 1) {
    const gap = PANEL_GAP / 2 / PANEL; // a grid's gaps are fractions of a panel
    const rows = { ...grid, rows: columns, columns: 1, ygap: gap };
    return [{ ...layout, grid: rows }, columns * PANEL * (1 + gap)];
  }
  const axes = Object.keys(layout)
    .filter((k) => /^xaxis\d*$/.test(k) && Array.isArray(get(layout, k)['domain']))
    .sort((a, b) => domain(layout, a)[0] - domain(layout, b)[0]);
  if (axes.length < 2) return [layout, plotHeight];
  const height = axes.length * PANEL + (axes.length - 1) * PANEL_GAP;
  const stacked: Layout = { ...layout };
  const panels = axes.map((x, i) => {
    const y = x.replace('x', 'y');
    const top = 1 - (i * (PANEL + PANEL_GAP)) / height;
    const span: [number, number] = [top - PANEL / height, top];
    stacked[x] = { ...get(layout, x), domain: [0, 1], anchor: y.replace('axis', '') };
    stacked[y] = { ...get(layout, y), domain: span };
    return { old: domain(layout, x), span };
  });
  stacked['annotations'] = ((layout['annotations'] ?? []) as Annotation[]).map((a) => {
    const { x, y } = a;
    const panel = panels.find(
      ({ old }) => a.xref === 'paper' && x !== undefined && x >= old[0] && x <= old[1],
    );
    if (panel === undefined || x === undefined) return a;
    const [bottom, top] = panel.span;
    return {
      ...a,
      x: (x - panel.old[0]) / (panel.old[1] - panel.old[0]),
      y: a.yref === 'paper' && y !== undefined ? bottom + y * (top - bottom) : y,
    };
  });
  return [stacked, height];
}

/**
 * The layout of a chart `width` px wide on a phone: panels stacked, the title wrapped to the
 * width, narrow side margins.
 */
export function narrowLayout(layout: Layout, width: number): Layout {
  const margin = get(layout, 'margin');
  const [top, bottom] = [Number(margin['t'] ?? 100), Number(margin['b'] ?? 80)];
  const [stacked, plotHeight] = stackPanels(layout, Number(layout['height'] ?? 450) - top - bottom);
  const title = get(stacked, 'title');
  const text = typeof stacked['title'] === 'string' ? stacked['title'] : title['text'];
  const wrapped = typeof text === 'string' ? wrap(text, Math.floor(width / 9)) : undefined;
  const lines = wrapped?.split('<br>').length ?? 0;
  // Room for the title's lines, and for the annotations above the plot (panel headings).
  const above = ((stacked['annotations'] ?? []) as Annotation[]).some(
    (a) => a.yref === 'paper' && (a.y ?? 0) >= 1,
  );
  const t = 24 + 20 * lines + (above ? 40 : 0);
  return {
    ...stacked,
    ...(wrapped && {
      title: {
        ...title,
        text: wrapped,
        font: { size: 15 },
        y: 1,
        yanchor: 'top',
        yref: 'container',
        pad: { t: 8 },
      },
    }),
    height: plotHeight + t + bottom,
    margin: {
      ...margin,
      l: Math.min(Number(margin['l'] ?? 80), 48),
      r: Math.min(Number(margin['r'] ?? 80), 16),
      t,
    },
  };
}

/** The names a chart's legend lists: a trace each, unless it hides from it; none for one trace. */
function legendNames(data: unknown[], layout: Layout): string[] {
  if (layout['showlegend'] === false || data.length < 2) return [];
  return (data as Layout[])
    .filter((trace) => trace['showlegend'] !== false)
    .map((trace) => String(trace['name'] ?? ''));
}

/** The rows a horizontal legend of `names` takes in `width` px (an entry: symbol and text). */
function legendRows(names: string[], width: number): number {
  let rows = 0;
  let left = 0;
  for (const name of names) {
    const entry = 40 + 7 * name.length;
    if (rows === 0 || entry > left) [rows, left] = [rows + 1, width];
    left -= entry;
  }
  return rows;
}

/**
 * The legend in `rows` rows at the bottom of the figure, under the axis titles, with the margin
 * that needs (the plot area keeps its height).
 */
function legendBelow(layout: Layout, rows: number): Layout {
  const margin = get(layout, 'margin');
  const b = 80 + LEGEND_ROW * rows;
  return {
    ...layout,
    legend: {
      ...get(layout, 'legend'),
      orientation: 'h',
      x: 0,
      xanchor: 'left',
      y: 0,
      yanchor: 'bottom',
      yref: 'container',
    },
    height: Number(layout['height'] ?? 450) + b - Number(margin['b'] ?? 80),
    margin: { ...margin, b },
  };
}

/**
 * Wraps, at their middle space, the annotations and axis titles that stick out of the drawn
 * chart `root` (their length is only known once drawn).
 */
async function fitToWidth(plotly: Plotly, root: HTMLElement): Promise<void> {
  const box = root.getBoundingClientRect();
  const outside = (element: Element) => {
    const r = element.getBoundingClientRect();
    return r.left < box.left - 1 || r.right > box.right + 1;
  };
  const halve = (text: string) =>
    text.includes('<br>') ? text : wrap(text, Math.ceil(text.length / 2));
  const layout = (root as unknown as { layout: Layout }).layout;
  const update: Layout = {};
  root.querySelectorAll('.annotation[data-index]').forEach((a) => {
    const i = Number(a.getAttribute('data-index'));
    const text = ((layout['annotations'] ?? []) as Annotation[])[i]?.['text'];
    if (outside(a) && typeof text === 'string') update[`annotations[${i}].text`] = halve(text);
  });
  root.querySelectorAll('.g-xtitle text, .g-x2title text').forEach((title) => {
    const axis = title.classList.contains('x2title') ? 'xaxis2' : 'xaxis';
    const text = get(get(layout, axis), 'title')['text'];
    if (outside(title) && typeof text === 'string') update[`${axis}.title.text`] = halve(text);
  });
  if (Object.keys(update).length > 0) await plotly.relayout(root, update);
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
  const width = root.clientWidth;
  const narrow = width < NARROW_PX;
  const legend = get(layout, 'legend');
  const names = legendNames(data, layout);
  // A legend under the plot goes under the axis titles too; on a phone, every legend.
  const below = narrow || (legend['orientation'] === 'h' && Number(legend['y'] ?? 1) < 0);
  const narrowed = narrow ? narrowLayout(layout, width) : layout;
  const shaped =
    below && names.length > 0 ? legendBelow(narrowed, legendRows(names, width)) : narrowed;
  await plotly.react(root, data, themedLayout(shaped), {
    responsive: true,
    displaylogo: false,
    // On touch screens the toolbar would stay over the title: pinch and drag zoom anyway.
    displayModeBar: !matchMedia('(hover: none)').matches,
    ...config,
  });
  if (narrow) await fitToWidth(plotly, root);
  root.dataset['rendered'] = 'true';
}

/** Draws every chart on the page again, in the colours of the current theme, for its width now. */
export function redrawCharts(): void {
  for (const [root, { data, layout, config }] of drawn) {
    if (root.isConnected) void renderChart(root, data, layout, config);
    else drawn.delete(root);
  }
}
