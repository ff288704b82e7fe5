/**
 * Efficient gradient of `Tile`. tfjs-core's issues one slice+add per tile
 * element, so a tiled batch-norm statistic made the second-order pass run
 * O(batch*H*W) kernels. Here, per tiled axis d: reshape dy to
 * [prod(before), reps_d, rest] and sum the reps axis (a handful of kernels,
 * and itself differentiable).
 */
import { type GradConfig, reshape, sum, type Tensor, Tile, type TileAttrs } from '@tensorflow/tfjs-core';

export function tileBackward(dy: Tensor, xShape: readonly number[], reps: readonly number[]): Tensor {
  let g = dy;
  const shape = dy.shape.slice();
  for (let d = 0; d < xShape.length; d++) {
    if (reps[d] === 1) continue;
    const before = shape.slice(0, d).reduce((a, b) => a * b, 1);
    const after = shape.slice(d + 1).reduce((a, b) => a * b, 1);
    g = sum(reshape(g, [before, reps[d], xShape[d] * after]), 1);
    shape[d] = xShape[d];
  }
  return reshape(g, xShape as number[]);
}

export const tileGradConfig: GradConfig = {
  kernelName: Tile,
  inputsToSave: ['x'],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs) => {
    const [x] = saved;
    const { reps } = attrs as unknown as TileAttrs;
    return { x: () => tileBackward(dy as Tensor, x.shape, reps) };
  },
};
