/**
 * The built site (site/dist, `npm run site:build`) in headless Chromium (Debian's
 * /usr/bin/chromium, driven by playwright-core), served locally with the cross-origin isolation
 * headers: every page loads cleanly, its charts render, every runnable cell runs, the MNIST
 * demo learns, the deploy page's engine classifies photos as `bireal infer` does in Node (with
 * the 224 px model by default, the small one a click away) and measures its speed, the pages of
 * docs/ are in the navigation and the search, keyboard use and an axe accessibility check pass.
 * Screenshots of every page go to runs/site-screenshots/ (ignored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { loadEvalImage } from '../../src/data/decode.js';
import { PackedNet, type Prediction } from '../../src/engine/runtime.js';
import { launchChromium, measureEngineSpeed, trainMnistDemo } from '../build/browser.js';
import { docPages } from '../build/docs.js';
import { DEPLOY_MODELS, type EngineSample } from '../build/engine-assets.js';
import { serveSite, type RunningServer } from '../build/server.js';
import { SITE_DIR } from '../build/site.js';

const SCREENSHOTS = 'runs/site-screenshots';

let server: RunningServer;
let browser: Browser;

const DESKTOP = { width: 1280, height: 900 };
/** A phone: its viewport, and touch (no hover, so charts hide their toolbar). */
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/**
 * A page whose console errors, page errors and failed requests are recorded; at desktop size
 * unless `device` says otherwise.
 */
async function openPage(
  path: string,
  device: BrowserContextOptions = { viewport: DESKTOP },
): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext(device);
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

const docsPages = (await readdir(join(SITE_DIR, 'docs')).catch(() => [] as string[]))
  .filter((f) => f.endsWith('.html'))
  .map((f) => `docs/${f}`)
  .sort();
const apiPages = (await readdir(join(SITE_DIR, 'api')).catch(() => [] as string[]))
  .filter((f) => f.endsWith('.html'))
  .map((f) => `api/${f}`)
  .sort();
const pages = [
  ...(await readdir(SITE_DIR)).filter((f) => f.endsWith('.html')).sort(),
  ...docsPages,
  ...apiPages,
];
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

/** Waits until every chart of `page` is drawn (they draw when scrolled near); returns how many. */
async function drawCharts(page: Page): Promise<number> {
  const plots = await page.locator('.chart .plot').all();
  for (const plot of plots) {
    await plot.scrollIntoViewIfNeeded();
    await plot.locator('.main-svg').first().waitFor({ timeout: 30_000 });
  }
  assert.equal(await page.locator('.chart .plot[data-rendered="true"]').count(), plots.length);
  return plots.length;
}

/**
 * What a reader sees that is wrong on `page` as it is now: escaped HTML tags in prose and outputs
 * (code is left out, where tags are strings, e.g. Plotly's <br>), a page wider than the window,
 * chart titles, axis titles, headings and legends that overlap or stick out of their chart,
 * a mean ± spread broken over lines.
 */
async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const copy = document.body.cloneNode(true) as HTMLElement;
    for (const hidden of copy.querySelectorAll('pre, code, .cm-editor, noscript, script, style'))
      hidden.remove();
    const tag = /<\/?(details|summary|div|span|b|i|p|br)\b[^>]*>/.exec(copy.textContent ?? '');
    if (tag) problems.push(`escaped HTML in the text: ${tag[0]}`);
    const width = document.documentElement.scrollWidth;
    if (width > innerWidth)
      problems.push(`the page is ${width} px wide in a ${innerWidth} px window`);
    document.querySelectorAll('.chart .plot').forEach((plot, i) => {
      const chart = plot.getBoundingClientRect();
      const labels = [
        ...plot.querySelectorAll(
          '.gtitle, .legend, .annotation, [class^="g-"][class$="title"]:not(.g-gtitle)',
        ),
      ]
        .map((e) => ({ name: e.getAttribute('class') ?? '', box: e.getBoundingClientRect() }))
        .filter(({ box }) => box.width > 0 && box.height > 0);
      labels.forEach(({ name, box }, j) => {
        if (box.left < chart.left - 1 || box.right > chart.right + 1)
          problems.push(`chart ${i}: ${name} sticks out of the chart`);
        for (const other of labels.slice(j + 1)) {
          const x = Math.min(box.right, other.box.right) - Math.max(box.left, other.box.left);
          const y = Math.min(box.bottom, other.box.bottom) - Math.max(box.top, other.box.top);
          if (x > 1 && y > 1) problems.push(`chart ${i}: ${name} overlaps ${other.name}`);
        }
      });
    });
    for (const cell of document.querySelectorAll('td')) {
      const text = cell.firstChild;
      const at = text?.textContent?.search(/\d.±.\d/) ?? -1;
      if (text?.nodeType !== Node.TEXT_NODE || at < 0) continue;
      const range = document.createRange();
      range.setStart(text, at);
      range.setEnd(text, at + 4);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) problems.push(`"${cell.textContent}" breaks over lines`);
    }
    return problems;
  });
}

describe('every page', () => {
  for (const path of pages) {
    test(`${path}: loads without errors, draws its charts, passes axe`, async () => {
      const { page, problems } = await openPage(path);
      await drawCharts(page);
      assert.deepEqual(await layoutProblems(page), []);
      await page.screenshot({
        path: join(SCREENSHOTS, path.replace(/\//g, '_') + '.png'),
        fullPage: true,
      });
      const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      const violations = axe.violations.map(
        (v) => `${v.id} (${v.impact}): ${v.nodes[0]?.target.join(' ')}`,
      );
      assert.deepEqual(problems, []);
      assert.deepEqual(violations, []);
      await page.context().close();
    });

    test(`${path} on a phone: nothing wider than the screen, charts and tables readable`, async () => {
      const { page, problems } = await openPage(path, PHONE);
      const charts = await drawCharts(page);
      assert.deepEqual(await layoutProblems(page), []);
      assert.equal(
        await page.locator('.modebar').count(),
        0,
        'no chart toolbar over the titles on touch screens',
      );
      if (charts > 0 || path === 'index.html')
        await page.screenshot({
          path: join(SCREENSHOTS, path.replace(/\//g, '_') + '-phone.png'),
          fullPage: true,
        });
      assert.deepEqual(problems, []);
      await page.context().close();
    });
  }
});

describe('the server', () => {
  test('answers odd request targets and stays up', async () => {
    const { origin } = new URL(server.url);
    const status = (target: string) =>
      new Promise<number>((resolve, reject) => {
        request(`${origin}${target}`, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    assert.equal(await status('//'), 404); // outside the served sub-path
    assert.equal(await status('//a/sub-path/index.html'), 200);
    assert.equal(await status('/a/sub-path/no-such-page.html'), 404);
    assert.equal(await status('/a/sub-path/'), 200);
  });
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

describe('editing a cell', () => {
  test('the edited code runs (TypeScript compiled in the page); Reset brings the original back', async () => {
    const { page, problems } = await openPage('01-binarization.html');
    const cell = page.locator('section.cell[data-cell="0"]');
    const editor = cell.locator('.cm-content');
    await editor.waitFor();
    assert.equal(await editor.getAttribute('aria-label'), 'Code of cell 1, editable');
    const original = await editor.innerText();
    const stored = await cell.locator('.outputs').innerText();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('const answer: number = 6 * 7;\nconsole.log(`edited: ${answer}`);');
    await page.keyboard.press('Control+Enter'); // runs the cell, as its Run button does
    await page.waitForFunction(
      () =>
        ['done', 'error'].includes(
          document.querySelector('section.cell[data-cell="0"]')?.getAttribute('data-state') ?? '',
        ),
      null,
      { timeout: 120_000 },
    );
    assert.equal(await cell.getAttribute('data-state'), 'done');
    assert.equal((await cell.locator('.outputs').innerText()).trim(), 'edited: 42');

    await cell.locator('[data-action="reset"]').click();
    assert.equal(await editor.innerText(), original);
    assert.equal(await cell.locator('.outputs').innerText(), stored);
    assert.equal(await cell.locator('.outputs[data-stored]').count(), 1);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('cells that replay recorded runs say so, and how to train them', async () => {
    const { page } = await openPage('06-ablations.html');
    const note = page.locator('.cell-note[data-replays~="grid-imagenette"]');
    assert.equal(await note.count(), 1);
    assert.match(
      (await note.textContent()) ?? '',
      /Replays recorded runs.*npx bireal experiment grid-imagenette/s,
    );
    await page.context().close();
  });
});

describe('search', () => {
  test('on a phone: the list stays on the screen; punctuation kept; each hit once; the API reference found', async () => {
    const { page } = await openPage('06-ablations.html', PHONE);
    const search = async (query: string) => {
      await page.locator('#search-input').fill(query);
      await page.locator('#search-results a').first().waitFor();
      return page.$$eval('#search-results a', (as) =>
        as.map((a) => ({
          href: (a as HTMLAnchorElement).href,
          title: a.firstChild?.textContent ?? '',
          page: a.querySelector('.search-page')?.textContent,
        })),
      );
    };
    const hits = await search("library's own gradients");
    assert.match(hits[0]?.title ?? '', /library's own gradients/);
    assert.equal(new Set(hits.map((h) => h.href)).size, hits.length, 'no hit twice');
    assert.deepEqual(
      hits.filter((h) => h.title === h.page),
      [],
      'a whole-page hit names its page once',
    );
    const box = await page.locator('#search-results').boundingBox();
    const viewport = page.viewportSize();
    assert.ok(box && viewport);
    assert.ok(box.x >= 0 && box.x + box.width <= viewport.width, `list x ${box.x} + ${box.width}`);
    assert.ok(box.y + box.height <= viewport.height, `list bottom ${box.y + box.height}`);
    const api = await search('binarizeActivation');
    assert.ok(
      api.some((h) => h.href.endsWith('/api/index.html#binarizeActivation')),
      api.map((h) => h.href).join(' '),
    );
    await page.context().close();
  });
});

describe('API reference', () => {
  const read = (path: string) => readFile(join(SITE_DIR, path), 'utf8');
  const ids = (html: string) => new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));

  test("its pages have the site's header, search and theme; every parameter has a description", async () => {
    assert.deepEqual(apiPages, ['api/index.html', 'api/notebook.html']);
    for (const path of apiPages) {
      const { page } = await openPage(path);
      for (const selector of ['.site-header', '#search-input', '.theme-toggle', '#site-nav'])
        assert.equal(await page.locator(selector).count(), 1, `${path}: ${selector}`);
      const params = await page.$$eval('.api-params li', (items) =>
        items.map((li) => [
          li.querySelector('code')?.textContent,
          li.querySelector('.api-doc')?.textContent?.trim() ?? '',
        ]),
      );
      assert.ok(params.length > 0, path);
      assert.deepEqual(
        params.filter(([, doc]) => doc === ''),
        [],
        `${path}: parameters without a description`,
      );
      await page.context().close();
    }
  });

  test('notebook sections link to the exports they use, and the exports back to them', async () => {
    const api = new Map(
      await Promise.all(apiPages.map(async (p) => [p, ids(await read(p))] as const)),
    );
    let links = 0;
    for (const path of notebookPages) {
      const html = await read(path);
      for (const [, page, id] of html.matchAll(/href="(api\/[a-z]+\.html)#([^"]+)"/g)) {
        assert.ok(api.get(page as string)?.has(id), `${path}: ${page}#${id}`);
        links++;
      }
    }
    assert.ok(links > 20, `${links} links from the notebooks to the API reference`);
    const back = [
      ...(await read('api/index.html')).matchAll(/href="\.\.\/(\d\d-[a-z-]+\.html)#([^"]+)"/g),
    ];
    assert.ok(back.length > 10, `${back.length} links from the API reference to the notebooks`);
    for (const [, page, id] of back)
      assert.ok(ids(await read(page as string)).has(id), `${page}#${id}`);
    const binarize = (await read('api/index.html'))
      .split('id="binarizeActivation"')[1]
      ?.split('<h3')[0];
    assert.match(binarize ?? '', /href="\.\.\/02-approx-sign\.html#/);
  });
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

  test("the tutorials' summaries are whole sentences; the results' downloads are links to files", async () => {
    const { page } = await openPage('index.html');
    const summaries = await page.$$eval('main li:has(> a[href$=".html"])', (items) =>
      items
        .filter((li) =>
          /^\d\d-/.test(li.querySelector('a')?.getAttribute('href')?.replace('./', '') ?? ''),
        )
        .map((li) => li.textContent?.trim() ?? ''),
    );
    assert.equal(summaries.length, notebookPages.length);
    for (const summary of summaries) assert.match(summary, /[.!?)]$/, summary);
    const downloads = await page.$$eval('main td a[href$=".bireal"]', (as) =>
      as.map((a) => (a as HTMLAnchorElement).href),
    );
    assert.ok(downloads.length > 0, 'the results tables link their deploy files');
    for (const url of downloads) assert.equal((await page.request.get(url)).status(), 200, url);
    await page.context().close();
  });

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

  test("charts follow the system's colour scheme when it changes while the page is open", async () => {
    const { page } = await openPage(notebookPages[0] as string);
    const plot = page.locator('.chart .plot').first();
    await plot.scrollIntoViewIfNeeded();
    await plot.locator('.main-svg').first().waitFor({ timeout: 30_000 });
    const textColour = () =>
      plot.evaluate((element) => getComputedStyle(element.querySelector('.main-svg text')!).fill);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.waitForTimeout(300);
    const light = await textColour();
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(300);
    assert.notEqual(await textColour(), light, 'the chart re-themes with the system');
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

/** The top 5 of `bireal infer` for an image file: the same preprocessing, in Node. */
async function inferInNode(net: PackedNet, path: string): Promise<Prediction[]> {
  return net.top(net.run(await loadEvalImage(path, net.header.preprocessing)), 5);
}

/** The WCAG A/AA violations axe finds on `page` as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  return axe.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes[0]?.target.join(' ')}`);
}

/** What the engine demo shows after a classification. */
async function browserResult(page: Page): Promise<{ top: [string, number][]; ms: number }> {
  await page.waitForFunction(
    () =>
      ['done', 'error'].includes(document.getElementById('engine-demo')?.dataset['state'] ?? ''),
    null,
    { timeout: 30_000 },
  );
  const demo = page.locator('#engine-demo');
  assert.equal(
    await demo.getAttribute('data-state'),
    'done',
    (await demo.locator('.engine-classify [role="alert"]').allTextContents()).join(' '),
  );
  const top = await page.$$eval('#engine-demo .engine-top li', (items) =>
    items.map((li): [string, number] => [
      li.getAttribute('data-label') ?? '',
      Number.parseFloat(li.querySelector('.engine-top-p')?.textContent ?? '') / 100,
    ]),
  );
  return { top, ms: Number(await demo.getAttribute('data-engine-ms')) };
}

/** Node's top-1 is clearly ahead of its second class (resampling differences cannot swap them). */
const confident = (p: Prediction[]) => (p[0]?.probability ?? 0) - (p[1]?.probability ?? 0) > 0.1;

describe('deploy page', () => {
  const assets = join(SITE_DIR, 'assets');
  let net: PackedNet;
  let samples: EngineSample[] = [];

  /** The deploy files the page offers, under assets/: the default (224 px) first. */
  const modelFiles = DEPLOY_MODELS.map((m) => `models/${basename(m.file)}`);
  let small: PackedNet;

  before(async () => {
    const models = await readdir(join(assets, 'models'));
    for (const file of modelFiles) {
      assert.ok(models.includes(basename(file)), `the build copied ${file} to assets/`);
    }
    net = await PackedNet.load(await readFile(join(assets, modelFiles[0] as string)));
    small = await PackedNet.load(await readFile(join(assets, modelFiles[1] as string)));
    samples = await readFile(join(assets, 'samples', 'samples.json'), 'utf8').then(
      (json) => JSON.parse(json) as EngineSample[],
      () => [],
    );
  });

  test('the engine classifies the sample photos as bireal infer does in Node', async (t) => {
    if (samples.length === 0) {
      t.skip('no sample photos in this build (the Imagenette cache is missing)');
      return;
    }
    const { page, problems } = await openPage('deploy.html');
    let compared = 0;
    for (const sample of samples) {
      const node = await inferInNode(net, join(assets, sample.file));
      await page.locator(`#engine-demo button[data-sample="${sample.file}"]`).click();
      const { top, ms } = await browserResult(page);
      assert.equal(top.length, 5, sample.file);
      assert.ok(Number.isFinite(ms) && ms > 0, `engine time ${ms}`);
      const nodeTop = node[0] as Prediction;
      const label = top[0]?.[0];
      // Canvas and libvips resample slightly differently, and a 1-bit net's probabilities
      // move with such small changes: compare the classes where Node's top-1 is clearly ahead.
      if (confident(node)) {
        assert.equal(
          label,
          nodeTop.label,
          `${sample.file}: browser ${label}, Node ${nodeTop.label}`,
        );
        compared++;
      }
    }
    assert.ok(compared >= samples.length / 2, `only ${compared} samples with a clear top-1`);
    assert.equal(
      await page.locator('#engine-demo').getAttribute('data-top1'),
      await page.locator('#engine-demo .engine-top li').first().getAttribute('data-label'),
    );
    await page.screenshot({ path: join(SCREENSHOTS, 'deploy-classified.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#engine-demo .engine-result').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, 'deploy-phone-dark.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('the 224 px full-width model answers by default; the small model is one click away', async (t) => {
    assert.equal(net.header.preprocessing.size, 224);
    assert.equal(net.header.modelOptions['width'], 1);
    assert.equal(small.header.preprocessing.size, 64);
    const { page, problems } = await openPage('deploy.html');
    const demo = page.locator('#engine-demo');
    await page.locator('#engine-demo[data-state="idle"]').waitFor({ timeout: 30_000 });
    const choice = (file: string | undefined) =>
      demo.locator(`input[name="engine-model"][value="${file}"]`);
    const defaultChoice = choice(modelFiles[0]);
    const smallChoice = choice(modelFiles[1]);
    assert.equal(await defaultChoice.isChecked(), true, 'the 224 px model is chosen at first');
    assert.equal(await smallChoice.isChecked(), false);
    assert.equal(await demo.getAttribute('data-model'), modelFiles[0]);
    const facts = demo.locator('.engine-facts:visible');
    assert.equal(await facts.count(), 1, "one model's facts at a time");
    assert.match((await facts.textContent()) ?? '', /224 × 224 pixels.*73\.8% top-1/s);
    assert.match((await facts.textContent()) ?? '', /not the paper's recipe/);

    const fetched: string[] = [];
    page.on('request', (r) => void (r.url().endsWith('.bireal') && fetched.push(r.url())));
    if (samples.length === 0) {
      t.skip('no sample photos in this build (the Imagenette cache is missing)');
      await page.context().close();
      return;
    }
    const sample = samples[0] as EngineSample;
    await demo.locator(`button[data-sample="${sample.file}"]`).click();
    await browserResult(page);
    assert.equal(await demo.getAttribute('data-answer-model'), modelFiles[0]);
    assert.match((await demo.locator('.engine-time').textContent()) ?? '', /224 × 224 px/);
    assert.deepEqual(
      fetched.map((url) => url.split('/').at(-1)),
      [basename(modelFiles[0] as string)],
      'only the default model is downloaded',
    );

    // One click: the small model classifies the same photo again.
    await smallChoice.check();
    await page.waitForFunction(
      (file) => {
        const root = document.getElementById('engine-demo');
        return root?.dataset['answerModel'] === file && root?.dataset['state'] === 'done';
      },
      modelFiles[1],
      { timeout: 30_000 },
    );
    assert.equal(await demo.getAttribute('data-model'), modelFiles[1]);
    assert.match((await facts.textContent()) ?? '', /64 × 64 pixels.*63\.7% top-1/s);
    const { top } = await browserResult(page);
    const node = await inferInNode(small, join(assets, sample.file));
    if (confident(node)) assert.equal(top[0]?.[0], node[0]?.label);
    assert.match((await demo.locator('.engine-time').textContent()) ?? '', /64 × 64 px/);
    assert.equal(fetched.length, 2);
    await page.screenshot({ path: join(SCREENSHOTS, 'deploy-small-model.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  test('a photo chosen with the file input is classified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bireal-deploy-'));
    try {
      // A landscape PNG (another decoder and resize path than the square JPEG samples).
      const photo = join(dir, 'photo.png');
      const source = samples[0] === undefined ? undefined : join(assets, samples[0].file);
      await (
        source === undefined
          ? sharp({ create: { width: 300, height: 200, channels: 3, background: '#3080c0' } })
          : sharp(source).resize(300, 200, { fit: 'fill' })
      )
        .png()
        .toFile(photo);
      const node = await inferInNode(net, photo);
      const { page, problems } = await openPage('deploy.html');
      await page.locator('#engine-file').setInputFiles(photo);
      const { top } = await browserResult(page);
      assert.equal(top.length, 5);
      assert.ok(top.every(([, p]) => p >= 0 && p <= 1));
      if (confident(node)) assert.equal(top[0]?.[0], node[0]?.label);
      assert.match(
        (await page.locator('#engine-demo .engine-status').textContent()) ?? '',
        /Top guess: .+ Engine time \d/,
      );
      assert.equal(await page.locator('#engine-demo .engine-photo img').count(), 1);
      assert.deepEqual(problems, []);
      await page.context().close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('its links lead to files of the site, and to anchors on them', async () => {
    const { page } = await openPage('deploy.html');
    const links = await page.$$eval('main a[href]', (as) =>
      as.map((a) => (a as HTMLAnchorElement).href),
    );
    const local = [...new Set(links)].filter((url) => url.startsWith(server.url));
    assert.ok(local.length >= 3, `links: ${local.join(' ')}`);
    for (const url of local) {
      const [file, hash] = url.split('#') as [string, string | undefined];
      const response = await page.request.get(file);
      assert.equal(response.status(), 200, url);
      if (hash !== undefined) assert.ok((await response.text()).includes(` id="${hash}"`), url);
    }
    await page.context().close();
  });

  test('the speed measurement completes: engine, float-emulated and real ResNet, tfjs and ONNX Runtime', async () => {
    const { page, problems } = await openPage('deploy.html');
    const report = await measureEngineSpeed(page, { runs: 3 });
    for (const key of [
      'engineMs',
      'emulatedMs',
      'realMs',
      'binaryOpsPerSecond',
      'popcountPeak',
    ] as const) {
      assert.ok(Number.isFinite(report[key]) && report[key] > 0, `${key}: ${report[key]}`);
    }
    assert.equal(report.inputSize, 224);
    assert.equal(report.classes, 1000);
    assert.match(report.backend, /1 thread/);
    assert.match(report.onnx?.runtime ?? '', /^onnxruntime-web .*wasm SIMD, 1 thread/);
    for (const ms of [report.onnx?.realMs, report.onnx?.emulatedMs]) {
      assert.ok(ms !== undefined && Number.isFinite(ms) && ms > 0, `ONNX Runtime: ${ms} ms`);
    }
    assert.ok(report.ops.length > 0 && report.ops.every((op) => op.ms >= 0));
    const demo = page.locator('#engine-demo');
    assert.equal(await demo.locator('.engine-speed-table tbody tr').count(), 5);
    await demo.locator('.engine-plot[data-rendered="true"]').waitFor({ timeout: 30_000 });
    await demo.locator('.engine-speed-result').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, 'deploy-speed.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), []);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(500); // the chart follows the new width
    await page.screenshot({
      path: join(SCREENSHOTS, 'deploy-speed-phone-dark.png'),
      fullPage: true,
    });
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});

describe('docs pages', () => {
  test('every markdown page of docs/ is a page of the site, in the navigation of every page', async () => {
    const docs = await docPages();
    assert.ok(docs.length >= 5, `docs pages: ${docs.map((d) => d.slug).join(' ')}`);
    assert.deepEqual(docs.map((d) => d.path).sort(), docsPages);
    for (const path of ['index.html', 'deploy.html', docs[0]?.path as string]) {
      const { page, problems } = await openPage(path);
      for (const doc of docs) {
        const link = page.locator(`#site-nav a[href$="${doc.path}"]`);
        assert.equal(await link.count(), 1, `${path}: a navigation link to ${doc.path}`);
        assert.equal((await link.textContent())?.trim(), doc.title);
        assert.equal(
          new URL((await link.getAttribute('href')) as string, page.url()).href,
          new URL(doc.path, server.url).href,
        );
      }
      assert.deepEqual(problems, []);
      await page.context().close();
    }
  });

  test('their links lead to pages and files of the site, none to markdown', async () => {
    for (const path of docsPages) {
      const { page, problems } = await openPage(path);
      assert.equal(await page.locator('main h1').count(), 1, path);
      const links = await page.$$eval('main a[href], #site-nav a[href]', (as) =>
        as.map((a) => (a as HTMLAnchorElement).href),
      );
      for (const url of links.filter((u) => u.startsWith(server.url))) {
        assert.doesNotMatch(url, /\.md(#|$)/, `${path}: ${url}`);
        const [file, hash] = url.split('#') as [string, string | undefined];
        assert.equal((await page.request.get(file)).status(), 200, `${path}: ${url}`);
        if (hash !== undefined && file === page.url().split('#')[0]) {
          assert.equal(await page.locator(`[id="${hash}"]`).count(), 1, `${path}: #${hash}`);
        }
      }
      assert.deepEqual(problems, []);
      await page.context().close();
    }
  });

  test('the search finds them', async () => {
    const { page } = await openPage('index.html');
    await page.locator('#search-input').fill('VPOPCNTQ');
    await page.locator('#search-results a').first().waitFor();
    const hits = await page.$$eval('#search-results a', (as) =>
      as.map((a) => (a as HTMLAnchorElement).href),
    );
    assert.ok(
      hits.some((url) => url.includes('/docs/engine.html')),
      `hits: ${hits.join(' ')}`,
    );
    const target = hits.find((url) => url.includes('/docs/')) as string;
    await page.goto(target);
    assert.equal((await page.request.get(target.split('#')[0] as string)).status(), 200);
    await page.context().close();
  });
});
