/**
 * Gradient of `AvgPoolGrad` (the backward pass of avgPool), needed when the
 * input gradient of a net with average pooling is differentiated again.
 * AvgPoolGrad is linear in dy, dx = A dy, so its gradient w.r.t. dy is the
 * adjoint A^T ddx; w.r.t. the (shape-only) input it is zero.
 * tfjs's AvgPoolGrad divides every window by the full filter size, also where
 * 'same' padding cuts the window (avgPool itself divides by the valid count),
 * so A^T is the average pool of the zero-padded ddx with 'valid' windows,
 * which is what is computed here (equal to avgPool(ddx) without padding).
 */
import {
  avgPool,
  AvgPoolGrad,
  type AvgPoolGradAttrs,
  backend_util,
  type GradConfig,
  pad as padOp,
  type Tensor,
  type Tensor4D,
  zerosLike,
} from '@tensorflow/tfjs-core';

export const avgPoolGradGradConfig: GradConfig = {
  kernelName: AvgPoolGrad,
  inputsToSave: ['input'],
  gradFunc: (ddx: Tensor | Tensor[], saved: Tensor[], attrs) => {
    const [input] = saved;
    const { filterSize, strides, pad } = attrs as unknown as AvgPoolGradAttrs;
    return {
      dy: () => {
        const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad);
        const { top, bottom, left, right } = info.padInfo;
        const padded = padOp(ddx as Tensor4D, [[0, 0], [top, bottom], [left, right], [0, 0]]);
        return avgPool(padded, [info.filterHeight, info.filterWidth], [info.strideHeight, info.strideWidth], 'valid');
      },
      input: () => zerosLike(input),
    };
  },
};
