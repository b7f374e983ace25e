/**
 * The machine a benchmark ran on, printed first by every benchmark (bench/main.ts): speed
 * differs by CPU class (AVX-512 vs AVX2 hosts), so every recorded number names its CPU, the
 * instruction sets it has and the caps that made the kernels use less.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Environment variables that cap the kernels' instruction set below the CPU's. */
const CAPS = ['ONEDNN_MAX_CPU_ISA', 'BIREAL_ENGINE_ISA', 'ATEN_CPU_CAPABILITY'];

/** The first value of `field` in /proc/cpuinfo, or undefined. */
function cpuinfo(field: string): string | undefined {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    return new RegExp(`^${field}\\s*:(.*)$`, 'm').exec(text)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** The widest vector instruction set of this CPU that the kernels use. */
function vectorIsa(): string {
  const line = cpuinfo('flags');
  if (line === undefined) return 'instruction sets unknown (no /proc/cpuinfo)';
  const flags = new Set(line.split(/\s+/));
  if (flags.has('avx512_vpopcntdq')) return 'AVX-512 with VPOPCNTDQ';
  if (flags.has('avx512f')) return 'AVX-512 without VPOPCNTDQ';
  return flags.has('avx2') ? 'AVX2, no AVX-512' : 'no AVX2';
}

/**
 * E.g. `host: AMD EPYC 7B13 (family 25 model 1), 2 cores, AVX2, no AVX-512`, with the caps in
 * effect. (Virtual machines often show a generic model name: family and model tell more.)
 */
export function describeHost(): string {
  const name = cpus()[0]?.model.trim() || 'unknown CPU';
  const [family, number] = [cpuinfo('cpu family'), cpuinfo('model')];
  const model = family === undefined ? name : `${name} (family ${family} model ${number})`;
  const caps = CAPS.filter((key) => process.env[key]).map((key) => `${key}=${process.env[key]}`);
  const capped = caps.length > 0 ? `; kernels capped by ${caps.join(' ')}` : '';
  return `host: ${model}, ${cpus().length} cores, ${vectorIsa()}${capped}`;
}
