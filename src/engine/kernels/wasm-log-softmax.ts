/**
 * wasm `LogSoftmax`, missing from the wasm backend (tf.logSoftmax and
 * losses built on it throw there). Numerically stable:
 * (x - max) - log(sum(exp(x - max))) over `axis`, composed of shipped wasm kernels.
 */
import { LogSoftmax, type KernelConfig, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { callWasm, release } from './wasm-call';

export const logSoftmaxWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { logits } = inputs as { logits: TensorInfo };
  const axis = util.parseAxisParam((attrs as { axis: number }).axis, logits.shape);
  const m = callWasm('Max', { x: logits }, backend, { reductionIndices: axis, keepDims: true });
  const shifted = callWasm('Sub', { a: logits, b: m }, backend);
  const e = callWasm('Exp', { x: shifted }, backend);
  const s = callWasm('Sum', { x: e }, backend, { axis, keepDims: true });
  const l = callWasm('Log', { x: s }, backend);
  const out = callWasm('Sub', { a: shifted, b: l }, backend);
  release(backend, m, shifted, e, s, l);
  return out;
};

export const logSoftmaxWasmConfig: KernelConfig = {
  kernelName: LogSoftmax,
  backendName: 'wasm',
  kernelFunc: logSoftmaxWasm,
};
