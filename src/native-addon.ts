/**
 * Loading the native addon (`native/`, built by scripts/setup.sh), shared by the training kernels
 * (src/backend/native.ts) and the packed engine (src/engine/native.ts).
 */

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

let loading: Promise<object | string> | undefined;

/**
 * The addon's exports, or why they are not available: not running in Node, turned off by
 * `BIREAL_NATIVE=0` (read on every call), or not built. Loaded once.
 */
export async function loadNativeAddon(): Promise<object | string> {
  if (!isNode) return 'not running in Node';
  if (process.env['BIREAL_NATIVE'] === '0') return 'turned off by BIREAL_NATIVE=0';
  loading ??= (async () => {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    try {
      // From dist/src/ (compiled) to the repository's native/ folder.
      return require('../../native/build/Release/bireal_native.node') as object;
    } catch (error) {
      const reason = (error as Error).message.split('\n')[0];
      return `native addon not built (${reason}); run scripts/setup.sh`;
    }
  })();
  return loading;
}
