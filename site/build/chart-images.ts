/**
 * Static pictures of the notebooks' Plotly charts, for the viewers that cannot run plotly.js
 * (GitHub, nbviewer, classic Jupyter Notebook): each figure drawn by headless Chromium with the
 * plotly.js bundle the site uses, in Plotly's light theme, and exported with `Plotly.toImage`.
 *
 *   node dist/site/build/cli.js chart-images < figures.json > pictures.json
 *
 * stdin: a JSON array of figures `{ data, layout }` (the notebooks' `application/vnd.plotly.v1+json`
 * outputs); stdout: a JSON array of the same length, each a base64 PNG (as nbformat stores
 * `image/png`). scripts/notebooks.py runs it after executing a notebook.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { launchChromium } from './browser.js';

/** Picture width in CSS pixels: about the width of a notebook cell on GitHub. */
export const PICTURE_WIDTH = 760;
/** Device pixels per CSS pixel: sharp on high-density screens, still a few tens of KB. */
const SCALE = 1.25;

const require = createRequire(import.meta.url);
const PLOTLY = join(
  dirname(require.resolve('plotly.js-cartesian-dist-min/package.json')),
  'plotly-cartesian.min.js',
);

/** A Plotly figure as the notebooks store it. */
export interface Figure {
  data: unknown[];
  layout?: Record<string, unknown>;
}

/** Each figure as a base64 PNG, `PICTURE_WIDTH` wide and as tall as its layout says. */
export async function renderFigures(figures: Figure[]): Promise<string[]> {
  if (figures.length === 0) return [];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><div id="chart"></div>');
    await page.addScriptTag({ content: readFileSync(PLOTLY, 'utf8') });
    const pictures: string[] = [];
    for (const figure of figures) {
      const url = await page.evaluate(
        async ({ figure, width, scale }) => {
          const plotly = (
            window as unknown as {
              Plotly: { toImage(figure: object, options: object): Promise<string> };
            }
          ).Plotly;
          const layout: Record<string, unknown> = { ...figure.layout, width };
          const height = typeof layout['height'] === 'number' ? layout['height'] : 360;
          return plotly.toImage(
            { data: figure.data, layout },
            { format: 'png', width, height, scale },
          );
        },
        { figure, width: PICTURE_WIDTH, scale: SCALE },
      );
      const prefix = 'data:image/png;base64,';
      if (!url.startsWith(prefix))
        throw new Error(`Plotly.toImage gave no PNG: ${url.slice(0, 40)}`);
      pictures.push(url.slice(prefix.length));
    }
    return pictures;
  } finally {
    await browser.close();
  }
}

/** Reads a JSON array of figures from stdin and writes their base64 PNGs as a JSON array. */
export async function chartImagesCommand(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const figures = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Figure[];
  if (!Array.isArray(figures)) throw new Error('stdin must hold a JSON array of Plotly figures');
  process.stdout.write(JSON.stringify(await renderFigures(figures)));
}
