/**
 * The docs site's command line:
 *   build            write site/dist/
 *   serve [--port N] serve site/dist/ on 127.0.0.1 (default port 4173, 0 for any free port)
 *   start [--port N] build when an input is newer than the last build, then serve
 *   chart-images     Plotly figures (JSON array on stdin) → base64 PNGs (JSON array on stdout)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chartImagesCommand } from './chart-images.js';
import { serveSite } from './server.js';
import { buildSite, siteIsStale, SITE_DIR } from './site.js';

const USAGE =
  'usage: node dist/site/build/cli.js build | serve [--port N] | start [--port N] | chart-images';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string' } },
});
const command = positionals[0] ?? 'start';
const port = Number(values.port ?? process.env['PORT'] ?? 4173);
if (
  !['build', 'serve', 'start', 'chart-images'].includes(command) ||
  !Number.isInteger(port) ||
  port < 0
) {
  console.error(USAGE);
  process.exit(2);
}
if (command === 'chart-images') await chartImagesCommand();
if (command === 'build' || (command === 'start' && (await siteIsStale()))) await buildSite();
if (command === 'serve' || command === 'start') {
  const server = await serveSite(join(process.cwd(), SITE_DIR), port);
  console.log(`bireal docs: ${server.url} (Ctrl+C stops)`);
}
