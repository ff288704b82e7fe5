/**
 * wasm `Cast` that aliases its input when the dtype does not change (the
 * shipped kernel copies). tfjs-core's ReLU gradient is dy * cast(step(x),
 * 'float32') and the engine's clone() casts too, so a double-backprop step
 * issues ~150 same-dtype casts of activation-sized tensors. Casts to bool
 * are x != 0 (the shipped kernel truncates: cast([2, -1], 'bool') gave
 * [2, 255]). Other conversions go to the shipped kernel.
 */
import { callWasm, release } from './wasm-call';
import { Cast, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

let shipped: KernelConfig | undefined;

export function setShippedCast(config: KernelConfig | undefined): void {
  shipped = config;
}

export const castWasm: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const { dtype } = args.attrs as { dtype: string };
  if (x.dtype === dtype) {
    (args.backend as KernelBackend & { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }
  if (dtype === 'bool') {
    const zero = callWasm('Fill', {}, args.backend, { shape: [], value: 0, dtype: x.dtype });
    const out = callWasm('NotEqual', { a: x, b: zero }, args.backend);
    release(args.backend, zero);
    return out;
  }
  if (shipped == null) throw new Error('wasm Cast: shipped kernel missing');
  return shipped.kernelFunc(args);
};

export const castWasmConfig: KernelConfig = {
  kernelName: Cast,
  backendName: 'wasm',
  kernelFunc: castWasm,
  setupFunc: (backend) => shipped?.setupFunc?.(backend),
};
