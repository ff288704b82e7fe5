/**
 * Registers grodd's extra gradients (idempotent): what nested tf.grad inside
 * tf.variableGrads (double backprop for the gradient regularizer) needs.
 */
import { getGradient, registerGradient, unregisterGradient, type GradConfig } from '@tensorflow/tfjs-core';
import { avgPoolGradGradConfig } from './avg-pool-grad';
import { maxPoolGradGradConfig } from './max-pool-grad';
import { RECOMPUTE_OUTPUT_GRADS } from './recompute-output';
import { meanGradConfig, sumGradConfig } from './reduce-grads';
import { reluGradConfig } from './relu';
import { tileGradConfig } from './tile';
import { ZERO_GRAD_INPUTS, ZERO_GRAD_OPS, zeroGradConfig } from './zero-grads';

let done = false;

function replace(config: GradConfig): void {
  if (getGradient(config.kernelName) != null) unregisterGradient(config.kernelName);
  registerGradient(config);
}

export function registerGradients(): void {
  if (done) return;
  done = true;
  for (const op of ZERO_GRAD_OPS) {
    // Keep tfjs-core's own (equivalent) zero gradients where they exist.
    if (getGradient(op) == null) registerGradient(zeroGradConfig(op, ZERO_GRAD_INPUTS[op]));
  }
  if (getGradient(avgPoolGradGradConfig.kernelName) == null) registerGradient(avgPoolGradGradConfig);
  if (getGradient(maxPoolGradGradConfig.kernelName) == null) registerGradient(maxPoolGradGradConfig);
  replace(tileGradConfig);
  replace(sumGradConfig);
  replace(meanGradConfig);
  replace(reluGradConfig);
  for (const config of RECOMPUTE_OUTPUT_GRADS) replace(config);
}
