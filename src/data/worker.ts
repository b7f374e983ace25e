/** Worker-thread entry of the loader: runs {@link runTask} for each message, in its own thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { messageOf } from './errors.js';
import { runTask, type SourceData, type Task } from './pipeline.js';

const source = workerData as SourceData;
parentPort?.on('message', ({ id, task }: { id: number; task: Task }) => {
  runTask(source, task).then(
    (result) => parentPort?.postMessage({ id, result }, [result.images.buffer as ArrayBuffer]),
    (error: unknown) => parentPort?.postMessage({ id, error: messageOf(error) }),
  );
});
