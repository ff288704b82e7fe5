/**
 * wasm `BroadcastTo`, missing from the wasm backend (tf.broadcastTo, and some
 * gradients that broadcast, throw there): x + zeros(shape) with the wasm
 * backend's broadcasting Add. (Tile, the obvious kernel, took 283 ms to
 * broadcast [1,1,1,64] to [64,32,32,64]; Fill + Add take 3.4 ms.)
 */
import { BroadcastTo, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm } from './wasm-call';

export const broadcastToWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const shape = (attrs as { shape: number[] }).shape;
  const inShape = x.shape.slice();
  while (inShape.length < shape.length) inShape.unshift(1);
  inShape.forEach((d, i) => {
    if (d !== shape[i] && d !== 1) throw new Error(`broadcastTo: cannot broadcast [${x.shape}] to [${shape}]`);
  });
  const r = reshapeWasm(x, inShape, backend);
  if (inShape.every((d, i) => d === shape[i])) return r;
  const zero = callWasm('Fill', {}, backend, { shape, value: 0, dtype: x.dtype });
  const out = callWasm('Add', { a: r, b: zero }, backend);
  release(backend, r, zero);
  return out;
};

export const broadcastToWasmConfig: KernelConfig = {
  kernelName: BroadcastTo,
  backendName: 'wasm',
  kernelFunc: broadcastToWasm,
};
