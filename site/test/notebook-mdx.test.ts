/** Notebooks as pages (site/build/notebook-mdx.ts) and the search index's text (site/build/search.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiUses, markdownOutput, replayedExperiments, summaryOf } from '../build/notebook-mdx.js';
import { plainText } from '../build/search.js';

test("a stored output's collapsible note becomes the element, the rest stays escaped", () => {
  const mdx = markdownOutput(
    '| a | b |\n| --- | --- |\n| x<y | {z} |\n\n<details><summary>Runs: 6 < 7</summary>Backend {w}.</details>',
  );
  assert.equal(
    mdx,
    '| a | b |\n| --- | --- |\n| x\\<y | \\{z\\} |\n\n' +
      '\n\n<details>\n<summary>Runs: 6 \\< 7</summary>\n\nBackend \\{w\\}.\n\n</details>\n\n',
  );
  assert.equal(markdownOutput('no note: <b>'), 'no note: \\<b>');
});

test("a cell's uses of the library: names from earlier imports too, not its own import line", () => {
  const imported = new Map();
  assert.deepEqual(
    apiUses(
      "import { createModel, type Binarizer as B } from 'bireal';\nimport { plot } from 'bireal/notebook';\nconst m = createModel('bireal18');",
      imported,
    ),
    [{ module: 'bireal', name: 'createModel' }],
  );
  assert.deepEqual(apiUses('let b: B; plot(display, []); m.createModelX;', imported), [
    { module: 'bireal', name: 'Binarizer' },
    { module: 'bireal/notebook', name: 'plot' },
  ]);
});

test('experiments a cell replays, and summaries that end a sentence', () => {
  assert.deepEqual(
    replayedExperiments("a = await experimentRuns('grid-imagenette'); b = experimentRuns( 'x')"),
    ['grid-imagenette', 'x'],
  );
  assert.equal(
    summaryOf('\nThe sign is flat,\nso the backward pass:\n\n| table |'),
    'The sign is flat, so the backward pass.',
  );
});

test("search text keeps apostrophes and other entities' characters", () => {
  assert.equal(
    plainText('<h2>the library&#x27;s own &amp; <b>only</b></h2>&#39;'),
    "the library's own & only '",
  );
});
