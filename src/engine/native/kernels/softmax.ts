/** Softmax along one axis (tfjs: the last; tfjs-core's logSoftmax is made of other ops). */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { aten } from '../aten';
import { nativeKernel, normAxis } from './kernel';

const softmax = aten('softmax', 'int');

export const softmaxKernel: KernelConfig =
nativeKernel<{ dim: number }>('Softmax', ({ inputs, backend, attrs }) => {
  const { logits } = inputs;
  return backend.output(softmax(backend.handle(logits), normAxis(attrs.dim, logits.shape.length)), logits.dtype);
});

