/**
 * TensorFlow.js in the reader's browser: the `bireal` library's backend choice (wasm with SIMD,
 * multi-threaded when the page is cross-origin isolated), with the .wasm files from
 * `assets/tfjs/`. Loaded on first use, so pages stay light until code runs.
 */
import { assetUrl } from './base.js';

type Library = typeof import('../../src/index.js');

let ready: Promise<Library> | undefined;

/** The `bireal` library with its backend initialised (once per page). */
export function loadLibrary(): Promise<Library> {
  ready ??= (async () => {
    const library = await import('../../src/index.js');
    await library.initBackend({ wasmPaths: assetUrl('tfjs/'), log: false });
    return library;
  })();
  return ready;
}
