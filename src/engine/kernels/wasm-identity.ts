/**
 * wasm `Identity` that aliases its input (ref-counted, as the cpu backend and
 * wasm Reshape do) instead of copying it. The tape issues hundreds of Identity
 * calls in a double-backprop step (~1 ms each as copies). Tensors are
 * immutable and variables swap their dataId on assign, so aliasing is safe.
 */
import { Identity, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

export const identityWasm: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  (backend as KernelBackend & { incRef(id: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identityWasmConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identityWasm,
};
