/**
 * wasm `Sum` and `Mean` over leading/middle axes via XNNPACK average pooling.
 * The shipped kernels transpose the reduced axes to the end first (wasm
 * Transpose is slow: 60-200 ms for a [128,28,28,64] tensor) and reduce on one
 * thread; every broadcasting op's gradient and every batch-norm statistic
 * reduces over N,H,W, so this dominated the GReg step (a matmul with a ones
 * vector was no better: XNNPACK packs the big operand as weights each call).
 * For a contiguous block of reduced axes with trailing axes left, x is viewed
 * as [outer, R2, R1, inner] (R = R1*R2, R1 about sqrt(R) for float32
 * accuracy) and average-pooled in two stages ([1,R1] then [R2,1]); Sum scales
 * by R. Other cases (trailing-axis reductions, non-float32) use the shipped
 * kernel.
 */
import { type KernelConfig, type KernelFunc, Mean, Sum, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm } from './wasm-call';

/** The shipped kernels, kept as the fallback (set at registration). */
const shipped: Record<string, KernelConfig | undefined> = {};

export function setShippedReduce(name: 'Sum' | 'Mean', config: KernelConfig | undefined): void {
  shipped[name] = config;
}

/** [outer, R, inner] if `axes` is one contiguous block that is not at the end, else null. */
export function contiguousReduction(shape: readonly number[], axes: readonly number[]): [number, number, number] | null {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (last - first + 1 !== sorted.length || last === shape.length - 1) return null;
  const outer = shape.slice(0, first).reduce((a, b) => a * b, 1);
  const r = shape.slice(first, last + 1).reduce((a, b) => a * b, 1);
  const inner = shape.slice(last + 1).reduce((a, b) => a * b, 1);
  return [outer, r, inner];
}

/** Largest divisor of r not above sqrt(r) (1 when r is prime). */
export function splitFactor(r: number): number {
  for (let d = Math.floor(Math.sqrt(r)); d > 1; d--) if (r % d === 0) return d;
  return 1;
}

function makeReduce(name: 'Sum' | 'Mean'): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
    const axes = util.parseAxisParam(axis, x.shape);
    const block = x.dtype === 'float32' ? contiguousReduction(x.shape, axes) : null;
    if (block == null || block[1] === 1) {
      const fallback = shipped[name];
      if (fallback == null) throw new Error(`wasm ${name}: shipped kernel missing`);
      return fallback.kernelFunc(args);
    }
    const [outer, r, inner] = block;
    const r1 = splitFactor(r);
    const r2 = r / r1;
    const x4 = reshapeWasm(x, [outer, r2, r1, inner], backend);
    const stage1 = callWasm('AvgPool', { x: x4 }, backend, { filterSize: [1, r1], strides: [1, r1], pad: 'valid' });
    const stage2 = callWasm('AvgPool', { x: stage1 }, backend, { filterSize: [r2, 1], strides: [r2, 1], pad: 'valid' });
    release(backend, x4, stage1);
    let prod = stage2;
    if (name === 'Sum') {
      const scale = callWasm('Fill', {}, backend, { shape: [], value: r, dtype: 'float32' });
      prod = callWasm('Multiply', { a: stage2, b: scale }, backend);
      release(backend, scale, stage2);
    }
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    const out = reshapeWasm(prod, outShape, backend);
    release(backend, prod);
    return out;
  };
}

export const sumWasmConfig: KernelConfig = {
  kernelName: Sum,
  backendName: 'wasm',
  kernelFunc: makeReduce('Sum'),
  setupFunc: (backend) => shipped.Sum?.setupFunc?.(backend),
};

export const meanWasmConfig: KernelConfig = {
  kernelName: Mean,
  backendName: 'wasm',
  kernelFunc: makeReduce('Mean'),
  setupFunc: (backend) => shipped.Mean?.setupFunc?.(backend),
};
