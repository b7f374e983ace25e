/**
 * Headless Chromium for the site's tests and benchmark: Debian's /usr/bin/chromium (env CHROMIUM
 * overrides it), driven by playwright-core, with the flags a closed network and a root user need.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

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
