/**
 * The packed engine on several cores (Node): one {@link PackedNet} per worker thread, each
 * running on one core, and a batch of images split between them. The latency of one image stays
 * that of one thread; the throughput of a batch grows with the threads.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { decodeDeployFile, type DeployHeader } from './format.js';

/** A worker's answer: the logits of its share of a batch, or why it failed. */
interface Reply {
  id: number;
  logits?: Float32Array;
  error?: string;
}

/** What each worker thread is started with. */
export interface PoolWorkerData {
  bytes: Uint8Array;
  name: string | undefined;
}

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve: (logits: Float32Array) => void; reject: (e: Error) => void }>;
}

/** Starts a worker thread and resolves once it has planned the model. */
function startThread(workerData: PoolWorkerData): Promise<{ thread: Thread; backend: string }> {
  const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { workerData });
  const thread: Thread = { worker, pending: new Map() };
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', ({ backend }: { backend: string }) => {
      worker.off('error', reject);
      worker.on('message', (reply: Reply) => {
        const pending = thread.pending.get(reply.id);
        thread.pending.delete(reply.id);
        if (reply.logits) pending?.resolve(reply.logits);
        else pending?.reject(new Error(reply.error ?? 'engine worker failed'));
      });
      worker.on('error', (error) => {
        for (const pending of thread.pending.values()) pending.reject(error);
        thread.pending.clear();
      });
      resolve({ thread, backend });
    });
  });
}

/** A deploy file loaded once per worker thread; {@link runBatch} splits a batch between them. */
export class PackedNetPool {
  private nextId = 0;

  /** Values per input image (size * size * channels) and logits per image. */
  readonly inputSize: number;
  readonly classes: number;

  private constructor(
    private readonly threads: Thread[],
    readonly header: DeployHeader,
    /** What runs each thread's kernels (see PackedNet.backend). */
    readonly backend: string,
  ) {
    this.inputSize = header.inputShape[0] * header.inputShape[1] * header.inputShape[2];
    this.classes = header.labels.length;
  }

  /**
   * Loads `bytes` (a deploy file) in `threads` worker threads (default: one per core) and waits
   * until every one has planned the model; `name` labels errors.
   * @param bytes - the deploy file's bytes.
   * @param threads - how many worker threads.
   * @param name - what errors call the file.
   */
  static async load(
    bytes: Uint8Array,
    threads = availableParallelism(),
    name?: string,
  ): Promise<PackedNetPool> {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`threads must be a positive integer, got ${threads}`);
    }
    const { header } = decodeDeployFile(bytes, name);
    const started = await Promise.allSettled(
      Array.from({ length: threads }, () => startThread({ bytes, name })),
    );
    const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(running.map(({ thread }) => thread.worker.terminate()));
      throw failed.reason as Error;
    }
    const threadList = running.map(({ thread }) => thread);
    return new PackedNetPool(threadList, header, running[0]!.backend);
  }

  /** How many worker threads run the model. */
  get size(): number {
    return this.threads.length;
  }

  /**
   * Logits of `n` images (n * inputSize values, HWC float32 each, back to back): n * classes
   * values. The images are split into contiguous shares, one per thread.
   * @param images - the prepared images.
   * @param n - how many.
   */
  async runBatch(images: Float32Array, n: number): Promise<Float32Array> {
    if (images.length !== n * this.inputSize) {
      throw new Error(
        `${n} images need ${n * this.inputSize} values (${this.inputSize} each); got ${images.length}`,
      );
    }
    const share = Math.ceil(n / this.threads.length);
    const parts = this.threads.map((thread, t) => {
      const [first, end] = [t * share, Math.min(n, (t + 1) * share)];
      if (first >= end) return Promise.resolve(new Float32Array(0));
      const part = images.slice(first * this.inputSize, end * this.inputSize);
      const id = this.nextId++;
      return new Promise<Float32Array>((resolve, reject) => {
        thread.pending.set(id, { resolve, reject });
        thread.worker.postMessage({ id, images: part }, [part.buffer]);
      });
    });
    const logits = new Float32Array(n * this.classes);
    let at = 0;
    for (const part of await Promise.all(parts)) {
      logits.set(part, at);
      at += part.length;
    }
    return logits;
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }
}
