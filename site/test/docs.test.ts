/**
 * The README and the markdown pages of docs/ (site/build/docs.ts turns them into pages of the
 * site): the README opens with the two commands and keeps the results section that
 * `bireal report` fills, links every docs page, and every relative link of the README and of
 * docs/ leads to a file of the repository (and its #anchor to a heading there); the links of
 * the docs pages become links of the site.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { docPage, docPages, siteLink } from '../build/docs.js';
import { slugify } from '../build/mdx.js';

const README = 'README.md';

/** The targets of the markdown links `[text](target)` of `markdown`, outside code. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
}

/** The anchors of a markdown file's headings, as GitHub and the site make them. */
function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slugify(m[1] as string)));
}

test('the README opens with the two commands and keeps the results section', () => {
  const readme = readFileSync(README, 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = firstBlock
    .trim()
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, ''));
  assert.deepEqual(commands, [
    'bash scripts/setup.sh && npm start',
    'bash scripts/setup.sh && npm test',
  ]);
  assert.equal(readme.split('<!-- results:start (bireal report writes this part) -->').length, 2);
  assert.equal(readme.split('<!-- results:end -->').length, 2);
});

test('the README links every page of docs/', async () => {
  const linked = new Set(links(readFileSync(README, 'utf8')).map((l) => l.split('#')[0]));
  for (const doc of await docPages()) {
    assert.ok(linked.has(`docs/${doc.slug}.md`), `README.md has no link to docs/${doc.slug}.md`);
  }
});

test('relative links of the README and docs/ lead to files, and anchors to headings', async () => {
  const files = [README, ...(await docPages()).map((d) => `docs/${d.slug}.md`)];
  for (const file of files) {
    const markdown = readFileSync(file, 'utf8');
    for (const link of links(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      const [path = '', hash] = link.split('#');
      const target = path === '' ? file : posix.join(dirname(file), path);
      assert.ok(existsSync(target), `${file}: ${link} (no ${target})`);
      if (hash !== undefined && target.endsWith('.md')) {
        assert.ok(
          anchors(readFileSync(target, 'utf8')).has(hash),
          `${file}: ${link} (no heading #${hash} in ${target})`,
        );
      }
    }
  }
});

test('docs pages: title, place in the site, escaped for MDX', async () => {
  const page = await docPage(join('docs', 'library.md'));
  assert.equal(page.slug, 'library');
  assert.equal(page.path, 'docs/library.html');
  assert.ok(page.title.length > 0 && !page.title.startsWith('#'));
  assert.ok(page.summary.length > 0 && !page.summary.includes('`'));
  // alpha·1{|W|<1} is text, not JSX, once escaped.
  assert.match(page.mdx, /1\\\{\|W\|\\<1\\\}/);
});

test('siteLink: docs pages, the README, notebooks and other sites; other files become text', () => {
  const slugs = new Set(['engine', 'backends']);
  assert.equal(siteLink('engine.md', slugs), 'engine.html');
  assert.equal(siteLink('./backends.md#tests', slugs), 'backends.html#tests');
  assert.equal(siteLink('../docs/engine.md', slugs), 'engine.html');
  assert.equal(siteLink('missing.md', slugs), undefined);
  assert.equal(siteLink('../README.md', slugs), '../index.html');
  assert.equal(siteLink('../README.md#results', slugs), '../index.html');
  assert.equal(siteLink('../notebooks/02-approx-sign.ipynb', slugs), '../02-approx-sign.html');
  assert.equal(siteLink('../site/pages/deploy.mdx', slugs), '../deploy.html');
  assert.equal(siteLink('#the-engine', slugs), '#the-engine');
  assert.equal(
    siteLink('https://github.com/yunabe/tslab', slugs),
    'https://github.com/yunabe/tslab',
  );
  assert.equal(siteLink('../results/bench/engine-2026-12-05.md', slugs), undefined);
  assert.equal(siteLink('../src/engine/format.ts', slugs), undefined);
});
