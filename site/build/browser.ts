/**
 * Headless Chromium for the site's tests and benchmark: Debian's /usr/bin/chromium (env CHROMIUM
 * overrides it), driven by playwright-core, with the flags a closed network and a root user need.
 */
import { chromium, type Browser } from 'playwright-core';

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
