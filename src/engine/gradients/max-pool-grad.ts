/**
 * Gradient of `MaxPoolGrad` (the backward pass of maxPool), needed when the
 * input gradient of a net with max pooling is differentiated again.
 * MaxPoolGrad routes each dy to the argmax of its window, dx = M^T dy, so its
 * gradient w.r.t. dy is M ddx: ddx read at the argmax positions (from
 * maxPoolWithArgmax). The argmax is piecewise constant in input/output, whose
 * gradients are zero.
 */
import {
  gather,
  type GradConfig,
  maxPoolWithArgmax,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  reshape,
  type Tensor,
  type Tensor4D,
  zerosLike,
} from '@tensorflow/tfjs-core';

export const maxPoolGradGradConfig: GradConfig = {
  kernelName: MaxPoolGrad,
  inputsToSave: ['dy', 'input', 'output'],
  gradFunc: (ddx: Tensor | Tensor[], saved: Tensor[], attrs) => {
    const [dy, input, output] = saved;
    const { filterSize, strides, pad } = attrs as unknown as MaxPoolGradAttrs;
    return {
      dy: () => {
        if (typeof pad !== 'string') throw new Error('MaxPoolGrad gradient: explicit padding is not supported');
        const { indexes } = maxPoolWithArgmax(input as Tensor4D, filterSize, strides, pad, true);
        const picked = gather(reshape(ddx as Tensor, [-1]), reshape(indexes, [-1]));
        indexes.dispose();
        return reshape(picked, dy.shape);
      },
      input: () => zerosLike(input),
      output: () => zerosLike(output),
    };
  },
};
