/**
 * Picks and initialises the TensorFlow.js backend.
 *
 * Order of preference: `tensorflow` (the optional peer `@tensorflow/tfjs-node`, when installed),
 * then `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD where the host supports it; the default),
 * then the pure-JS `cpu` backend. Set `BIREAL_BACKEND=wasm|cpu|tensorflow` to force one.
 * In Node, the wasm backend's heavy training kernels run natively on oneDNN when the addon in
 * `native/` is built (see `native.ts`; `BIREAL_NATIVE=0` turns it off).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerTrainingKernels } from './kernels.js';
import { describeNative, nativeUnavailableReason, registerNativeKernels } from './native.js';

/** The backends this library knows how to start. */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
/** A backend name as TensorFlow.js spells it (`tensorflow` is tfjs-node). */
export type BackendName = (typeof BACKENDS)[number];

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** Force a backend instead of the automatic choice. */
  backend?: BackendName;
  /** Folder or URL prefix holding the tfjs wasm binaries (browsers); Node finds them itself. */
  wasmPaths?: string;
  /** Print the chosen backend (once per process). Default true. */
  log?: boolean;
  /**
   * Threads of the wasm backend where the host allows several (browsers with cross-origin
   * isolation); default: tfjs' choice. 1 gives single-thread timings.
   */
  threads?: number;
  /**
   * Use the native kernels under wasm when the addon is built (Node). Default true, unless
   * `BIREAL_NATIVE=0`. Once registered in a process they stay.
   */
  native?: boolean;
}

let announced = false;
const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

function envBackend(): BackendName | undefined {
  const value = isNode ? process.env['BIREAL_BACKEND'] : undefined;
  if (value === undefined || value === '') return undefined;
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new Error(`BIREAL_BACKEND=${value} is not a backend; use one of ${BACKENDS.join(', ')}`);
  }
  return value as BackendName;
}

async function tryTensorflow(): Promise<boolean> {
  if (!isNode) return false;
  try {
    // Optional peer dependency: present only when the user installed it.
    await import(/* webpackIgnore: true */ '@tensorflow/tfjs-node' as string);
    return tf.findBackend('tensorflow') !== null || tf.findBackendFactory('tensorflow') !== null;
  } catch {
    return false;
  }
}

async function wasmDirectory(): Promise<string> {
  const { createRequire } = await import('node:module');
  const { dirname } = await import('node:path');
  const require = createRequire(import.meta.url);
  // The package's Node entry lives in dist/, next to its .wasm files.
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/';
}

/** The wasm backend's module, once loaded (for its thread count). */
let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm') | undefined;

async function setupWasm(options: BackendOptions): Promise<void> {
  if (tf.findBackend('wasm') !== null) return; // already initialised: paths are fixed
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasmModule = wasm;
  wasm.setWasmPaths(options.wasmPaths ?? (isNode ? await wasmDirectory() : '/'));
  if (options.threads !== undefined) wasm.setThreadsCount(options.threads);
}

/**
 * Describes the running backend in one line, e.g. `wasm (SIMD, 1 thread)` or
 * `wasm (SIMD, 1 thread) + oneDNN 2.6.3 kernels (avx512_core, 2 threads)`.
 */
export function describeBackend(): string {
  const name = tf.getBackend();
  if (name !== 'wasm') return name;
  const native = describeNative();
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  const threaded = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  const count = threaded ? wasmModule?.getThreadsCount() : 1;
  const threads =
    count === undefined ? 'multi-threaded' : `${count} thread${count === 1 ? '' : 's'}`;
  return `wasm (${simd}, ${threads})` + (native === undefined ? '' : ` + ${native}`);
}

/**
 * Starts the best available backend (see the module comment), registers the training kernels it
 * lacks, prints its name once and returns it.
 * @param options - which backend to try first, where its .wasm files are, threads, logging.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendName> {
  const wanted = options.backend ?? envBackend();
  const candidates: BackendName[] = wanted ? [wanted] : [...BACKENDS];
  for (const name of candidates) {
    if (name === 'tensorflow' && !(await tryTensorflow())) {
      if (wanted) throw new Error('backend tensorflow needs @tensorflow/tfjs-node installed');
      continue;
    }
    if (name === 'wasm') await setupWasm(options);
    if (await tf.setBackend(name)) {
      await tf.ready();
      registerTrainingKernels(name);
      const native = options.native !== false && (await registerNativeKernels(name));
      if (options.log !== false && !announced) {
        announced = true;
        const why = nativeUnavailableReason();
        const note =
          name === 'wasm' && !native && why !== undefined ? ` (native kernels: ${why})` : '';
        console.error(`bireal: tfjs backend ${describeBackend()}${note}`);
      }
      return name;
    }
    if (wanted) throw new Error(`backend ${name} failed to initialise`);
  }
  throw new Error('no TensorFlow.js backend could be initialised');
}
