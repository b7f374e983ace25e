/**
 * The docs site in headless Chromium (needs `npm run site:build` first):
 * - the landing page's time to interactive, cold cache (median of --loads runs): when its
 *   script has wired every control (`<html data-ready>`), with first contentful paint and load;
 * - JavaScript bytes per page: transferred on a cold visit of that page alone, and when visited
 *   again after the landing page (cache warm: unchanged files are revalidated, not re-sent);
 * - the MNIST demo: seconds from the first training step to > 90% test accuracy, and the end;
 * - the deploy page, for each model it offers (cold cache, median of --loads runs): the bytes it
 *   transfers when nobody clicks (page weight) and until its first answer (with the model), and
 *   the time to that answer: a sample photo clicked as soon as the demo is ready, from the
 *   navigation and from the click.
 *
 *   npm run bench -- site [--loads 5] [--no-demo] [--only landing,pages,mnist,deploy]
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, trainMnistDemo } from '../site/build/browser.js';
import { serveSite } from '../site/build/server.js';
import { SITE_DIR } from '../site/build/site.js';

interface Resource {
  name: string;
  transferSize: number;
  decodedBodySize: number;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/** Script bytes this page fetched: [transferred, decoded], after everything it loads settled. */
async function scriptBytes(page: Page): Promise<[number, number]> {
  await page.waitForLoadState('networkidle');
  const entries = await page.evaluate(
    () => performance.getEntriesByType('resource').map((e) => e.toJSON()) as Resource[],
  );
  const scripts = entries.filter((e) => e.name.endsWith('.js'));
  return [
    scripts.reduce((a, e) => a + e.transferSize, 0),
    scripts.reduce((a, e) => a + e.decodedBodySize, 0),
  ];
}

/** Brings every chart into view, so the page draws it (and loads plotly.js). */
async function drawAllCharts(): Promise<void> {
  for (const plot of document.querySelectorAll('.chart .plot')) {
    plot.scrollIntoView();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Bytes this page transferred so far (the document and every resource), after it settled. */
async function transferredBytes(page: Page): Promise<number> {
  await page.waitForLoadState('networkidle');
  return page.evaluate(() =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .map((e) => (e as PerformanceResourceTiming).transferSize)
      .reduce((a, b) => a + b, 0),
  );
}

/** Cold visits of the deploy page that classify its first sample photo with `model`. */
interface FirstAnswer {
  /**
   * Bytes of a visit with no click (page weight, another visit), and of a visit until its first
   * answer (with the model, the kernels and the photo).
   */
  pageBytes: number;
  answerBytes: number;
  /** ms from the navigation, and from the click, to the answer; the engine's own ms. */
  fromNavigation: number;
  fromClick: number;
  engineMs: number;
  top1: string;
}

/**
 * The deploy page's models (the values of its model choice, default first), or [''] for a page
 * that offers only one.
 */
async function deployModels(browser: Browser, url: string): Promise<string[]> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(new URL('deploy.html', url).href);
  const values = await page.$$eval('#engine-demo input[name="engine-model"]', (inputs) =>
    (inputs as HTMLInputElement[])
      .sort((a, b) => Number(b.defaultChecked) - Number(a.defaultChecked))
      .map((input) => input.value),
  );
  await context.close();
  return values.length === 0 ? [''] : values;
}

/** Bytes a cold visit of the deploy page transfers until it settles, with no click. */
async function pageWeight(browser: Browser, url: string): Promise<number> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(new URL('deploy.html', url).href, { waitUntil: 'load' });
  await page.locator('#engine-demo[data-state="idle"]').waitFor({ timeout: 60_000 });
  const bytes = await transferredBytes(page);
  await context.close();
  return bytes;
}

async function firstAnswer(browser: Browser, url: string, model: string): Promise<FirstAnswer> {
  const pageBytes = await pageWeight(browser, url);
  const context = await browser.newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(new URL('deploy.html', url).href, { waitUntil: 'load' });
  const demo = page.locator('#engine-demo');
  await page.locator('#engine-demo[data-state="idle"]').waitFor({ timeout: 60_000 });
  if (model !== '') await demo.locator(`input[name="engine-model"][value="${model}"]`).check();
  const clicked = Date.now();
  await demo.locator('button[data-sample]').first().click();
  await page.waitForFunction(
    () =>
      ['done', 'error'].includes(document.getElementById('engine-demo')?.dataset['state'] ?? ''),
    null,
    { timeout: 120_000, polling: 10 },
  );
  const answered = Date.now();
  if ((await demo.getAttribute('data-state')) !== 'done') {
    const alert = await demo.locator('.engine-classify [role="alert"]').allTextContents();
    throw new Error(`the deploy page did not classify the sample: ${alert.join(' ')}`);
  }
  const result = {
    pageBytes,
    answerBytes: await transferredBytes(page),
    fromNavigation: answered - start,
    fromClick: answered - clicked,
    engineMs: Number(await demo.getAttribute('data-engine-ms')),
    top1: (await demo.getAttribute('data-top1')) ?? '',
  };
  await context.close();
  return result;
}

/** The site's HTML pages (the top folder and docs/), relative to its root. */
async function sitePages(): Promise<string[]> {
  const html = async (dir: string) =>
    (await readdir(join(SITE_DIR, dir)).catch(() => []))
      .filter((f) => f.endsWith('.html'))
      .map((f) => (dir === '' ? f : `${dir}/${f}`));
  return [...(await html('')), ...(await html('docs'))].sort();
}

async function landingTimes(
  browser: Browser,
  url: string,
): Promise<{ ready: number; fcp: number; load: number }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('html[data-ready="true"]');
  const ready = Date.now() - start;
  const { fcp, load } = await page.evaluate(() => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { fcp: paint?.startTime ?? NaN, load: nav.loadEventEnd };
  });
  await context.close();
  return { ready, fcp, load };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      loads: { type: 'string' },
      'no-demo': { type: 'boolean' },
      only: { type: 'string' },
    },
  });
  const loads = Number(values.loads ?? 5);
  const parts = new Set((values.only ?? 'landing,pages,mnist,deploy').split(','));
  if (values['no-demo']) parts.delete('mnist');
  const server = await serveSite(join(process.cwd(), SITE_DIR));
  const browser = await launchChromium();
  try {
    console.log(
      `site benchmark: ${server.url}, Chromium ${browser.version()} headless, this machine`,
    );
    if (parts.has('landing')) {
      const times = [];
      for (let i = 0; i < loads; i++) times.push(await landingTimes(browser, server.url));
      console.log(
        `landing page, cold cache, median of ${loads}: interactive ${median(times.map((t) => t.ready))} ms ` +
          `(goal < 2000), first contentful paint ${median(times.map((t) => t.fcp)).toFixed(0)} ms, ` +
          `load ${median(times.map((t) => t.load)).toFixed(0)} ms`,
      );
    }

    if (parts.has('pages')) {
      console.log(
        '\nJavaScript per page: page | cold visit transferred (decoded) | revisit after the landing page, transferred',
      );
      for (const path of await sitePages()) {
        const cold = await browser.newContext();
        const coldPage = await cold.newPage();
        await coldPage.goto(new URL(path, server.url).href);
        await coldPage.evaluate(drawAllCharts);
        const [coldBytes, decoded] = await scriptBytes(coldPage);
        await coldPage.goto(server.url);
        await scriptBytes(coldPage);
        await coldPage.goto(new URL(path, server.url).href);
        await coldPage.evaluate(drawAllCharts);
        const [warmBytes] = await scriptBytes(coldPage);
        console.log(
          `${path.padEnd(36)} | ${kib(coldBytes).padStart(9)} (${kib(decoded)}) | ${kib(warmBytes)}`,
        );
        await cold.close();
      }
    }

    if (parts.has('mnist')) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(server.url);
      const started = Date.now();
      const demo = await trainMnistDemo(page);
      console.log(
        `\nMNIST demo (${demo.state}): > 90% test accuracy after ${demo.secondsTo90 ?? 'never'} s of ` +
          `training; final test accuracy ${(100 * demo.testAccuracy).toFixed(1)}% ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s after the click (includes loading tfjs and the data)`,
      );
      await context.close();
    }

    if (parts.has('deploy')) {
      console.log(
        `\nDeploy page, first answer (a sample photo clicked as soon as the demo is ready), cold cache, median of ${loads}:` +
          '\nmodel | page weight (no click) | transferred until the answer | ms from navigation | ms from click | engine ms | top-1',
      );
      for (const model of await deployModels(browser, server.url)) {
        const runs: FirstAnswer[] = [];
        for (let i = 0; i < loads; i++) runs.push(await firstAnswer(browser, server.url, model));
        const mid = (
          key: 'pageBytes' | 'answerBytes' | 'fromNavigation' | 'fromClick' | 'engineMs',
        ) => median(runs.map((r) => r[key]));
        console.log(
          `${(model || 'the only model').padEnd(20)} | ${kib(mid('pageBytes')).padStart(9)} | ` +
            `${kib(mid('answerBytes')).padStart(9)} | ${mid('fromNavigation').toFixed(0).padStart(6)} | ` +
            `${mid('fromClick').toFixed(0).padStart(6)} | ${mid('engineMs').toFixed(1).padStart(6)} | ` +
            (runs[0]?.top1 ?? ''),
        );
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
}
