/**
 * Gradients of the native backend's fused kernels (kernels/batch-norm.ts and
 * the ReLU gradient kernel), each again made of kernels with gradients where
 * double backprop needs one:
 *   GroddBatchNormTrain -> GroddBatchNormGrad -> GroddBatchNormGradGrad
 *   GroddReluGrad(dy, x) = dy·[x > 0] -> GroddReluGrad(ddx, x) (and 0 for x)
 * GroddBatchNormGrad's x-gradient is the total derivative, through the batch
 * statistics too, so its mean and invstd inputs (the statistics of that x)
 * get zero gradients, and so do the statistics outputs of the forward kernel
 * (they feed only GroddBatchNormGrad and the running averages).
 */
import { type GradConfig, type NamedAttrMap, type Tensor, engine, registerGradient, zerosLike } from '@tensorflow/tfjs-core';
import { BN_GRAD, BN_GRAD_GRAD, BN_TRAIN } from './kernels/batch-norm';
import { RELU_GRAD } from './kernels/relu-grad';

const run = (kernel: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap = {}): Tensor[] =>
  [engine().runKernel(kernel, inputs, attrs)].flat() as Tensor[];

const bnTrainGrad: GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, false, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy] = dys as Tensor[];
    const [x, gamma, mean, invstd] = saved;
    const [dx, dgamma, dbeta] = run(BN_GRAD, { dy, x, gamma, mean, invstd }, attrs);
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

const bnGradGrad: GradConfig = {
  kernelName: BN_GRAD,
  inputsToSave: ['dy', 'x', 'gamma', 'mean', 'invstd'],
  gradFunc: (dys, saved) => {
    const [a, b, c] = dys as Tensor[];
    const [dy, x, gamma, mean, invstd] = saved;
    const [gdy, gx, ggamma] = run(BN_GRAD_GRAD, { a, b, c, dy, x, gamma, mean, invstd });
    return { dy: () => gdy, x: () => gx, gamma: () => ggamma, mean: () => zerosLike(mean), invstd: () => zerosLike(invstd) };
  },
};

const reluGradGrad: GradConfig = {
  kernelName: RELU_GRAD,
  inputsToSave: ['x'],
  gradFunc: (ddx, saved) => {
    const [x] = saved;
    return { dy: () => run(RELU_GRAD, { dy: ddx as Tensor, x })[0], x: () => zerosLike(x) };
  },
};

let done = false;

export function registerNativeGradients(): void {
  if (done) return;
  done = true;
  for (const g of [bnTrainGrad, bnGradGrad, reluGradGrad]) registerGradient(g);
}
