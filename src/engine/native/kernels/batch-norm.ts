/**
 * Fused training-mode batch normalisation for the native backend (grodd's
 * own kernel names; see src/nn/batch-norm.ts, which uses them on native):
 * - GroddBatchNormTrain(x, gamma, beta) -> [y, mean, variance, invstd]
 * - GroddBatchNormGrad(dy, x, gamma, mean, invstd) -> [dx, dgamma, dbeta]
 * - GroddBatchNormGradGrad(a, b, c, dy, x, gamma, mean, invstd) -> [d dy, d x, d gamma]
 * The first two are ATen's batch_norm kernels, the third the closed-form
 * gradient of the second (grodd_native.cc), which double backprop through
 * every BN layer needs; the composite form took ~20 full-size passes per
 * layer where these take 2-3.
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { nativeAddon } from '../aten';
import { nativeKernel } from './kernel';

export const BN_TRAIN = 'GroddBatchNormTrain';
export const BN_GRAD = 'GroddBatchNormGrad';
export const BN_GRAD_GRAD = 'GroddBatchNormGradGrad';

export const batchNormKernels: KernelConfig[] = [
  nativeKernel<{ eps: number }>(BN_TRAIN, ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs;
    const hs = nativeAddon().bnTrain(backend.handle(x), backend.handle(gamma), backend.handle(beta), attrs.eps);
    return hs.map((h) => backend.output(h, 'float32'));
  }),
  nativeKernel<{ eps: number }>(BN_GRAD, ({ inputs, backend, attrs }) => {
    const { dy, x, gamma, mean, invstd } = inputs;
    const hs = nativeAddon().bnBackward(backend.handle(dy), backend.handle(x), backend.handle(gamma), backend.handle(mean), backend.handle(invstd), attrs.eps);
    return hs.map((h) => backend.output(h, 'float32'));
  }),
  nativeKernel(BN_GRAD_GRAD, ({ inputs, backend }) => {
    const { a, b, c, dy, x, gamma, mean, invstd } = inputs;
    const hs = nativeAddon().bnDoubleBackward(...[a, b, c, dy, x, gamma, mean, invstd].map((t) => backend.handle(t)) as [number, number, number, number, number, number, number, number]);
    return hs.map((h) => backend.output(h, 'float32'));
  }),
];
