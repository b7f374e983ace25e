/** Data-parallel training over threads: shared-memory all-reduce and Node worker replicas. */
export {
  ReplicaFailedError,
  SharedMemoryCollective,
  createSharedGroup,
  failGroup,
} from './collective.js';
export type { SharedGroup } from './collective.js';
export { createDataParallelTrainStep, defaultReplicas, splitSizes } from './replicas.js';
export type { DataParallelTrainStep } from './replicas.js';
