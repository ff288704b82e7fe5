/**
 * wasm `MaxPoolWithArgmax` fixed for negative inputs. The shipped kernel
 * returns index 0 of the window's row for windows whose values are all
 * negative (its running max starts at 0), so argmax-based routing (and the
 * shipped MaxPoolGrad, which has the same fault) sent gradients to the wrong
 * pixels. Here the argmax is taken on x - min(x) + 1 (all >= 1, same order)
 * and the pooled values come from the exact XNNPACK MaxPool of x.
 */
import { getKernel, type KernelBackend, type KernelConfig, type KernelFunc, MaxPoolWithArgmax, type TensorInfo } from '@tensorflow/tfjs-core';
import { callWasm, release } from './wasm-call';

let shipped: KernelConfig | undefined;

export function setShippedMaxPoolWithArgmax(config: KernelConfig | undefined): void {
  shipped = config;
}

export const maxPoolWithArgmaxWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const config = shipped ?? getKernel(MaxPoolWithArgmax, 'wasm');
  if (config == null || config.kernelFunc === maxPoolWithArgmaxWasm) throw new Error('wasm MaxPoolWithArgmax: shipped kernel missing');
  const axes = x.shape.map((_, i) => i);
  const m = callWasm('Min', { x }, backend, { axis: axes, keepDims: false });
  const one = callWasm('Fill', {}, backend, { shape: [], value: 1, dtype: 'float32' });
  const c = callWasm('Sub', { a: one, b: m }, backend);
  const shiftedX = callWasm('Add', { a: x, b: c }, backend);
  release(backend, m, one, c);
  const [shiftedPool, indexes] = config.kernelFunc({ inputs: { x: shiftedX }, backend: backend as KernelBackend, attrs }) as TensorInfo[];
  release(backend, shiftedX, shiftedPool);
  const { filterSize, strides, pad } = attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: string };
  const pooled = callWasm('MaxPool', { x }, backend, { filterSize, strides, pad, dimRoundingMode: undefined } as never);
  return [pooled, indexes];
};

export const maxPoolWithArgmaxWasmConfig: KernelConfig = {
  kernelName: MaxPoolWithArgmax,
  backendName: 'wasm',
  kernelFunc: maxPoolWithArgmaxWasm,
  setupFunc: (backend) => shipped?.setupFunc?.(backend),
};
