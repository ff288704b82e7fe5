/**
 * Loads grodd's native addon (native/grodd_native.cc, built at `npm install`
 * by native/build.js into native/build/grodd_native.node against libtorch)
 * and describes its interface. Absent or unloadable addons are reported with
 * the reason and how to get one, never thrown at import.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DataType } from '@tensorflow/tfjs-core';

/** The addon's functions; handles are integers into its tensor table. */
export interface NativeAddon {
  /** Keeps `meta`, where every call writes the dtype code and shape of its first outputs. */
  init(meta: Int32Array): void;
  fromArray(values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: number): number;
  toArray(h: number): Float32Array | Int32Array | Uint8Array;
  free(...handles: number[]): void;
  /** A second handle to the same tensor. */
  alias(h: number): number;
  /** Writes h's dtype code and shape to the metadata scratch. */
  meta(h: number): void;
  /** The id of ATen operator `aten::name.overload`; throws if there is none. */
  op(name: string, overload: string): number;
  schema(op: number): string;
  /** Runs an op through ATen's dispatcher: a handle or number, or an array of them for several outputs. */
  call(op: number, ...args: unknown[]): number | number[];
  conv2d(x: number, filter: number, stride: number[], dilation: number[], pad: number[], nchw: boolean): number;
  conv2dBackpropInput(dy: number, filter: number, inputShape: number[], stride: number[], dilation: number[], pad: number[], nchw: boolean): number;
  conv2dBackpropFilter(x: number, dy: number, filterShape: number[], stride: number[], dilation: number[], pad: number[], nchw: boolean): number;
  /** Training-mode batch norm of NHWC x: [y, mean, biased variance, invstd]. */
  bnTrain(x: number, gamma: number, beta: number, eps: number): number[];
  /** Its backward pass: [dx, dgamma, dbeta]. */
  bnBackward(dy: number, x: number, gamma: number, mean: number, invstd: number, eps: number): number[];
  /** The gradient of the backward pass given upstream a (for dx), b (dgamma), c (dbeta): [d dy, d x, d gamma]. */
  bnDoubleBackward(a: number, b: number, c: number, dy: number, x: number, gamma: number, mean: number, invstd: number): number[];
  /** One SGD update: [w', buf'] (buf 0 and only [w'] without momentum). */
  sgdUpdate(w: number, g: number, buf: number, lr: number, momentum: number, weightDecay: number, nesterov: boolean): number[];
  /** One Adam update (step = the update's number): [w', m', v']. */
  adamUpdate(w: number, g: number, m: number, v: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): number[];
  /** Use the device-generic (CUDA) forms of the fused kernels on the CPU too, for tests. */
  setGeneric(on: boolean): void;
  setThreads(n: number): number;
  setDevice(device: string): string;
  info(): { torch: string; threads: number; device: string; cuda: boolean; mkldnn: boolean; config: string };
  memory(): { tensors: number; bytes: number; cachedBytes: number };
  /** Returns the caching allocator's free blocks to the system. */
  emptyCache(): void;
}

/** dtype codes of the addon (grodd_native.cc's `Code`). */
export const DTYPE_CODE = { float32: 0, int32: 1, bool: 2 } as const;
export const INT64 = 3;
export const FLOAT64 = 4;
const CODE_DTYPE: Record<number, DataType> = { 0: 'float32', 1: 'int32', 2: 'bool' };

/** The tfjs dtype of an addon dtype code (int64 and float64 map to what they are cast to). */
export function dtypeOf(code: number): DataType {
  if (code === INT64) return 'int32';
  if (code === FLOAT64) return 'float32';
  const d = CODE_DTYPE[code];
  if (d === undefined) throw new Error(`native backend: unsupported ATen dtype (code ${code})`);
  return d;
}

export function dtypeCode(dtype: DataType): number {
  const c = (DTYPE_CODE as Record<string, number>)[dtype];
  if (c === undefined) throw new Error(`native backend: dtype '${dtype}' is not supported (float32, int32 and bool are)`);
  return c;
}

/** How to get the native backend, for messages. */
export const NATIVE_HINT =
  'install libtorch (Debian/Ubuntu: `apt-get install libtorch-dev`; or `pip install torch`; or set LIBTORCH to an unpacked libtorch zip), then `npm run build:native`';

/** The package root (the folder with grodd's package.json), from this file's location in src/ or a compiled copy. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'grodd') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the grodd package root');
    dir = up;
  }
}

/** The addon file: GRODD_NATIVE_ADDON, else native/build/grodd_native.node in the package. */
export function addonPath(): string {
  return process.env.GRODD_NATIVE_ADDON || path.join(packageRoot(), 'native', 'build', 'grodd_native.node');
}

let loaded: NativeAddon | undefined;
let failure: string | undefined;

/** The addon, or a reason it cannot be had (`{ why }`), loading it on first call. */
export function loadAddon(): NativeAddon | { why: string } {
  if (loaded) return loaded;
  if (failure !== undefined) return { why: failure };
  const file = addonPath();
  if (!fs.existsSync(file)) {
    failure = `the native addon is not built (${path.relative(process.cwd(), file) || file} is missing): ${NATIVE_HINT}`;
    return { why: failure };
  }
  // OpenMP threads that spin between parallel regions (libgomp's default) made a
  // step 3-4x slower whenever anything else ran on the machine: they wait
  // passively unless the user chose otherwise. libgomp reads this when it loads.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeAddon;
    return loaded;
  } catch (e) {
    failure = `the native addon failed to load (${String((e as Error).message).split('\n')[0]}): rebuild it with \`npm run build:native\``;
    return { why: failure };
  }
}
