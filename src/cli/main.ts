#!/usr/bin/env node
/** The `bireal` command line. */
import { parseArgs } from 'node:util';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../backend/index.js';
import { costSummary, formatSummary } from '../analysis/summary.js';
import { UsageError, positiveInt } from './usage.js';
import { run as dataCommand, usage as dataUsage } from './data.js';
import { run as trainCommand, usage as trainUsage } from './train.js';
import { run as evalCommand, usage as evalUsage } from './eval.js';
import { run as experimentCommand, usage as experimentUsage } from './experiment.js';
import { run as reportCommand, usage as reportUsage } from './report.js';
import { exportUsage, importUsage, inferUsage, runExport, runImport, runInfer } from './deploy.js';
import { MODEL_NAMES, createModel, describeModel, type ModelName } from '../models/index.js';

const USAGE = `usage: bireal <command> [options]

commands:
  summary --model NAME [--input 224] [--classes 1000] [--small-input] [--width 1] [--json]
      per-layer and total cost: parameters by precision, memory bits, binary MACs, FLOPs
  compare [--models a,b,...] [--input 224] [--classes 1000] [--json]
      memory and FLOPs of several models side by side, with savings vs the real ResNet
  models
      list the model names
${dataUsage}
  ${trainUsage}
  ${evalUsage}
  ${experimentUsage}
  ${reportUsage}
  ${exportUsage}
  ${importUsage}
  ${inferUsage}

models: ${MODEL_NAMES.join(', ')}`;

function modelName(name: string): ModelName {
  if (!(MODEL_NAMES as string[]).includes(name)) {
    throw new UsageError(`unknown model '${name}'; valid: ${MODEL_NAMES.join(', ')}`);
  }
  return name as ModelName;
}

async function compare(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      models: { type: 'string', default: 'resnet18,bireal18,resnet34,bireal34' },
      input: { type: 'string' },
      classes: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const names = values.models.split(',').map(modelName);
  const inputSize = positiveInt('input', values.input, 224);
  const classes = positiveInt('classes', values.classes, 1000);
  await initBackend({ log: false });
  const rows = names.map((name) => {
    const model = createModel(name, { inputSize, classes });
    const { params, binaryParams, memoryBits, flops } = costSummary(model);
    model.dispose();
    return { model: name, params, binaryParams, memoryBits, flops };
  });
  if (values.json) {
    console.log(JSON.stringify({ inputSize, classes, models: rows }, null, 2));
    return;
  }
  console.log(
    `cost at ${inputSize}x${inputSize}, ${classes} classes (FLOPs = real + binary MACs / 64)`,
  );
  console.log(
    'model                  params  binary   memory Mbit     MB      FLOPs  vs real ResNet',
  );
  for (const row of rows) {
    const depth = row.model.match(/(18|34)$/)?.[1];
    const real = rows.find((r) => r.model === `resnet${depth}`);
    const versus =
      real && real !== row
        ? `${(real.memoryBits / row.memoryBits).toFixed(1)}x smaller, ${(real.flops / row.flops).toFixed(1)}x fewer FLOPs`
        : '';
    console.log(
      `${row.model.padEnd(21)} ${(row.params / 1e6).toFixed(2).padStart(6)}M ${(row.binaryParams / 1e6).toFixed(2).padStart(6)}M ${(row.memoryBits / 1e6).toFixed(1).padStart(12)} ${(row.memoryBits / 8e6).toFixed(2).padStart(6)} ${row.flops.toExponential(2).padStart(10)}  ${versus}`,
    );
  }
}

async function summary(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      input: { type: 'string' },
      classes: { type: 'string' },
      width: { type: 'string' },
      'small-input': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.model === undefined) throw new UsageError('summary needs --model NAME');
  const name = modelName(values.model);
  const width = values.width === undefined ? 1 : Number(values.width);
  if (!(width > 0))
    throw new UsageError(`--width must be a positive number, got '${values.width}'`);
  const inputSize = positiveInt('input', values.input, 224);
  const classes = positiveInt('classes', values.classes, 1000);
  await initBackend({ log: false });
  const model = createModel(name, {
    inputSize,
    classes,
    width,
    smallInput: values['small-input'] ?? false,
  });
  const cost = costSummary(model);
  model.dispose();
  const title = `${name}: ${describeModel(name)}, ${inputSize}x${inputSize} input, ${classes} classes`;
  console.log(
    values.json
      ? JSON.stringify({ model: name, inputSize, classes, ...cost }, null, 2)
      : formatSummary(cost, title),
  );
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  summary,
  compare,
  data: dataCommand,
  train: trainCommand,
  eval: evalCommand,
  experiment: experimentCommand,
  report: reportCommand,
  export: runExport,
  import: runImport,
  infer: runInfer,
  models: async () => {
    for (const name of MODEL_NAMES) console.log(`${name.padEnd(24)}${describeModel(name)}`);
  },
};

/** The usage of the commands that have their own (the others are described in USAGE only). */
const COMMAND_USAGE: Record<string, string> = {
  data: dataUsage,
  train: trainUsage,
  eval: evalUsage,
  experiment: experimentUsage,
  report: reportUsage,
  export: exportUsage,
  import: importUsage,
  infer: inferUsage,
};

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h';

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || isHelp(command) || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run !== undefined && rest.some(isHelp)) {
    const own = COMMAND_USAGE[command];
    console.log(own === undefined ? USAGE : `usage: bireal ${own.trim()}`);
    return 0;
  }
  try {
    if (run === undefined) throw new UsageError(`unknown command '${command}'`);
    await run(rest);
    return Number(process.exitCode ?? 0); // a command may set 1 (e.g. bad files found)
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`bireal: ${(error as Error).message}`);
    if (usage) {
      console.error(`\n${USAGE}`);
      return 2;
    }
    return 1;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
