/**
 * Builds the docs site into site/dist/ from the executed notebooks, the landing page
 * (site/pages/index.mdx), the deploy page (site/pages/deploy.mdx, with the deploy files of
 * results/models/), the markdown pages of docs/ (as docs/NAME.html), results/ and the library's
 * doc comments (command line: ./cli.ts).
 */
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initBackend } from '../../src/backend/index.js';
import { EXPERIMENTS, loadExperiment } from '../../src/experiments/index.js';
import { resultsMarkdown } from '../../src/experiments/report.js';
import { apiReference, type UsedIn } from './api.js';
import { bundleClient } from './bundle.js';
import { apiHref, EngineDemo, JsonScript } from './components.js';
import { DOCS_DIR, docPages, siteLink } from './docs.js';
import { writeEngineAssets } from './engine-assets.js';
import { renderPage, type NavEntry } from './layout.js';
import { renderMdx, type Heading } from './mdx.js';
import { writeMnistAssets } from './mnist-assets.js';
import { notebookPage, type NotebookPage } from './notebook-mdx.js';
import { writeSearchIndex } from './search.js';

export const SITE_DIR = 'site/dist';
const RESULTS = 'results/experiments';
/** What a build reads: a change in any of these makes `start` rebuild. */
const INPUTS = [
  'notebooks',
  DOCS_DIR,
  'site/pages',
  'site/client',
  'site/build',
  'site/styles',
  'src',
  'results',
];
const STAMP = join(SITE_DIR, '.built');
const DEPLOY_PAGE = 'deploy.html';
const DEPLOY_TITLE = 'Deploy: 1-bit inference in your browser';
const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

async function newestChange(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path);
  return Math.max(
    info.mtimeMs,
    ...(await Promise.all(entries.map((e) => newestChange(join(path, e))))),
  );
}

/** Whether site/dist is missing or older than one of its inputs. */
export async function siteIsStale(): Promise<boolean> {
  const built = await stat(STAMP).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  const changes = await Promise.all(INPUTS.map((input) => newestChange(input)));
  return Math.max(...changes) > built;
}

/**
 * Adds to `usedIn` the sections (h2) of a notebook page whose cells use the library's exports:
 * `html` is the page as rendered, `headings` its headings.
 */
function addUses(
  usedIn: Map<string, UsedIn[]>,
  notebook: NotebookPage,
  html: string,
  headings: Heading[],
): void {
  notebook.uses.forEach((uses, cell) => {
    const before = html.slice(0, html.indexOf(`data-cell="${cell}"`));
    const id = [...before.matchAll(/<h2 id="([^"]+)"/g)].at(-1)?.[1];
    const section = headings.find((h) => h.id === id);
    const use: UsedIn = {
      href: `${notebook.slug}.html${section ? `#${section.id}` : ''}`,
      text: section ? `${notebook.title} › ${section.text}` : notebook.title,
    };
    for (const key of uses.map(apiHref)) {
      const list = usedIn.get(key) ?? [];
      if (!list.some((u) => u.href === use.href)) list.push(use);
      usedIn.set(key, list);
    }
  });
}

async function copyAssets(assets: string): Promise<void> {
  await mkdir(join(assets, 'tfjs'), { recursive: true });
  const wasmDir = join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist');
  for (const file of (await readdir(wasmDir)).filter((f) => f.endsWith('.wasm'))) {
    await copyFile(join(wasmDir, file), join(assets, 'tfjs', file));
  }
  await copyFile(
    join(packageDir('plotly.js-cartesian-dist-min'), 'plotly-cartesian.min.js'),
    join(assets, 'plotly.min.js'),
  );
  const katex = join(packageDir('katex'), 'dist');
  await mkdir(join(assets, 'katex'), { recursive: true });
  await copyFile(join(katex, 'katex.min.css'), join(assets, 'katex', 'katex.min.css'));
  await cp(join(katex, 'fonts'), join(assets, 'katex', 'fonts'), {
    recursive: true,
    filter: (f) => !f.endsWith('.ttf'),
  });
  await cp('site/styles', assets, { recursive: true });
}

/** Builds the whole site into site/dist/. */
export async function buildSite(): Promise<void> {
  const started = performance.now();
  await initBackend({ log: false }); // the results table builds models to count their costs
  await rm(SITE_DIR, { recursive: true, force: true });
  const assets = join(SITE_DIR, 'assets');
  await copyAssets(assets);

  // Every experiment, with no runs while its first run is still training.
  const experiments = Object.fromEntries(
    Object.keys(EXPERIMENTS).map((name) => [
      name,
      existsSync(join(RESULTS, name)) ? loadExperiment(name, RESULTS) : [],
    ]),
  );
  await mkdir(join(assets, 'results', 'experiments'), { recursive: true });
  for (const [name, runs] of Object.entries(experiments)) {
    await writeFile(join(assets, 'results', 'experiments', `${name}.json`), JSON.stringify(runs));
  }

  // The results tables link the deploy files of results/models/ as downloads.
  await cp('results/models', join(SITE_DIR, 'results', 'models'), {
    recursive: true,
    filter: (file) => !file.endsWith('.json'),
  });

  const notebookFiles = (await readdir('notebooks')).filter((f) => f.endsWith('.ipynb')).sort();
  const notebooks: NotebookPage[] = await Promise.all(
    notebookFiles.map((f) => notebookPage(join('notebooks', f))),
  );
  const docs = await docPages();
  const nav: NavEntry[] = [
    { href: 'index.html', title: 'Home: train a 1-bit net' },
    ...notebooks.map((n) => ({ href: `${n.slug}.html`, title: n.title })),
    { href: DEPLOY_PAGE, title: DEPLOY_TITLE },
    ...docs.map((d) => ({ href: d.path, title: d.title })),
    { href: 'api/index.html', title: 'API reference: bireal' },
    { href: 'api/notebook.html', title: 'API reference: bireal/notebook' },
  ];

  const pages: { path: string; title: string; html: string }[] = [];
  const usedIn = new Map<string, UsedIn[]>();
  for (const notebook of notebooks) {
    const path = `${notebook.slug}.html`;
    const { html, headings } = await renderMdx(notebook.mdx, `notebooks/${notebook.slug}.ipynb`);
    addUses(usedIn, notebook, html, headings);
    const toolbar =
      `<p class="page-actions"><button type="button" data-action="run-all">▶ Run all cells</button> ` +
      `Code runs in your browser on TensorFlow.js; cells marked “Needs Node.js” show their stored output. ` +
      `Edit any cell and press its Run (or Ctrl+Enter in the code); the first run of edited code ` +
      `loads the TypeScript compiler (1 MB). ↺ Reset brings back the original code and output.</p>`;
    await writeFile(
      join(SITE_DIR, path),
      renderPage({
        title: notebook.title,
        description: notebook.summary,
        path,
        nav,
        headings,
        html: html.replace('</h1>', `</h1>${toolbar}`),
        after: <JsonScript id="cell-code" value={notebook.cells} />,
      }),
    );
    pages.push({ path, title: notebook.title, html });
  }

  const landing = (await readFile('site/pages/index.mdx', 'utf8'))
    .replace(
      '{/* NOTEBOOKS */}',
      notebooks.map((n) => `- [${n.title}](./${n.slug}.html): ${n.summary}`).join('\n'),
    )
    .replace(
      '{/* RESULTS */}',
      resultsMarkdown((name) => experiments[name] ?? [], './'),
    );
  const home = await renderMdx(landing, 'site/pages/index.mdx');
  const title = 'bireal: learn, reproduce and deploy 1-bit neural networks';
  await writeFile(
    join(SITE_DIR, 'index.html'),
    renderPage({
      title,
      description: 'Bi-Real Net in your browser.',
      path: 'index.html',
      nav,
      ...home,
    }),
  );
  pages.push({ path: 'index.html', title: 'Home', html: home.html });

  const engine = await writeEngineAssets(assets);
  const deploy = await renderMdx(
    await readFile('site/pages/deploy.mdx', 'utf8'),
    'site/pages/deploy.mdx',
    { EngineDemo: () => <EngineDemo assets={engine} /> },
  );
  await writeFile(
    join(SITE_DIR, DEPLOY_PAGE),
    renderPage({
      title: DEPLOY_TITLE,
      description:
        'Your browser classifies a photo with the bit-packed 1-bit engine and times it against float.',
      path: DEPLOY_PAGE,
      nav,
      ...deploy,
    }),
  );
  pages.push({ path: DEPLOY_PAGE, title: DEPLOY_TITLE, html: deploy.html });

  await mkdir(join(SITE_DIR, DOCS_DIR), { recursive: true });
  const slugs = new Set(docs.map((d) => d.slug));
  for (const doc of docs) {
    const source = `${DOCS_DIR}/${doc.slug}.md`;
    const page = await renderMdx(doc.mdx, source, {}, { link: (href) => siteLink(href, slugs) });
    await writeFile(
      join(SITE_DIR, doc.path),
      renderPage({ title: doc.title, description: doc.summary, path: doc.path, nav, ...page }),
    );
    pages.push({ path: doc.path, title: doc.title, html: page.html });
  }

  const api = await apiReference(usedIn);
  await mkdir(join(SITE_DIR, 'api'), { recursive: true });
  for (const page of api.pages) {
    await writeFile(
      join(SITE_DIR, page.path),
      renderPage({ ...page, description: page.summary, nav }),
    );
    pages.push(page);
  }

  await writeSearchIndex(pages, join(SITE_DIR, 'search-index.json'));
  await writeMnistAssets(assets);
  const scripts = await bundleClient(join(assets, 'js'));
  await writeFile(STAMP, new Date().toISOString());
  const kb = (Object.values(scripts).reduce((a, b) => a + b, 0) / 1024).toFixed(0);
  console.log(
    `site: ${pages.length} pages (${api.pages.length} of the API reference, ${api.warnings} ` +
      `warnings about its doc comments), ` +
      `${Object.keys(scripts).length} scripts (${kb} KiB) in ${SITE_DIR}/ ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}
