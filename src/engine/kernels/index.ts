/**
 * Registers grodd's extra wasm kernels (idempotent). Kernels the wasm backend
 * lacks are added; Conv2DBackpropInput replaces the shipped (slow) one, which
 * is kept as a fallback for paddings the rewrite cannot express; Sum/Mean are
 * replaced by average-pooling reductions, Identity and same-dtype Cast by aliases and MaxPoolGrad
 * and MaxPoolWithArgmax by versions correct for negative inputs (see each file).
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { broadcastToWasmConfig } from './wasm-broadcast-to';
import { conv2DBackpropFilterWasmConfig } from './wasm-conv2d-backprop-filter';
import { conv2DBackpropInputWasmConfig, setShippedConv2DBackpropInput } from './wasm-conv2d-backprop-input';
import { castWasmConfig, setShippedCast } from './wasm-cast';
import { identityWasmConfig } from './wasm-identity';
import { logSoftmaxWasmConfig } from './wasm-log-softmax';
import { maxPoolGradWasmConfig } from './wasm-max-pool-grad';
import { maxPoolWithArgmaxWasmConfig, setShippedMaxPoolWithArgmax } from './wasm-max-pool-with-argmax';
import { meanWasmConfig, setShippedReduce, sumWasmConfig } from './wasm-reduce-avgpool';
import { unsortedSegmentSumWasmConfig } from './wasm-unsorted-segment-sum';

/** Kernels added only where the wasm backend has none. */
const added: KernelConfig[] = [
  conv2DBackpropFilterWasmConfig,
  broadcastToWasmConfig,
  logSoftmaxWasmConfig,
  unsortedSegmentSumWasmConfig,
];

let done = false;

export function registerWasmKernels(): void {
  if (done) return;
  done = true;
  for (const config of added) {
    if (getKernel(config.kernelName, 'wasm') == null) registerKernel(config);
  }
  setShippedConv2DBackpropInput(replace(conv2DBackpropInputWasmConfig));
  setShippedReduce('Sum', replace(sumWasmConfig));
  setShippedReduce('Mean', replace(meanWasmConfig));
  replace(identityWasmConfig);
  setShippedCast(replace(castWasmConfig));
  setShippedMaxPoolWithArgmax(replace(maxPoolWithArgmaxWasmConfig));
  replace(maxPoolGradWasmConfig);
}

/** Swaps in `config`, returning the kernel it replaced (the fallback). */
function replace(config: KernelConfig): KernelConfig | undefined {
  const shipped = getKernel(config.kernelName, 'wasm');
  if (shipped === config) return undefined;
  if (shipped != null) unregisterKernel(config.kernelName, 'wasm');
  registerKernel(config);
  return shipped;
}
