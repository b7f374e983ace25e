/**
 * The packed engine's native kernels (Node only), from the addon in `native/` (`engine.cc`):
 * the 1-bit convolutions on AVX-512 VPOPCNTDQ or AVX2, sign packing and pooling on AVX2, the
 * float convolutions and dense layers on oneDNN, all on one thread and on the wasm engine's own
 * memory, so that {@link PackedNet} only changes which function a step calls.
 *
 * `BIREAL_NATIVE=0` turns the addon off; `BIREAL_ENGINE_ISA=avx2` (or `avx512-vpopcntdq`) picks
 * the 1-bit kernels' instruction set instead of the best this CPU has.
 */

import { loadNativeAddon } from '../native-addon.js';

/** Instruction sets of the native 1-bit kernels, best first. */
export const NATIVE_ISAS = ['avx512-vpopcntdq', 'avx2'] as const;
/** One of {@link NATIVE_ISAS}. */
export type NativeIsa = (typeof NATIVE_ISAS)[number];

/** A float step planned by the addon (an opaque handle). */
type FloatStep = object;

/** The addon's engine functions (see native/engine.cc); offsets are bytes into `memory`. */
interface EngineAddon {
  engineIsas(): NativeIsa[];
  enginePackSigns(memory: ArrayBuffer, args: Int32Array): void;
  enginePool(memory: ArrayBuffer, args: Int32Array): void;
  engineBinaryConv(isa: number, memory: ArrayBuffer, args: Int32Array): void;
  engineConvPlan(geometry: Int32Array, weights: Float32Array, bias: Float32Array): FloatStep;
  engineRun(step: FloatStep, memory: ArrayBuffer, input: number, out: number): void;
}

/** The addon's numbers for the 1-bit kernels' instruction sets. */
export const ISA_NUMBERS: Record<NativeIsa, number> = { avx2: 0, 'avx512-vpopcntdq': 1 };

/**
 * The 1-bit kernels' instruction set among those this CPU runs (`available`, best first):
 * `wanted`, by default BIREAL_ENGINE_ISA, else the best; undefined when the CPU runs none.
 * Throws when the wanted one is unknown or not on this CPU.
 */
export function chooseIsa(
  available: NativeIsa[],
  wanted: string | undefined = process.env['BIREAL_ENGINE_ISA'] || undefined,
): NativeIsa | undefined {
  if (wanted !== undefined && !(NATIVE_ISAS as readonly string[]).includes(wanted)) {
    throw new Error(`unknown instruction set '${wanted}'; one of ${NATIVE_ISAS.join(', ')}`);
  }
  const chosen = (wanted as NativeIsa | undefined) ?? available[0];
  if (chosen !== undefined && !available.includes(chosen)) {
    throw new Error(`this CPU cannot run '${chosen}'; it runs: ${available.join(', ') || 'none'}`);
  }
  return chosen;
}

/** The addon with its engine kernels, or why it is not available. */
async function loadAddon(): Promise<EngineAddon | string> {
  const addon = await loadNativeAddon();
  if (typeof addon === 'string') return addon;
  if (!('engineBinaryConv' in addon)) {
    return 'the native addon predates the engine kernels; run scripts/setup.sh';
  }
  return addon as EngineAddon;
}

/**
 * The instruction sets this CPU runs the native 1-bit kernels on, best first; throws why when
 * the native kernels are not available.
 */
export async function nativeIsas(): Promise<NativeIsa[]> {
  const addon = await loadAddon();
  if (typeof addon === 'string') throw new Error(`native engine kernels: ${addon}`);
  return addon.engineIsas();
}

/** The engine's output and padding geometry of a float conv. */
export interface FloatGeometry {
  /** Input height, width, channels. */
  input: [number, number, number];
  kernel: number;
  stride: number;
  /** Output height, width. */
  out: [number, number];
  /** Zero cells: top, left, bottom, right. */
  padding: [number, number, number, number];
}

/** The native kernels, bound to the memory of one engine's wasm kernels. */
export class NativeKernels {
  private constructor(
    private readonly addon: EngineAddon,
    /** The 1-bit kernels' instruction set. */
    readonly isa: NativeIsa,
    private readonly memory: WebAssembly.Memory,
  ) {}

  /**
   * Loads the addon for `memory`, with the 1-bit kernels on `isa` (default: BIREAL_ENGINE_ISA,
   * else the best this CPU has). Returns why not when the addon is off or not built; throws
   * when the requested instruction set is unknown or not on this CPU.
   */
  static async load(memory: WebAssembly.Memory, isa?: NativeIsa): Promise<NativeKernels | string> {
    const addon = await loadAddon();
    if (typeof addon === 'string') return addon;
    const chosen = chooseIsa(addon.engineIsas(), isa);
    if (chosen === undefined) return 'this CPU has neither AVX-512 VPOPCNTDQ nor AVX2';
    return new NativeKernels(addon, chosen, memory);
  }

  /** The wasm packSigns, on these arguments (byte offsets as the wasm kernel takes them). */
  packSigns(args: number[]): () => void {
    const values = Int32Array.from(args);
    return () => this.addon.enginePackSigns(this.memory.buffer, values);
  }

  /**
   * The wasm binaryConv, on its arguments, except that the weights are in the layout of
   * {@link nativeBinaryWeights} for this instruction set.
   */
  binaryConv(args: number[]): () => void {
    const [isa, values] = [ISA_NUMBERS[this.isa], Int32Array.from(args)];
    return () => this.addon.engineBinaryConv(isa, this.memory.buffer, values);
  }

  /** A float conv, out = conv(input) + bias, weights [k][k][cin][cout]: runs on byte offsets. */
  conv(
    geometry: FloatGeometry,
    cout: number,
    weights: Float32Array,
    bias: Float32Array,
  ): (input: number, out: number) => void {
    const { input, kernel, stride, out, padding } = geometry;
    const shape = Int32Array.from([...input, kernel, stride, cout, ...out, ...padding]);
    return this.floatStep(this.addon.engineConvPlan(shape, weights, bias));
  }

  /** The wasm pool (max or average), on its arguments (byte offsets as it takes them). */
  pool(args: number[]): () => void {
    const values = Int32Array.from(args);
    return () => this.addon.enginePool(this.memory.buffer, values);
  }

  private floatStep(step: FloatStep): (input: number, out: number) => void {
    return (input, out) => this.addon.engineRun(step, this.memory.buffer, input, out);
  }
}

/**
 * The 1-bit weights of a conv as the native kernels on `isa` take them: from the wasm kernels'
 * layout ([cout][taps][words] 64-bit words, as 32-bit halves) to groups of 8 output channels,
 * [ceil(cout / 8)][taps][words][8 channels], zero past cout. On AVX2 each channel's word comes
 * split into nibbles, [..][words][2][8 channels]: its low nibbles (w & 0x0f0f...), then its high
 * ones ((w >> 4) & 0x0f0f...), the indices of the kernel's nibble lookups.
 */
export function nativeBinaryWeights(
  words: Uint32Array,
  cout: number,
  taps: number,
  words64: number,
  isa: NativeIsa,
): Uint32Array {
  const perChannel = taps * words64;
  const split = isa === 'avx2';
  const tapWords = split ? 16 : 8;
  const out = new Uint32Array(Math.ceil(cout / 8) * perChannel * tapWords * 2);
  for (let co = 0; co < cout; co++) {
    for (let t = 0; t < perChannel; t++) {
      const from = (co * perChannel + t) * 2;
      const to = (((co >> 3) * perChannel + t) * tapWords + (co & 7)) * 2;
      for (const half of [0, 1]) {
        const value = words[from + half] as number;
        if (split) {
          out[to + half] = value & 0x0f0f0f0f;
          out[to + 16 + half] = (value >>> 4) & 0x0f0f0f0f;
        } else {
          out[to + half] = value;
        }
      }
    }
  }
  return out;
}
