/**
 * wasm `BroadcastTo`, missing from the wasm backend (tf.broadcastTo, and some
 * gradients that broadcast, throw there). Reshape to the target rank with
 * leading 1s, then Tile by target/source along each axis.
 */
import { BroadcastTo, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callWasm, release, reshapeWasm } from './wasm-call';

export const broadcastToWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const shape = (attrs as { shape: number[] }).shape;
  const inShape = x.shape.slice();
  while (inShape.length < shape.length) inShape.unshift(1);
  const reps = shape.map((d, i) => {
    if (inShape[i] !== d && inShape[i] !== 1) {
      throw new Error(`broadcastTo: cannot broadcast [${x.shape}] to [${shape}]`);
    }
    return inShape[i] === d ? 1 : d;
  });
  const r = reshapeWasm(x, inShape, backend);
  if (reps.every((k) => k === 1)) return r;
  const out = callWasm('Tile', { x: r }, backend, { reps });
  release(backend, r);
  return out;
};

export const broadcastToWasmConfig: KernelConfig = {
  kernelName: BroadcastTo,
  backendName: 'wasm',
  kernelFunc: broadcastToWasm,
};
