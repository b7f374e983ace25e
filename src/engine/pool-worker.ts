/** A worker thread of {@link PackedNetPool}: one PackedNet, running each share of a batch it gets. */
import { parentPort, workerData } from 'node:worker_threads';
import type { PoolWorkerData } from './pool.js';
import { PackedNet } from './runtime.js';

const { bytes, name } = workerData as PoolWorkerData;
const port = parentPort!;
const net = await PackedNet.load(bytes, undefined, name);
port.postMessage({ backend: net.backend });
port.on('message', ({ id, images }: { id: number; images: Float32Array }) => {
  try {
    const logits = net.runBatch(images, images.length / net.inputSize);
    port.postMessage({ id, logits }, [logits.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ id, error: (error as Error).message });
  }
});
