/**
 * The built site (site/dist, `npm run site:build`) in headless Chromium (Debian's
 * /usr/bin/chromium, driven by playwright-core), served locally with the cross-origin isolation
 * headers: every page loads cleanly, its charts render, every runnable cell runs, the MNIST
 * demo learns, keyboard use and an axe accessibility check pass. Screenshots of every page go
 * to runs/site-screenshots/ (ignored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, trainMnistDemo } from '../build/browser.js';
import { serveSite, type RunningServer } from '../build/server.js';
import { SITE_DIR } from '../build/site.js';

const SCREENSHOTS = 'runs/site-screenshots';

let server: RunningServer;
let browser: Browser;

/** A page whose console errors, page errors and failed requests are recorded. */
async function openPage(path: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) =>
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
  );
  page.on(
    'response',
    (r) => void (r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`)),
  );
  await page.goto(new URL(path, server.url).href, { waitUntil: 'load' });
  return { page, problems };
}

const pages = (await readdir(SITE_DIR)).filter((f) => f.endsWith('.html')).sort();
const notebookPages = pages.filter((p) => /^\d\d-/.test(p));

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  server = await serveSite(join(process.cwd(), SITE_DIR), 0, '/a/sub-path/'); // as on a project page
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

describe('every page', () => {
  for (const path of [...pages, 'api/index.html']) {
    test(`${path}: loads without errors, draws its charts, passes axe`, async () => {
      const { page, problems } = await openPage(path);
      const charts = await page.locator('.chart .plot').count();
      for (const plot of await page.locator('.chart .plot').all()) {
        await plot.scrollIntoViewIfNeeded();
        await plot.locator('.main-svg').first().waitFor({ timeout: 30_000 });
      }
      assert.equal(await page.locator('.chart .plot[data-rendered="true"]').count(), charts);
      await page.screenshot({
        path: join(SCREENSHOTS, path.replace(/\//g, '_') + '.png'),
        fullPage: true,
      });
      let checker = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']);
      // TypeDoc's script builds its sidebar tree with a link inside each <summary>
      // (nested-interactive); the theme offers no other markup. Everything else is checked.
      if (path.startsWith('api/')) checker = checker.exclude('#tsd-nav-container');
      const axe = await checker.analyze();
      const violations = axe.violations.map(
        (v) => `${v.id} (${v.impact}): ${v.nodes[0]?.target.join(' ')}`,
      );
      assert.deepEqual(problems, []);
      assert.deepEqual(violations, []);
      await page.context().close();
    });
  }
});

describe('code cells', () => {
  for (const path of notebookPages) {
    test(`${path}: every runnable cell runs in the browser`, { timeout: 600_000 }, async () => {
      const { page, problems } = await openPage(path);
      const runnable = page.locator('section.cell:not([data-node])');
      const count = await runnable.count();
      assert.ok(count > 0, 'the page has runnable cells');
      await page.locator('[data-action="run-all"]').click();
      await page.waitForFunction(
        () => {
          const cells = [...document.querySelectorAll('section.cell:not([data-node])')];
          return (
            cells.some((c) => c.getAttribute('data-state') === 'error') ||
            cells.every((c) => c.getAttribute('data-state') === 'done')
          );
        },
        null,
        { timeout: 590_000, polling: 500 },
      );
      const failed = await page.$$eval('section.cell[data-state="error"]', (cells) =>
        cells.map(
          (c) => `cell ${c.getAttribute('data-cell')}: ${c.querySelector('.stderr')?.textContent}`,
        ),
      );
      assert.deepEqual(failed, []);
      assert.deepEqual(problems, []);
      await page.screenshot({
        path: join(SCREENSHOTS, path.replace('.html', '-ran.png')),
        fullPage: true,
      });
      await page.context().close();
    });
  }
});

describe('landing page', () => {
  test(
    'the MNIST demo trains a Bi-Real net past 90% test accuracy',
    { timeout: 600_000 },
    async () => {
      const { page, problems } = await openPage('index.html');
      const demo = await trainMnistDemo(page);
      assert.equal(demo.state, 'done', demo.alert);
      assert.ok(demo.testAccuracy > 0.9, `test accuracy ${demo.testAccuracy}`);
      await page.locator('#mnist-demo .mnist-sizes').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SCREENSHOTS, 'index-demo-trained.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await page.context().close();
    },
  );

  test('keyboard: skip link, search with arrows and Enter, theme toggle', async () => {
    const { page } = await openPage('index.html');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'content');

    await page.locator('#search-input').focus();
    await page.keyboard.type('approxsign');
    await page.locator('#search-results a').first().waitFor();
    await page.keyboard.press('ArrowDown');
    const target = await page.evaluate(() => (document.activeElement as HTMLAnchorElement).href);
    await page.keyboard.press('Enter');
    await page.waitForURL(target);

    await page.locator('.theme-toggle').focus();
    const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.keyboard.press('Enter');
    const after = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(after, before, 'the theme toggle changes the colours');
    await page.context().close();
  });

  test('narrow screens: the navigation opens from the Menu button', async () => {
    const { page } = await openPage('01-binarization.html');
    await page.setViewportSize({ width: 390, height: 800 });
    assert.equal(await page.locator('#site-nav').isVisible(), false);
    await page.locator('.menu-toggle').click();
    assert.equal(await page.locator('#site-nav').isVisible(), true);
    await page.screenshot({ path: join(SCREENSHOTS, 'mobile-menu.png') });
    await page.context().close();
  });
});
