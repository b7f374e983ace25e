/**
 * A data-parallel replica (Node worker thread): holds a copy of the model and optimizer, and on
 * each 'step' message trains on its part of the batch, meeting the other replicas in the
 * all-reduces of src/parallel/collective.ts. Started by `createDataParallelTrainStep`.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../layers/index.js';
import { initBackend, type BackendName } from '../backend/index.js';
import { setNativeThreads } from '../backend/native.js';
import { DivergedError, createMeasuredTrainStep, type MeasuredTrainStep } from '../train/step.js';
import { optimizerFromConfig, type ScheduledOptimizer } from '../train/optimizer.js';
import { SharedMemoryCollective, failGroup, type SharedGroup } from './collective.js';
import type { InitMessage, StepMessage } from './replicas.js';

if (parentPort === null) throw new Error('src/parallel/worker.js runs as a worker thread only');
const port: MessagePort = parentPort;

let group: SharedGroup | undefined;
let errors: MessagePort | undefined;
let step: MeasuredTrainStep | undefined;
let optimizer: ScheduledOptimizer | undefined;

const tensorOf = ({ shape, data }: { shape: number[]; data: Float32Array }) =>
  tf.tensor(data, shape, 'float32');

async function init(message: InitMessage): Promise<void> {
  group = message.group;
  errors = message.errors;
  await initBackend({
    backend: message.backend as BackendName,
    native: message.native,
    log: false,
  });
  setNativeThreads(1); // the replicas share the cores
  const model = await tfl.models.modelFromJSON({
    modelTopology: JSON.parse(message.topology) as tf.io.ModelJSON['modelTopology'],
  });
  const weights = message.weights.map(tensorOf);
  model.setWeights(weights);
  tf.dispose(weights);
  optimizer = optimizerFromConfig(message.optimizer.className, message.optimizer.config);
  if (message.optimizer.weights.length > 0) {
    await optimizer.setWeights(
      message.optimizer.weights.map((w) => ({ name: w.name, tensor: tensorOf(w) })),
    );
  }
  const collective = new SharedMemoryCollective(message.group, message.rank);
  step = createMeasuredTrainStep(model, optimizer, { ...message.stepOptions, collective });
}

function runStep(message: StepMessage): void {
  (optimizer as ScheduledOptimizer).setLearningRate(message.learningRate);
  const images = tensorOf(message.images) as tf.Tensor4D;
  const labels = tensorOf(message.labels) as tf.Tensor2D;
  try {
    (step as MeasuredTrainStep)(images, labels);
  } catch (error) {
    // Every replica sees the same (all-reduced) loss, so all stop together: not a failure.
    if (!(error instanceof DivergedError)) throw error;
  } finally {
    tf.dispose([images, labels]);
  }
}

port.on('message', (message: InitMessage | StepMessage | { type: 'close' }) => {
  void (async () => {
    try {
      if (message.type === 'init') await init(message);
      else if (message.type === 'step') runStep(message);
      else {
        port.close();
        return;
      }
      if (message.type === 'init') port.postMessage({ type: 'ready' });
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      errors?.postMessage(text);
      if (group !== undefined) failGroup(group);
      port.postMessage({ type: 'error', error: text });
    }
  })();
});
