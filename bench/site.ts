/**
 * The docs site in headless Chromium (needs `npm run site:build` first):
 * - the landing page's time to interactive, cold cache (median of --loads runs): when its
 *   script has wired every control (`<html data-ready>`), with first contentful paint and load;
 * - JavaScript bytes per page: transferred on a cold visit of that page alone, and when visited
 *   again after the landing page (cache warm: unchanged files are revalidated, not re-sent);
 * - the MNIST demo: seconds from the first training step to > 90% test accuracy, and the end.
 *
 *   npm run bench -- site [--loads 5] [--no-demo]
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
    options: { loads: { type: 'string' }, 'no-demo': { type: 'boolean' } },
  });
  const loads = Number(values.loads ?? 5);
  const server = await serveSite(join(process.cwd(), SITE_DIR));
  const browser = await launchChromium();
  try {
    console.log(
      `site benchmark: ${server.url}, Chromium ${browser.version()} headless, this machine`,
    );
    const times = [];
    for (let i = 0; i < loads; i++) times.push(await landingTimes(browser, server.url));
    console.log(
      `landing page, cold cache, median of ${loads}: interactive ${median(times.map((t) => t.ready))} ms ` +
        `(goal < 2000), first contentful paint ${median(times.map((t) => t.fcp)).toFixed(0)} ms, ` +
        `load ${median(times.map((t) => t.load)).toFixed(0)} ms`,
    );

    console.log(
      '\nJavaScript per page: page | cold visit transferred (decoded) | revisit after the landing page, transferred',
    );
    const pages = (await readdir(SITE_DIR)).filter((f) => f.endsWith('.html')).sort();
    for (const path of pages) {
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

    if (!values['no-demo']) {
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
  } finally {
    await browser.close();
    await server.close();
  }
}
