/**
 * The packed inference engine: runs a deploy file with the WebAssembly kernels of
 * `wasm/kernels.ts` (XNOR/popcount for 1-bit convolutions, SIMD float for the real layers), one
 * image at a time, in Node and in browsers alike. No tfjs involved. In Node, with the native
 * addon built, the 1-bit convolutions, sign packing, float convolutions and pooling run natively
 * instead (`native.ts`), on the same memory.
 */
import {
  decodeDeployFile,
  readBytes,
  readFloats,
  windowGeometry,
  type DeployFile,
  type DeployHeader,
  type DeployOp,
} from './format.js';
import {
  NativeKernels,
  nativeBinaryWeights,
  type FloatGeometry,
  type NativeIsa,
} from './native.js';

/** The kernels' exports (see wasm/kernels.ts); every pointer is a byte offset. */
interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  padF32(...args: number[]): void;
  convF32(...args: number[]): void;
  phaseSplit(...args: number[]): void;
  conv7x7s2Winograd(...args: number[]): void;
  pool(...args: number[]): void;
  globalAveragePool(input: number, pixels: number, c: number, out: number): void;
  packSigns(input: number, h: number, w: number, c: number, out: number, border: number): void;
  binaryConv(...args: number[]): void;
  addActivate(input: number, residual: number, n: number, activation: number, out: number): void;
  popcountPeak(input: number, weights: number, counts: number, rounds: number): number;
}

/** The compiled kernels, or where to get them: bytes, a URL, or a fetch Response. */
export type KernelSource = WebAssembly.Module | BufferSource | URL | string | Response;

let defaultModule: Promise<WebAssembly.Module> | undefined;

/**
 * Compiles the kernels; without a source, reads `kernels.wasm` next to this module (Node).
 * @param source - the kernels' wasm: its URL, bytes or compiled module.
 */
export async function compileKernels(source?: KernelSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source === undefined) {
    defaultModule ??= (async () => {
      const { readFile } = await import('node:fs/promises');
      return WebAssembly.compile(await readFile(new URL('./kernels.wasm', import.meta.url)));
    })();
    return defaultModule;
  }
  if (typeof source === 'string' || source instanceof URL) source = await fetch(source);
  if (source instanceof Response) {
    if (!source.ok) throw new Error(`kernels: HTTP ${source.status} for ${source.url}`);
    return WebAssembly.compile(await source.arrayBuffer());
  }
  return WebAssembly.compile(source as BufferSource);
}

async function instantiateKernels(source?: KernelSource): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(await compileKernels(source), {
    env: {
      abort: () => {
        throw new Error('engine kernel aborted');
      },
    },
  });
  return instance.exports as unknown as Kernels;
}

/** The kernels' activation codes (see addActivate). */
const ACTIVATIONS = { none: 0, relu: 1, clip: 2 } as const;

/** Height, width, channels of an activation. */
type Shape = [number, number, number];

/** Float and 1-bit buffers live at byte offsets of the kernels' memory, 16-byte aligned. */
class Arena {
  private top: number;
  constructor(private readonly kernels: Kernels) {
    this.top = Math.ceil(kernels.heapBase() / 16) * 16;
  }

  /** `bytes` bytes at an offset that is a multiple of `align` (a multiple of 16). */
  allocate(bytes: number, align = 16): number {
    const at = Math.ceil(this.top / align) * align;
    this.top = at + Math.ceil(bytes / 16) * 16;
    const { memory } = this.kernels;
    const missing = this.top - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return at;
  }

  /** Copies `values` into a new buffer and returns its offset. */
  copy(values: Float32Array | Int32Array | Uint32Array, align = 16): number {
    const at = this.allocate(values.byteLength, align);
    new Uint8Array(this.kernels.memory.buffer, at, values.byteLength).set(
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
    return at;
  }
}

/** Time and work of one step of {@link PackedNet.profile}: an operation or a sign packing. */
export interface OpProfile {
  name: string;
  op: DeployOp['op'] | 'sign';
  /** Output shape [height, width, channels]. */
  shape: [number, number, number];
  ms: number;
  /** 1-bit multiply-accumulates (binaryConv) and real multiply-accumulates (the rest). */
  binaryMacs: number;
  realMacs: number;
}

/** One prepared kernel call, with its cost and the index of the operation it belongs to. */
interface Step extends Omit<OpProfile, 'ms'> {
  opIndex: number;
  run(): void;
}

/** Options of {@link PackedNet.load}. */
export interface EngineOptions {
  /**
   * Whether to run on the native kernels (Node): true requires them, false never uses them;
   * by default they run where the addon is built and not turned off (`BIREAL_NATIVE=0`).
   */
  native?: boolean;
  /** The native 1-bit kernels' instruction set; default BIREAL_ENGINE_ISA, else the best one. */
  isa?: NativeIsa;
}

/** A class and its probability. */
export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/** The weights of one 1-bit conv in the kernels' layout. */
interface PackedWeights {
  words: Uint32Array; // [cout][k][k][words64] as 32-bit halves
  tapBits: Int32Array; // [cout][k*k]
}

/** Expands the file's dense sign bits [cout][k][k][cin] to 64-bit words per tap, and counts 1s. */
function packWeights(bits: Uint8Array, cout: number, taps: number, cin: number): PackedWeights {
  const words64 = Math.ceil(cin / 64);
  const words = new Uint32Array(cout * taps * words64 * 2);
  const tapBits = new Int32Array(cout * taps);
  for (let t = 0; t < cout * taps; t++) {
    for (let c = 0; c < cin; c++) {
      const bit = t * cin + c;
      if ((bits[bit >> 3]! >> (bit & 7)) & 1) {
        words[t * words64 * 2 + (c >> 5)]! |= 1 << (c & 31);
        tapBits[t]!++;
      }
    }
  }
  return { words, tapBits };
}

/**
 * Winograd F(4x4, 4x4) filter transform G' (7x4) at the points 0, 1, -1, 2, -2, 1/2 and
 * infinity, with the input transform's row scales (4, 6, 18, 72, 120, 45/32, 2) moved in (see
 * the kernels).
 */
const WINOGRAD_G = [
  [1 / 4, 0, 0, 0],
  [1 / 6, 1 / 6, 1 / 6, 1 / 6],
  [1 / 18, -1 / 18, 1 / 18, -1 / 18],
  [1 / 72, 2 / 72, 4 / 72, 8 / 72],
  [1 / 120, -2 / 120, 4 / 120, -8 / 120],
  [32 / 45, 16 / 45, 8 / 45, 4 / 45],
  [0, 0, 0, 1 / 2],
];

/**
 * The weights of a 7x7 stride-2 conv ([7][7][cin][cout]) as conv7x7s2Winograd takes them:
 * split into the 4x4 kernels of the input's four phases (channel (2py + px) * cin + c holds
 * taps [2a + py][2b + px], 0 past the 7x7), each transformed to G' g G'^T: [49][4 * cin][cout].
 */
function winogradWeights(weights: Float32Array, cin: number, cout: number): Float32Array {
  const chans = 4 * cin;
  const u = new Float32Array(49 * chans * cout);
  const tap = (ky: number, kx: number, c: number, co: number) =>
    ky < 7 && kx < 7 ? (weights[((ky * 7 + kx) * cin + c) * cout + co] as number) : 0;
  for (let py = 0; py < 2; py++) {
    for (let px = 0; px < 2; px++) {
      for (let c = 0; c < cin; c++) {
        const ch = (2 * py + px) * cin + c;
        for (let co = 0; co < cout; co++) {
          for (let i = 0; i < 7; i++) {
            for (let j = 0; j < 7; j++) {
              let sum = 0;
              for (let a = 0; a < 4; a++) {
                for (let b = 0; b < 4; b++) {
                  const g = WINOGRAD_G[i]![a]! * WINOGRAD_G[j]![b]!;
                  if (g !== 0) sum += g * tap(2 * a + py, 2 * b + px, c, co);
                }
              }
              u[((i * 7 + j) * chans + ch) * cout + co] = sum;
            }
          }
        }
      }
    }
  }
  return u;
}

/** The native kernels' description of a float conv (see {@link windowGeometry}). */
function floatGeometry(
  input: Shape,
  kernel: number,
  stride: number,
  gy: ReturnType<typeof windowGeometry>,
  gx: ReturnType<typeof windowGeometry>,
): FloatGeometry {
  return {
    input,
    kernel,
    stride,
    out: [gy.out, gx.out],
    padding: [gy.before, gx.before, gy.after, gx.after],
  };
}

/**
 * Which taps of a `kernel`-wide window fall inside an input of `size` pixels, for each of the
 * `out` output positions along one axis: the distinct ranges [first, end) and each position's
 * range number.
 */
function tapRanges(size: number, kernel: number, stride: number, before: number, out: number) {
  const ranges: [number, number][] = [];
  const index = new Int32Array(out);
  for (let o = 0; o < out; o++) {
    const start = o * stride - before;
    const [first, end] = [Math.max(0, -start), Math.min(kernel, size - start)];
    const found = ranges.findIndex((range) => range[0] === first && range[1] === end);
    index[o] = found >= 0 ? found : ranges.push([first, end]) - 1;
  }
  return { ranges, index };
}

/**
 * The binary conv kernel's `bases` [row range][column range][cout]: valid taps * cin, plus twice
 * the weight's 1 bits on the taps outside the input, which the kernel counts as mismatches
 * against the zero border (dot = base - 2 * mismatches).
 */
function dotBases(
  tapBits: Int32Array,
  kernel: number,
  cin: number,
  rows: [number, number][],
  cols: [number, number][],
): Int32Array {
  const cout = tapBits.length / (kernel * kernel);
  const bases = new Int32Array(rows.length * cols.length * cout);
  rows.forEach(([ky0, ky1], r) => {
    cols.forEach(([kx0, kx1], c) => {
      for (let co = 0; co < cout; co++) {
        let outside = 0;
        for (let ky = 0; ky < kernel; ky++) {
          for (let kx = 0; kx < kernel; kx++) {
            if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1) {
              outside += tapBits[(co * kernel + ky) * kernel + kx]!;
            }
          }
        }
        const valid = (ky1 - ky0) * (kx1 - kx0) * cin;
        bases[(r * cols.length + c) * cout + co] = valid + 2 * outside;
      }
    });
  });
  return bases;
}

/**
 * A deploy file loaded into the engine, planned for its input size: every weight and activation
 * buffer is placed once, so {@link run} only calls kernels.
 */
export class PackedNet {
  private readonly steps: Step[] = [];
  /** Shape and byte offset of every float activation. */
  private readonly shapes = new Map<string, Shape>();
  private readonly floats = new Map<string, number>();
  private readonly input: number;
  private readonly inputLength: number;

  private constructor(
    readonly header: DeployHeader,
    private readonly kernels: Kernels,
    file: DeployFile,
    private readonly native: NativeKernels | undefined,
  ) {
    const arena = new Arena(kernels);
    const { shapes, floats } = this;
    shapes.set('input', header.inputShape);
    const packed = new Map<string, { at: number; border: number }>();
    this.inputLength = header.inputShape[0] * header.inputShape[1] * header.inputShape[2];
    this.input = arena.allocate(this.inputLength * 4);
    floats.set('input', this.input);
    const k = kernels;

    const shapeOf = (name: string, op: DeployOp): Shape => {
      const shape = shapes.get(name);
      if (shape === undefined) throw new Error(`${op.name}: reads '${name}' before it is computed`);
      return shape;
    };
    const need = (ok: boolean, message: string, op: DeployOp) => {
      if (!ok) throw new Error(`${op.name} (${op.op}): ${message}`);
    };
    /** Where the residual added to an output of `shape` lies, after checking its shape. */
    const residualOf = (op: DeployOp, name: string, shape: Shape): number => {
      const r = shapeOf(name, op);
      need(
        r.join() === shape.join(),
        `residual '${name}' is ${r.join('x')}, the output ${shape.join('x')}`,
        op,
      );
      return floats.get(name) as number;
    };
    /** The sign bits of a float tensor with a border of `border` zero pixels, packed on demand. */
    const signsOf = (name: string, border: number, op: DeployOp) => {
      const found = packed.get(name);
      if (found !== undefined && found.border >= border) return found;
      const [h, w, c] = shapeOf(name, op);
      const at = arena.allocate((h + 2 * border) * (w + 2 * border) * Math.ceil(c / 64) * 8);
      const args = [floats.get(name) as number, h, w, c, at, border] as const;
      this.steps.push({
        name: `${name} (sign)`,
        op: 'sign',
        opIndex: header.ops.indexOf(op),
        shape: [h, w, c],
        binaryMacs: 0,
        realMacs: 0,
        run: native?.packSigns([...args]) ?? (() => k.packSigns(...args)),
      });
      packed.set(name, { at, border });
      return { at, border };
    };

    for (const [opIndex, op] of header.ops.entries()) {
      const [h, w, c] = shapeOf(op.input, op);
      const input = floats.get(op.input) as number;
      let shape: Shape;
      let run: () => void;
      let binaryMacs = 0;
      let realMacs = 0;
      switch (op.op) {
        case 'conv': {
          need(op.cin === c, `expects ${op.cin} input channels, gets ${c}`, op);
          need(op.cout % 8 === 0, `needs output channels in multiples of 8, has ${op.cout}`, op);
          const gy = windowGeometry(h, op.kernel, op.stride, op.padding);
          const gx = windowGeometry(w, op.kernel, op.stride, op.padding);
          shape = [gy.out, gx.out, op.cout];
          const out = arena.allocate(gy.out * gx.out * op.cout * 4);
          floats.set(op.output, out);
          realMacs = gy.out * gx.out * op.cout * op.kernel * op.kernel * c;
          const residual = op.residual === undefined ? 0 : residualOf(op, op.residual, shape);
          const activation = ACTIVATIONS[op.activation ?? 'none'];
          const length = shape[0] * shape[1] * shape[2];
          const finish = () => {
            if (residual !== 0 || activation !== 0) {
              k.addActivate(out, residual, length, activation, out);
            }
          };
          if (native !== undefined) {
            const geometry = floatGeometry([h, w, c], op.kernel, op.stride, gy, gx);
            const [weights, bias] = [readFloats(file, op.weights), readFloats(file, op.bias)];
            const conv = native.conv(geometry, op.cout, weights, bias);
            run = () => {
              conv(input, out);
              finish();
            };
            break;
          }
          const bias = arena.copy(readFloats(file, op.bias));
          if (op.kernel === 7 && op.stride === 2) {
            // The ResNet stem, by Winograd's algorithm: a quarter of a direct conv's multiplies.
            const chans = 4 * c;
            const [ph, pw] = [4 * Math.ceil(gy.out / 4) + 3, 4 * Math.ceil(gx.out / 4) + 3];
            const phases = arena.allocate(ph * pw * chans * 4); // zero: the padding stays so
            const u = arena.copy(winogradWeights(readFloats(file, op.weights), c, op.cout));
            const v = arena.allocate(4 * 49 * chans * 4);
            const m = arena.allocate((8 * 49 * 4 + 49 * chans) * 4);
            run = () => {
              k.phaseSplit(input, h, w, c, gy.before, gx.before, phases, ph, pw);
              k.conv7x7s2Winograd(phases, pw, chans, u, bias, op.cout, out, gy.out, gx.out, v, m);
              finish();
            };
            break;
          }
          const weights = arena.copy(readFloats(file, op.weights));
          const [top, bottom, left, right] = [gy.before, gy.after, gx.before, gx.after];
          const padded = top + bottom + left + right > 0;
          const [hp, wp] = [h + top + bottom, w + left + right];
          const source = padded ? arena.allocate(hp * wp * c * 4) : input;
          // A 1x1 stride-1 conv is a matrix product over all pixels: one row of h*w pixels
          // lets the kernel block 4 pixels everywhere, not only within each image row.
          const flat = op.kernel === 1 && op.stride === 1 && !padded;
          const rows = flat ? [1, shape[0] * shape[1]] : [shape[0], shape[1]];
          run = () => {
            if (padded) k.padF32(input, h, w, c, source, top, left, bottom, right);
            k.convF32(source, wp, c, weights, bias, op.cout, op.kernel, op.stride, out, ...rows);
            finish();
          };
          break;
        }
        case 'binaryConv': {
          need(op.cin === c, `expects ${op.cin} input channels, gets ${c}`, op);
          need(c % 4 === 0, `needs input channels in multiples of 4, has ${c}`, op);
          const gy = windowGeometry(h, op.kernel, op.stride, op.padding);
          const gx = windowGeometry(w, op.kernel, op.stride, op.padding);
          shape = [gy.out, gx.out, op.cout];
          const { at: signs, border } = signsOf(op.input, op.kernel >> 1, op);
          const taps = op.kernel * op.kernel;
          const weights = packWeights(readBytes(file, op.signs), op.cout, taps, c);
          const wordsAt =
            native === undefined
              ? arena.copy(weights.words)
              : arena.copy(
                  nativeBinaryWeights(weights.words, op.cout, taps, Math.ceil(c / 64), native.isa),
                  64,
                );
          const rows = tapRanges(h, op.kernel, op.stride, gy.before, gy.out);
          const cols = tapRanges(w, op.kernel, op.stride, gx.before, gx.out);
          const bases = arena.copy(
            dotBases(weights.tapBits, op.kernel, c, rows.ranges, cols.ranges),
          );
          const scale = arena.copy(readFloats(file, op.scale));
          const bias = arena.copy(readFloats(file, op.bias));
          const residual = op.residual === undefined ? 0 : residualOf(op, op.residual, shape);
          need(op.cout % 4 === 0, `needs output channels in multiples of 4, has ${op.cout}`, op);
          const out = arena.allocate(shape[0] * shape[1] * shape[2] * 4);
          const scratch = arena.allocate(4 * op.cout * 4);
          floats.set(op.output, out);
          binaryMacs = shape[0] * shape[1] * op.cout * taps * c;
          const args = [
            signs,
            w,
            c,
            border,
            wordsAt,
            op.cout,
            op.kernel,
            op.stride,
            gy.before,
            gx.before,
            bases,
            arena.copy(rows.index),
            arena.copy(cols.index),
            cols.ranges.length,
            scale,
            bias,
            residual,
            out,
            shape[0],
            shape[1],
            scratch,
          ];
          run = native?.binaryConv(args) ?? (() => k.binaryConv(...args));
          break;
        }
        case 'activation': {
          need(c % 4 === 0, `needs channels in multiples of 4, has ${c}`, op);
          shape = [h, w, c];
          const out = arena.allocate(h * w * c * 4);
          floats.set(op.output, out);
          const activation = ACTIVATIONS[op.activation];
          run = () => k.addActivate(input, 0, h * w * c, activation, out);
          break;
        }
        case 'maxPool':
        case 'avgPool': {
          need(c % 4 === 0, `needs channels in multiples of 4, has ${c}`, op);
          const gy = windowGeometry(h, op.size, op.stride, op.padding);
          const gx = windowGeometry(w, op.size, op.stride, op.padding);
          shape = [gy.out, gx.out, c];
          const out = arena.allocate(gy.out * gx.out * c * 4);
          floats.set(op.output, out);
          const average = op.op === 'avgPool' ? 1 : 0;
          const args = [
            input,
            h,
            w,
            c,
            op.size,
            op.stride,
            gy.before,
            gx.before,
            out,
            gy.out,
            gx.out,
            average,
          ];
          run = native?.pool(args) ?? (() => k.pool(...args));
          break;
        }
        case 'globalAvgPool': {
          need(c % 4 === 0, `needs channels in multiples of 4, has ${c}`, op);
          shape = [1, 1, c];
          const out = arena.allocate(c * 4);
          floats.set(op.output, out);
          run = () => k.globalAveragePool(input, h * w, c, out);
          break;
        }
        case 'dense': {
          need(h * w * c === op.cin, `expects ${op.cin} inputs, gets ${h * w * c}`, op);
          realMacs = op.cin * op.cout;
          shape = [1, 1, op.cout];
          if (native !== undefined) {
            const out = arena.allocate(op.cout * 4);
            floats.set(op.output, out);
            const dense = native.conv(
              { input: [1, 1, op.cin], kernel: 1, stride: 1, out: [1, 1], padding: [0, 0, 0, 0] },
              op.cout,
              readFloats(file, op.weights),
              readFloats(file, op.bias),
            );
            run = () => dense(input, out);
            break;
          }
          // The float conv kernel computes 8 outputs at a time: pad the classes to a multiple of 8.
          const cout = Math.ceil(op.cout / 8) * 8;
          const weights = new Float32Array(op.cin * cout);
          const given = readFloats(file, op.weights);
          for (let i = 0; i < op.cin; i++) {
            weights.set(given.subarray(i * op.cout, (i + 1) * op.cout), i * cout);
          }
          const bias = new Float32Array(cout);
          bias.set(readFloats(file, op.bias));
          const [weightsAt, biasAt] = [arena.copy(weights), arena.copy(bias)];
          const out = arena.allocate(cout * 4);
          floats.set(op.output, out);
          run = () => k.convF32(input, 1, op.cin, weightsAt, biasAt, cout, 1, 1, out, 1, 1);
          break;
        }
        default:
          throw new Error(`unknown operation '${(op as { op: string }).op}'`);
      }
      shapes.set(op.output, shape);
      this.steps.push({ name: op.name, op: op.op, opIndex, shape, binaryMacs, realMacs, run });
    }
    if (!floats.has(header.output)) {
      throw new Error(`no operation computes the output '${header.output}'`);
    }
  }

  /**
   * Loads a deploy file's bytes; `kernels` says where the wasm comes from (default: beside this
   * module, Node); `options` whether the native kernels run (default: in Node, where built).
   * @param bytes - the deploy file's bytes.
   * @param kernels - the kernels' wasm: its URL, bytes or compiled module.
   * @param name - what errors call the file (e.g. its path).
   * @param options - whether the native kernels run.
   */
  static async load(
    bytes: Uint8Array,
    kernels?: KernelSource,
    name?: string,
    options: EngineOptions = {},
  ): Promise<PackedNet> {
    const file = decodeDeployFile(bytes, name);
    const wasm = await instantiateKernels(kernels);
    let native: NativeKernels | undefined;
    if (options.native !== false) {
      const loaded = await NativeKernels.load(wasm.memory, options.isa);
      if (typeof loaded !== 'string') native = loaded;
      else if (options.native === true) throw new Error(`native engine kernels: ${loaded}`);
    }
    return new PackedNet(file.header, wasm, file, native);
  }

  /**
   * What runs the engine: `wasm`, or `native ISA` with the instruction set of the 1-bit kernels,
   * e.g. `native avx512-vpopcntdq` (the float layers then run on oneDNN).
   */
  get backend(): string {
    return this.native === undefined ? 'wasm' : `native ${this.native.isa}`;
  }

  /** The input tensor's length: size * size * channels. */
  get inputSize(): number {
    return this.inputLength;
  }

  private setInput(image: Float32Array): void {
    if (image.length !== this.inputLength) {
      const shape = this.header.inputShape.join('x');
      throw new Error(
        `input has ${image.length} values; this model takes ${shape} = ${this.inputLength}`,
      );
    }
    new Float32Array(this.kernels.memory.buffer, this.input, image.length).set(image);
  }

  /**
   * Logits of one normalised image, HWC float32 as the training pipeline produces it.
   * @param image - the prepared image.
   */
  run(image: Float32Array): Float32Array {
    this.setInput(image);
    for (const step of this.steps) step.run();
    return this.tensor(this.header.output);
  }

  /**
   * Logits of `n` images (HWC float32, back to back), one after the other: n * classes values.
   * @param images - the prepared images.
   * @param n - how many.
   */
  runBatch(images: Float32Array, n: number): Float32Array {
    if (images.length !== n * this.inputLength) {
      throw new Error(
        `${n} images need ${n * this.inputLength} values (${this.inputLength} each); got ${images.length}`,
      );
    }
    const classes = this.header.labels.length;
    const logits = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      const image = images.subarray(i * this.inputLength, (i + 1) * this.inputLength);
      logits.set(this.run(image), i * classes);
    }
    return logits;
  }

  /**
   * {@link run}, timing every operation (sign packing is listed as its own step).
   * @param image - the prepared image.
   */
  profile(image: Float32Array): { logits: Float32Array; ops: OpProfile[] } {
    this.setInput(image);
    const ops = this.steps.map(({ run, opIndex: _, ...step }) => {
      const start = performance.now();
      run();
      return { ...step, ms: performance.now() - start };
    });
    return { logits: this.tensor(this.header.output), ops };
  }

  /**
   * Runs operation `index` of the header's list alone (with the sign packing it needs) on the
   * activations as they stand: with {@link write}, a test feeds each layer the reference's input.
   * @param index - the operation's index in the header.
   */
  runOperation(index: number): void {
    for (const step of this.steps) if (step.opIndex === index) step.run();
  }

  /**
   * Overwrites the named activation (HWC float32).
   * @param name - the activation's name in the header.
   * @param values - its new values.
   */
  write(name: string, values: Float32Array): void {
    const shape = this.shapes.get(name);
    const at = this.floats.get(name);
    if (shape === undefined || at === undefined) throw new Error(`no tensor named '${name}'`);
    if (values.length !== shape[0] * shape[1] * shape[2]) {
      throw new Error(`'${name}' is ${shape.join('x')}; got ${values.length} values`);
    }
    new Float32Array(this.kernels.memory.buffer, at, values.length).set(values);
  }

  /**
   * A copy of the named activation from the last run (HWC float32).
   * @param name - the activation's name in the header.
   */
  tensor(name: string): Float32Array {
    const shape = this.shapes.get(name);
    const at = this.floats.get(name);
    if (shape === undefined || at === undefined) throw new Error(`no tensor named '${name}'`);
    const length = shape[0] * shape[1] * shape[2];
    return new Float32Array(this.kernels.memory.buffer, at, length).slice();
  }

  /**
   * The top `k` classes of `logits` with their softmax probabilities.
   * @param logits - what `run` returned.
   * @param k - how many classes.
   */
  top(logits: Float32Array, k = 5): Prediction[] {
    const max = Math.max(...logits);
    const exp = Array.from(logits, (v) => Math.exp(v - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    return exp
      .map((e, index) => ({
        index,
        label: this.header.labels[index] ?? String(index),
        probability: e / sum,
      }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, k);
  }
}

/**
 * Binary ops per second of the 1-bit convs' fastest inner loop with its data in L1 (see the
 * kernels' popcountPeak): the ceiling a 1-bit convolution can reach on this core.
 * @param kernels - see `compileKernels`.
 * @param seconds - how long to measure.
 */
export async function popcountThroughput(kernels?: KernelSource, seconds = 0.5): Promise<number> {
  const k = await instantiateKernels(kernels);
  const arena = new Arena(k);
  const input = arena.allocate(18 * 8);
  const weights = arena.allocate(18 * 8);
  const counts = arena.allocate(8 * 4);
  for (const at of [input, weights]) {
    const bytes = new Uint8Array(k.memory.buffer, at, 18 * 8);
    for (let i = 0; i < bytes.length; i++) bytes[i] = ((at + i) * 2654435761) >>> 24;
  }
  const opsPerRound = 2 * 4 * 9 * 64; // channels x pixels x taps x bits
  const rate = (rounds: number) => {
    const start = performance.now();
    k.popcountPeak(input, weights, counts, rounds);
    return (rounds * opsPerRound) / ((performance.now() - start) / 1000);
  };
  let rounds = 1024;
  while ((rounds * opsPerRound) / rate(rounds) < 0.02) rounds *= 2; // until a call takes 20 ms
  // The fastest of repeated calls: other load on the machine only ever slows a call down.
  let best = 0;
  for (const begin = performance.now(); performance.now() - begin < seconds * 1000;) {
    best = Math.max(best, rate(rounds));
  }
  return best;
}
