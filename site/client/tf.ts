/**
 * TensorFlow.js in the reader's browser: the `bireal` library's backend choice (wasm with SIMD,
 * multi-threaded when the page is cross-origin isolated), with the .wasm files from
 * `assets/tfjs/`. Loaded on first use, so pages stay light until code runs.
 */
import { assetUrl } from './base.js';

type Library = typeof import('../../src/index.js');

/** How the backend starts. */
export interface LibraryOptions {
  /** Threads of the wasm backend (the deploy page asks for 1); default: tfjs' choice. */
  threads?: number;
}

let ready: Promise<Library> | undefined;

/**
 * The `bireal` library with its backend initialised (once per page: the first call's options
 * hold for the page's life).
 */
export function loadLibrary(options: LibraryOptions = {}): Promise<Library> {
  ready ??= (async () => {
    const library = await import('../../src/index.js');
    await library.initBackend({ wasmPaths: assetUrl('tfjs/'), log: false, ...options });
    return library;
  })();
  return ready;
}
