/**
 * Notebook cells compiled for the browser's kernel (site/build/cells.ts), run here the way
 * site/client/kernel.ts runs them: the body inside `with (scope)` in an async function.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCell } from '../build/cells.js';

type Modules = Record<string, unknown>;

/** Runs `source` against `scope` like the page kernel; `checkpoint` is called per loop iteration. */
async function run(
  source: string,
  scope: Record<string, unknown>,
  modules: Modules = {},
  checkpoint = async () => {},
): Promise<unknown> {
  const { code, names } = compileCell(source);
  for (const name of names) if (!(name in scope)) scope[name] = undefined;
  const body = new Function(
    'scope',
    '__import',
    '__checkpoint',
    `with (scope) { return (async () => {\n${code}\n})(); }`,
  ) as (
    scope: object,
    load: (m: string) => Promise<unknown>,
    check: () => Promise<void>,
  ) => Promise<unknown>;
  return body(scope, async (name) => modules[name], checkpoint);
}

test('top-level declarations of one cell are visible in the next, types erased', async () => {
  const scope: Record<string, unknown> = {};
  await run(
    `const a: number = 2;\nlet { b, c: [d] } = { b: 3, c: [4] };\nfunction twice(x: number) { return 2 * x; }\nclass Box { constructor(public v: number) {} }`,
    scope,
  );
  assert.equal(await run('twice(a) + b + d + new Box(1).v', scope), 4 + 3 + 4 + 1);
});

test('functions are hoisted within a cell; redeclaring on a re-run works', async () => {
  const scope: Record<string, unknown> = {};
  const source = 'const y = f();\nfunction f() { return 7; }\ny';
  assert.equal(await run(source, scope), 7);
  assert.equal(await run(source, scope), 7);
});

test('imports read the modules the page provides (namespace, named, renamed, default)', async () => {
  const scope: Record<string, unknown> = {};
  const modules = { lib: { default: 'D', one: 1, two: 2 }, ns: { three: 3 } };
  await run(
    `import D, { one, two as deux } from 'lib';\nimport * as ns from 'ns';\nimport type { X } from 'lib';`,
    scope,
    modules,
  );
  assert.deepEqual(
    [scope['D'], scope['one'], scope['deux'], (scope['ns'] as { three: number }).three],
    ['D', 1, 2, 3],
  );
  assert.equal('X' in scope, false);
});

test('top-level await and a final expression as the cell value; statements give no value', async () => {
  assert.equal(await run('await Promise.resolve(5) * 2', {}), 10);
  assert.equal(await run('const z = 1;', {}), undefined);
});

test('every loop outside functions calls the checkpoint, so a long cell can be stopped', async () => {
  let calls = 0;
  const stopAfter = async () => {
    if (++calls === 5) throw new Error('stopped');
  };
  await assert.rejects(run('let i = 0;\nwhile (true) i++;', {}, {}, stopAfter), /stopped/);
  assert.equal(calls, 5);
  calls = 0;
  await run(
    'for (const x of [1, 2, 3]) { const y = x; }\nlet n = 0;\nfor (let i = 0; i < 2; i++) n++;',
    {},
    {},
    async () => {
      calls++;
    },
  );
  assert.equal(calls, 5);
});
