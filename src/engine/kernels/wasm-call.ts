/**
 * Helpers for composing custom wasm kernels out of the kernels that the wasm
 * backend already ships (Conv2D, Transpose, Reshape, ...). Calling a kernel
 * function directly (instead of going through the engine) keeps intermediate
 * results out of the tape and out of the engine's tensor bookkeeping, so they
 * must be released with `release`.
 */
import { getKernel, type KernelBackend, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

export type NamedInputs = Record<string, TensorInfo>;

/** What kernel functions receive as `backend` (typed `{}` by tfjs-core). */
export type AnyBackend = object;

/** Runs the wasm backend's registered kernel `name` on raw TensorInfos. */
export function callWasm(
  name: string,
  inputs: NamedInputs,
  backend: AnyBackend,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(name, 'wasm');
  if (config == null) throw new Error(`wasm kernel ${name} is not registered`);
  const out = config.kernelFunc({ inputs, backend: backend as KernelBackend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out as TensorInfo;
}

/** Frees an intermediate TensorInfo produced by `callWasm`. */
export function release(backend: AnyBackend, ...infos: TensorInfo[]): void {
  for (const t of infos) (backend as KernelBackend).disposeData(t.dataId);
}

/** Reshape that shares the buffer (ref-counted); release the result as usual. */
export function reshapeWasm(x: TensorInfo, shape: number[], backend: AnyBackend): TensorInfo {
  return callWasm('Reshape', { x }, backend, { shape });
}

export function transposeWasm(x: TensorInfo, perm: number[], backend: AnyBackend): TensorInfo {
  return callWasm('Transpose', { x }, backend, { perm });
}
