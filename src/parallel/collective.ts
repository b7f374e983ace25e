/**
 * An all-reduce over shared memory for data-parallel replicas running in threads (Node worker
 * threads, or web workers on a cross-origin-isolated page). Each replica writes its values into
 * its own slot; after a barrier each sums a share of the positions over the slots, always in
 * replica order, so every replica gets bit-identical sums and the replicas' weights stay equal.
 */
import type { Collective } from '../backprop/index.js';

/** Shared buffers of a group of replicas; post them to every replica (they are shared, not copied). */
export interface SharedGroup {
  replicas: number;
  /** Floats per slot: longer all-reduces go in chunks of this size. */
  capacity: number;
  /** Int32: [arrived, generation, failed]. */
  control: SharedArrayBuffer;
  /** Float32: `replicas` slots, then the result. */
  data: SharedArrayBuffer;
}

const ARRIVED = 0;
const GENERATION = 1;
const FAILED = 2;

/** Thrown in every replica once one of them has failed (so none waits forever). */
export class ReplicaFailedError extends Error {
  /** @param why - what failed. */
  constructor(why = 'another data-parallel replica failed; see its error') {
    super(why);
  }
}

/**
 * A replica that has not reached a barrier after this long is taken to be dead (a thread that
 * crashes outright cannot report it); one layer's work takes seconds.
 */
const BARRIER_TIMEOUT_MS = 15 * 60 * 1000;

/**
 * Allocates the shared buffers for `replicas` replicas.
 * @param replicas - how many replicas.
 * @param capacity - the most values one all-reduce sums at a time.
 */
export function createSharedGroup(replicas: number, capacity = 1 << 20): SharedGroup {
  return {
    replicas,
    capacity,
    control: new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
    data: new SharedArrayBuffer((replicas + 1) * capacity * Float32Array.BYTES_PER_ELEMENT),
  };
}

/**
 * Marks the group as failed and wakes every waiting replica (they throw ReplicaFailedError).
 * @param group - the replicas' group.
 */
export function failGroup(group: SharedGroup): void {
  const control = new Int32Array(group.control);
  Atomics.store(control, FAILED, 1);
  Atomics.add(control, GENERATION, 1);
  Atomics.notify(control, GENERATION);
}

/** Replica `rank`'s side of the all-reduce of `group`. */
export class SharedMemoryCollective implements Collective {
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  private readonly result: Float32Array;

  /**
   * @param group - the shared buffers of every replica (`createSharedGroup`).
   * @param rank - this replica's index in the group, from 0.
   */
  constructor(
    private readonly group: SharedGroup,
    readonly rank: number,
  ) {
    this.control = new Int32Array(group.control);
    const { replicas, capacity } = group;
    this.slots = Array.from(
      { length: replicas },
      (_, r) => new Float32Array(group.data, r * capacity * 4, capacity),
    );
    this.result = new Float32Array(group.data, replicas * capacity * 4, capacity);
  }

  /**
   * Element-wise sums of `values` over all replicas (blocks until all call).
   * @param values - this replica's sums.
   */
  allReduceSum(values: Float32Array): Float32Array {
    const out = new Float32Array(values.length);
    for (let start = 0; start < values.length; start += this.group.capacity) {
      const end = Math.min(values.length, start + this.group.capacity);
      this.reduceChunk(values.subarray(start, end), out.subarray(start, end));
    }
    return out;
  }

  private reduceChunk(values: Float32Array, out: Float32Array): void {
    const { replicas } = this.group;
    (this.slots[this.rank] as Float32Array).set(values);
    this.barrier();
    // This replica's share of the positions.
    const share = Math.ceil(values.length / replicas);
    const from = this.rank * share;
    const to = Math.min(values.length, from + share);
    const first = this.slots[0] as Float32Array;
    for (let i = from; i < to; i++) {
      let sum = first[i] as number;
      for (let r = 1; r < replicas; r++) sum += (this.slots[r] as Float32Array)[i] as number;
      this.result[i] = sum;
    }
    this.barrier();
    out.set(this.result.subarray(0, values.length));
  }

  /** Waits until every replica has arrived (generation-counting barrier). */
  private barrier(): void {
    const c = this.control;
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.load(c, FAILED) !== 0) throw new ReplicaFailedError();
    if (Atomics.add(c, ARRIVED, 1) === this.group.replicas - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    const deadline = performance.now() + BARRIER_TIMEOUT_MS;
    while (Atomics.load(c, GENERATION) === generation) {
      if (performance.now() > deadline) {
        failGroup(this.group);
        throw new ReplicaFailedError(
          `a data-parallel replica did not reach the barrier in ${BARRIER_TIMEOUT_MS / 60000} min`,
        );
      }
      Atomics.wait(c, GENERATION, generation, 1000);
    }
    if (Atomics.load(c, FAILED) !== 0) throw new ReplicaFailedError();
  }
}
