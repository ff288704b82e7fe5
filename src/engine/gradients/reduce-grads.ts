/**
 * Gradients of `Sum` and `Mean` that broadcast dy back to the input's shape by
 * adding it to a backend-filled zero tensor. tfjs-core's multiply dy by
 * ones(x.shape), which it fills in JavaScript and copies to the backend
 * (22 ms for a 64x32x32x64 activation on wasm, against 3.4 ms here), and the
 * gradient regularizer's second-order pass differentiates hundreds of these
 * reductions (every batch-norm statistic, every broadcast product's gradient).
 * (tf.broadcastTo runs Tile, slower still.) The zeros come from Fill, which has
 * no inputs, so they stay off the gradient path; the Add differentiates back
 * into a sum.
 */
import { add, div, fill, Mean, reshape, Sum, type GradConfig, type NamedAttrMap, type Tensor } from '@tensorflow/tfjs-core';

/** dy (the reduced shape) reshaped with 1s in the reduced axes, and the number of values each output summed. */
function expanded(dy: Tensor, x: Tensor, attrs: NamedAttrMap): { dy: Tensor; count: number } {
  const axis = (attrs as { axis: number | number[] | null }).axis;
  const all = x.shape.map((_, i) => i);
  const axes = axis == null ? all : (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + x.rank : a));
  const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return { dy: reshape(dy, shape), count: axes.reduce((n, a) => n * x.shape[a], 1) };
}

export const sumGradConfig: GradConfig = {
  kernelName: Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return { x: () => add(expanded(dy as Tensor, x, attrs).dy, fill(x.shape, 0, 'float32')) };
  },
};

export const meanGradConfig: GradConfig = {
  kernelName: Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return {
      x: () => {
        const e = expanded(dy as Tensor, x, attrs);
        return add(div(e.dy, e.count), fill(x.shape, 0, 'float32'));
      },
    };
  },
};
