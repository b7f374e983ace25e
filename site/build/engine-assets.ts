/**
 * The deploy page's assets: the trained deploy files (`assets/models/`), the engine's WebAssembly
 * kernels (`assets/engine/kernels.wasm`, built by `npm run build`), ONNX Runtime Web's
 * WebAssembly (`assets/ort/`, for the speed comparison; its JavaScript is in the bundle, the
 * ONNX models are exported in the browser) and, when the Imagenette cache exists, one small
 * sample photo per class from its val split (`assets/samples/`, with `samples.json`). Also the
 * facts about the model that the page shows, all read from the deploy file.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { datasetManifest, defaultCacheDir } from '../../src/data/fetch.js';
import { decodeDeployFile, type DeployHeader } from '../../src/engine/format.js';

/** A model the deploy page offers: a deploy file written by `bireal export`, and its name. */
export interface DeployModel {
  file: string;
  /** Its name on the page. */
  title: string;
  /** What it was trained with, and whom it suits (the page's words). */
  about: string;
}

/**
 * The models the deploy page classifies with, the default first: the most accurate model of
 * `results/models/`, and a small one for slow devices and connections.
 */
export const DEPLOY_MODELS: readonly DeployModel[] = [
  {
    file: 'results/models/headline-224-bi-real-s0.bireal',
    title: 'Bi-Real-18, 224 × 224 px, full width',
    about:
      'the most accurate model here: a two-stage run at 224 px (a real ResNet-18 with clip ' +
      'activations trained 3 epochs, then Bi-Real-18 8 epochs from its weights, Adam), not the ' +
      "paper's recipe",
  },
  {
    file: 'results/models/imagenette-64-bireal18-w0.5.bireal',
    title: 'Bi-Real-18, 64 × 64 px, half width',
    about:
      'small and fast, for slow devices and connections: 8 epochs from scratch at 64 px with ' +
      'half the channels',
  },
];
/** The default model's deploy file. */
export const DEPLOY_MODEL = (DEPLOY_MODELS[0] as DeployModel).file;
/**
 * Sample photos are shrunk to this many pixels on their shorter side: the largest model's
 * resize before its centre crop (224 px · 8/7), so that it sees them as `bireal infer` would.
 */
export const SAMPLE_SIDE = 256;

/** One sample photo: its file under `assets/`, its true class and where it comes from. */
export interface EngineSample {
  file: string;
  label: string;
  wnid: string;
  /** The original file of the Imagenette val split. */
  source: string;
}

/** What the page says about a model: its name, and everything else from its deploy file. */
export interface EngineModelFacts {
  /** The file under `assets/`. */
  file: string;
  title: string;
  about: string;
  bytes: number;
  model: string;
  modelOptions: Record<string, unknown>;
  /** Input side in pixels and channels. */
  size: number;
  channels: number;
  labels: string[];
  dataset: string | undefined;
  epochs: string | undefined;
  eval: { n: number; top1: number; top5: number } | undefined;
  /** 1-bit weights, and float32 values (real layers, folded scales and biases). */
  binaryWeights: number;
  floatValues: number;
}

/** The demo's build-time data (site/build/components.tsx renders it). */
export interface EngineAssets {
  /** The models the page offers, the default first; none when the build found none. */
  models: EngineModelFacts[];
  /** The kernels under `assets/`. */
  kernels: string;
  /** ONNX Runtime Web's WebAssembly (SIMD, one thread) under `assets/`. */
  onnxRuntimeWasm: string;
  samples: EngineSample[];
  /** Why there are no samples, when there are none. */
  samplesMissing: string | undefined;
}

function facts(
  header: DeployHeader,
  file: string,
  bytes: number,
  { title, about }: DeployModel,
): EngineModelFacts {
  let binaryWeights = 0;
  let floatValues = 0;
  for (const op of header.ops) {
    if (op.op === 'binaryConv') {
      binaryWeights += op.cout * op.kernel * op.kernel * op.cin;
      floatValues += (op.scale.bytes + op.bias.bytes) / 4;
    } else if (op.op === 'conv' || op.op === 'dense') {
      floatValues += (op.weights.bytes + op.bias.bytes) / 4;
    }
  }
  const source = header.source;
  const evaluation = source['eval'] as EngineModelFacts['eval'] | null | undefined;
  return {
    file,
    title,
    about,
    bytes,
    model: header.model,
    modelOptions: header.modelOptions,
    size: header.preprocessing.size,
    channels: header.preprocessing.channels,
    labels: header.labels,
    dataset: typeof source['dataset'] === 'string' ? source['dataset'] : undefined,
    epochs: typeof source['epochs'] === 'string' ? source['epochs'] : undefined,
    eval: evaluation ?? undefined,
    binaryWeights,
    floatValues,
  };
}

/**
 * The first val image of each class of the model (in its label order), shrunk to
 * {@link SAMPLE_SIDE} px and saved as JPEG in `assets/samples/`; none, with the reason, when the
 * Imagenette cache is missing or the model's classes are not Imagenette's.
 */
async function writeSamples(
  assets: string,
  labels: string[],
): Promise<{ samples: EngineSample[]; missing: string | undefined }> {
  const val = join(defaultCacheDir(), 'imagenette', 'val');
  if (!existsSync(val)) {
    return {
      samples: [],
      missing:
        "they need the Imagenette dataset in the data cache of the site's build (run " +
        "'npx bireal data fetch imagenette', then build the site again)",
    };
  }
  const wnidOf = new Map(
    Object.entries(datasetManifest()['imagenette']?.labels ?? {}).map(([wnid, label]) => [
      label,
      wnid,
    ]),
  );
  const wnids = labels.map((label) => wnidOf.get(label));
  if (labels.length === 0 || wnids.some((w) => w === undefined)) {
    return { samples: [], missing: "the model's classes are not Imagenette's classes" };
  }
  const dir = join(assets, 'samples');
  await mkdir(dir, { recursive: true });
  const samples: EngineSample[] = [];
  for (const [i, wnid] of (wnids as string[]).entries()) {
    const files = (await readdir(join(val, wnid)).catch(() => [])).sort();
    const first = files.find((f) => /\.(jpe?g|png)$/i.test(f));
    if (first === undefined) continue;
    const file = `samples/${wnid}.jpg`;
    await sharp(join(val, wnid, first))
      .resize({
        width: SAMPLE_SIDE,
        height: SAMPLE_SIDE,
        fit: 'outside',
        withoutEnlargement: true,
      })
      .jpeg({ quality: 85 })
      .toFile(join(assets, file));
    samples.push({
      file,
      label: labels[i] as string,
      wnid,
      source: `imagenette val/${wnid}/${first}`,
    });
  }
  await writeFile(join(dir, 'samples.json'), JSON.stringify(samples, null, 2) + '\n');
  return {
    samples,
    missing: samples.length === 0 ? 'the Imagenette cache holds no val photos' : undefined,
  };
}

/** Writes the deploy page's assets into `assets` and returns what the page shows. */
export async function writeEngineAssets(assets: string): Promise<EngineAssets> {
  const wasm = new URL('../../src/engine/kernels.wasm', import.meta.url);
  if (!existsSync(wasm)) {
    throw new Error(
      `${wasm.pathname} is missing: run 'npm run build' first (it compiles the kernels)`,
    );
  }
  await mkdir(join(assets, 'engine'), { recursive: true });
  const kernels = 'engine/kernels.wasm';
  await copyFile(wasm, join(assets, kernels));
  await mkdir(join(assets, 'ort'), { recursive: true });
  const onnxRuntimeWasm = 'ort/ort-wasm-simd-threaded.wasm';
  const require = createRequire(import.meta.url);
  await copyFile(
    require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'),
    join(assets, onnxRuntimeWasm),
  );
  await mkdir(join(assets, 'models'), { recursive: true });
  const models: EngineModelFacts[] = [];
  let labels: string[] | undefined;
  for (const model of DEPLOY_MODELS) {
    if (!existsSync(model.file)) {
      console.warn(`site: ${model.file} is missing; the deploy page does without it`);
      continue;
    }
    const bytes = await readFile(model.file);
    const { header } = decodeDeployFile(new Uint8Array(bytes), model.file);
    if (labels !== undefined && header.labels.join('\n') !== labels.join('\n')) {
      throw new Error(`${model.file}: its classes differ from the deploy page's other models`);
    }
    labels = header.labels;
    const file = `models/${basename(model.file)}`;
    await copyFile(model.file, join(assets, file));
    models.push(facts(header, file, bytes.length, model));
  }
  if (labels === undefined) {
    return {
      models,
      kernels,
      onnxRuntimeWasm,
      samples: [],
      samplesMissing: 'there is no model in this build',
    };
  }
  const { samples, missing } = await writeSamples(assets, labels);
  return { models, kernels, onnxRuntimeWasm, samples, samplesMissing: missing };
}
