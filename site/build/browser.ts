/**
 * Headless Chromium for the site's tests and benchmark: Debian's /usr/bin/chromium (env CHROMIUM
 * overrides it), driven by playwright-core, with the flags a closed network and a root user need.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SpeedReport } from '../../src/engine/speed.js';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  const executablePath = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
  return chromium.launch({ executablePath, args: ARGS }).catch((error: unknown) => {
    throw new Error(
      `cannot start Chromium at ${executablePath} (install Debian's chromium: bash scripts/setup.sh): ${String(error)}`,
    );
  });
}

/** What the landing page's MNIST demo reports when it has finished (see site/client/mnist-demo.ts). */
export interface DemoOutcome {
  state: string;
  testAccuracy: number;
  secondsTo90: number | undefined;
  alert: string;
}

/** Presses the MNIST demo's Train button on `page` (the landing page) and waits until it ends. */
export async function trainMnistDemo(page: Page): Promise<DemoOutcome> {
  const demo = page.locator('#mnist-demo');
  await demo.locator('[data-action="train"]').click();
  await page.waitForFunction(
    () =>
      ['done', 'stopped', 'error'].includes(
        document.getElementById('mnist-demo')?.dataset['state'] ?? '',
      ),
    null,
    { timeout: 590_000, polling: 500 },
  );
  const [state, accuracy, to90] = await Promise.all(
    ['data-state', 'data-test-accuracy', 'data-seconds-to-90'].map((a) => demo.getAttribute(a)),
  );
  return {
    state: state ?? '',
    testAccuracy: Number(accuracy),
    secondsTo90: to90 === null ? undefined : Number(to90),
    alert: (await demo.locator('[role="alert"]').allTextContents()).join(' '),
  };
}

/** Options of {@link measureEngineSpeed}. */
export interface EngineSpeedOptions {
  /** Timed runs of each measurement (measureSpeed's `runs`); default: the page's (10). */
  runs?: number;
  /** How long to wait for the measurement, ms; default 120 000. */
  timeout?: number;
}

/**
 * Presses "Measure the speed on this device" of the deploy page's engine demo (`page` must be at
 * deploy.html) and returns the report the page measured (see site/client/engine-demo.ts), or
 * throws the error the page shows.
 */
export async function measureEngineSpeed(
  page: Page,
  options: EngineSpeedOptions = {},
): Promise<SpeedReport> {
  const demo = page.locator('#engine-demo');
  // The demo's script loads lazily: wait until it has wired the button.
  await page.locator('#engine-demo[data-speed-state="idle"]').waitFor({ timeout: 30_000 });
  if (options.runs !== undefined) {
    await demo.evaluate((root, runs) => root.setAttribute('data-runs', String(runs)), options.runs);
  }
  await demo.locator('[data-action="measure-speed"]').click();
  await page.waitForFunction(
    () =>
      ['done', 'error'].includes(
        document.getElementById('engine-demo')?.dataset['speedState'] ?? '',
      ),
    null,
    { timeout: options.timeout ?? 120_000, polling: 250 },
  );
  if ((await demo.getAttribute('data-speed-state')) !== 'done') {
    const alert = await demo.locator('.engine-speed [role="alert"]').allTextContents();
    throw new Error(`the deploy page's speed measurement failed: ${alert.join(' ')}`);
  }
  const json = await page.locator('#engine-speed-report').textContent();
  return JSON.parse(json ?? 'null') as SpeedReport;
}
