/** Stored notebook outputs as MDX (site/build/notebook-mdx.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownOutput } from '../build/notebook-mdx.js';

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
