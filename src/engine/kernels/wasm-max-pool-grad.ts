/**
 * wasm `MaxPoolGrad` (the backward pass of maxPool). The shipped wasm kernel
 * routes the gradient of windows whose values are all negative to the wrong
 * pixel (it disagreed with the cpu backend and finite differences), so
 * max-pooling nets got wrong gradients on wasm. Here dx is built from the
 * argmax of every window (grodd's fixed MaxPoolWithArgmax: the flat index of
 * the winning x, batch included) by scattering dy there with ScatterNd, which
 * sums overlapping windows.
 */
import {
  backend_util,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm } from './wasm-call';

export const maxPoolGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const argmaxKernel = getKernel('MaxPoolWithArgmax', 'wasm'); // grodd's fixed one
  const [pooled, indexes] = argmaxKernel.kernelFunc({
    inputs: { x: input },
    backend: backend as KernelBackend,
    attrs: {
      filterSize: [info.filterHeight, info.filterWidth],
      strides: [info.strideHeight, info.strideWidth],
      pad,
      includeBatchInIndex: true,
    },
  }) as TensorInfo[];
  release(backend, pooled);
  const n = util.sizeFromShape(dy.shape);
  const idx = reshapeWasm(indexes, [n, 1], backend);
  const upd = reshapeWasm(dy, [n], backend);
  const size = util.sizeFromShape(input.shape);
  const flat = callWasm('ScatterNd', { indices: idx, updates: upd }, backend, { shape: [size] });
  const out = reshapeWasm(flat, input.shape, backend);
  release(backend, indexes, idx, upd, flat);
  return out;
};

export const maxPoolGradWasmConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGradWasm,
};
