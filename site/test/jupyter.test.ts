/**
 * The notebooks as a person opens them: `npm run notebook` (scripts/notebook.sh) starts Jupyter
 * Notebook with the project's TypeScript kernel; Chromium opens notebook 01, runs its first
 * cells with the keyboard, and sees the kernel's output and a live Plotly chart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../build/browser.js';

const SCREENSHOTS = 'runs/site-screenshots';

/** A loopback port no one listens on (now). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

let server: ChildProcess | undefined;
let browser: Browser | undefined;
let base = '';
let log = '';
const token = randomBytes(16).toString('hex');

before(async () => {
  const port = await freePort();
  server = spawn('bash', ['scripts/notebook.sh'], {
    env: { ...process.env, PORT: String(port), JUPYTER_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the kernels stop with it
  });
  server.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await fetch(`${base}/api/status?token=${token}`).catch(() => undefined);
    if (answer?.ok) break;
    if (server.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Jupyter Notebook did not start on ${base}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.match(log, new RegExp(`open http://127\\.0\\.0\\.1:${port}/tree\\?token=${token}`));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
});

test(
  'notebook 01 runs in Jupyter Notebook: kernel output and a live chart',
  { timeout: 300_000 },
  async () => {
    assert.ok(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const notebook = 'notebooks/01-binarization.ipynb';
    const committed = await readFile(notebook, 'utf8');
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Jupyter's own page logs console errors of its own (a widgets script it probes for, fonts):
    // they are reported on failure, and only uncaught exceptions fail the test.
    const consoleErrors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
    await page.goto(`${base}/${notebook}?token=${token}`);
    await page.waitForFunction(
      () => {
        const jupyter = (
          window as unknown as { Jupyter?: { notebook?: { kernel?: { info_reply?: object } } } }
        ).Jupyter;
        return jupyter?.notebook?.kernel?.info_reply !== undefined;
      },
      undefined,
      { timeout: 120_000 },
    );
    assert.match(await page.locator('.kernel_indicator_name').innerText(), /TypeScript/);
    // The notebook is the committed file: never autosave this session's outputs into it.
    await page.evaluate(() =>
      (
        window as unknown as { Jupyter: { notebook: { set_autosave_interval(ms: number): void } } }
      ).Jupyter.notebook.set_autosave_interval(0),
    );
    // As a person would: clear the stored outputs (Cell menu), select the first code cell, and run
    // it and the cells after it with Shift+Enter up to the first chart.
    await page.click('#celllink');
    await page.hover('#all_outputs');
    await page.click('#clear_all_output');
    const cells = page.locator('#notebook-container .cell');
    assert.equal(await cells.nth(7).locator('.output_subarea').count(), 0);
    await cells.nth(1).locator('.input_prompt').click();
    for (let i = 1; i <= 7; i++) await page.keyboard.press('Shift+Enter');
    const printed = cells.nth(1).locator('.output_stdout');
    await printed.filter({ hasText: 'backend:' }).waitFor({ timeout: 180_000 });
    assert.match(await printed.innerText(), /backend: wasm .*; mode: (full|quick)/);
    const stderr = await cells.nth(1).locator('.output_stderr').allInnerTexts();
    assert.deepEqual(stderr, [], `the first cell wrote to stderr: ${stderr.join('\n')}`);
    const chart = cells.nth(7).locator('.output_plotly .main-svg').first();
    await chart.waitFor({ timeout: 180_000 }).catch(async (error: unknown) => {
      await mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, 'jupyter-01-failed.png'), fullPage: true });
      const output = await cells.nth(7).locator('.output').innerHTML();
      throw new Error(
        `no chart under cell 7 (${String(error)}); its output: ${output.slice(0, 2000)}; ` +
          `page errors: ${[...errors, ...consoleErrors].join('\n')}`,
      );
    });
    assert.ok(((await chart.boundingBox())?.width ?? 0) > 300, 'the chart has its width');
    await mkdir(SCREENSHOTS, { recursive: true });
    await cells.nth(7).screenshot({ path: join(SCREENSHOTS, 'jupyter-01-chart.png') });
    assert.deepEqual(errors, []);
    assert.equal(
      await readFile(notebook, 'utf8'),
      committed,
      `${notebook} was changed by the session`,
    );
  },
);
