/** A small pool of loader worker threads; a worker keeps the process alive only while it has work. */
import { Worker } from 'node:worker_threads';
import { DataError } from './errors.js';
import type { SourceData, Task, TaskResult } from './pipeline.js';

interface Pending {
  resolve: (result: TaskResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  alive: boolean;
}

/** Runs tasks on `size` workers (the least busy one first), each given the split's source. */
export class WorkerPool {
  private readonly slots: Slot[];
  private nextId = 0;

  constructor(size: number, source: SourceData) {
    this.slots = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: source });
      const slot: Slot = { worker, pending: new Map(), alive: true };
      worker.unref();
      worker.on('message', (message: { id: number; result?: TaskResult; error?: string }) => {
        const pending = slot.pending.get(message.id);
        slot.pending.delete(message.id);
        if (slot.pending.size === 0) worker.unref();
        if (message.result) pending?.resolve(message.result);
        else pending?.reject(new DataError(message.error ?? 'worker failed'));
      });
      worker.on('error', (error) => this.fail(slot, error));
      worker.on('exit', (code) =>
        this.fail(slot, new Error(`loader worker exited (code ${code})`)),
      );
      return slot;
    });
  }

  /** Runs one task on the least busy worker. */
  run(task: Task): Promise<TaskResult> {
    const alive = this.slots.filter((slot) => slot.alive);
    if (alive.length === 0) return Promise.reject(new Error('the loader workers have stopped'));
    const slot = alive.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, task });
    });
  }

  /**
   * Stops the workers; unfinished tasks are rejected. A timer keeps Node's event loop alive until
   * every worker has exited: a terminating worker does not, when it was idle (unref'd), and the
   * promise would never settle.
   */
  async close(): Promise<void> {
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    } finally {
      clearInterval(keepAlive);
    }
  }

  private fail(slot: Slot, error: Error): void {
    slot.alive = false;
    for (const pending of slot.pending.values()) pending.reject(error);
    slot.pending.clear();
  }
}
