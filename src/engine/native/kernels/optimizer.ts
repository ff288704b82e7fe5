/**
 * Fused optimizer updates for the native backend, one pass per parameter
 * (src/train/optimizers.ts uses them where registered; no gradients):
 * - GroddSgdUpdate(w, g, buf) -> [w', buf'] (buf' only with momentum)
 * - GroddAdamUpdate(w, g, m, v) -> [w', m', v']
 * The arithmetic is the composite update's (PyTorch's SGD and Adam).
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { nativeAddon } from '../aten';
import { nativeKernel } from './kernel';

export interface SgdUpdateAttrs {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface AdamUpdateAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** The update's number (1 for the first), for the bias corrections. */
  step: number;
}

export const optimizerKernels: KernelConfig[] = [
  nativeKernel<SgdUpdateAttrs>('GroddSgdUpdate', ({ inputs, backend, attrs }) => {
    const { w, g, buf } = inputs;
    const hs = nativeAddon().sgdUpdate(backend.handle(w), backend.handle(g), buf ? backend.handle(buf) : 0, attrs.lr, attrs.momentum, attrs.weightDecay, attrs.nesterov);
    return hs.map((h) => backend.output(h, 'float32'));
  }),
  nativeKernel<AdamUpdateAttrs>('GroddAdamUpdate', ({ inputs, backend, attrs }) => {
    const { w, g, m, v } = inputs;
    const hs = nativeAddon().adamUpdate(backend.handle(w), backend.handle(g), backend.handle(m), backend.handle(v), attrs.lr, attrs.beta1, attrs.beta2, attrs.eps, attrs.weightDecay, attrs.step);
    return hs.map((h) => backend.output(h, 'float32'));
  }),
];
