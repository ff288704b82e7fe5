/**
 * Gradients for ops whose tfjs-core gradient reads the op's saved *output*
 * (Exp, Softmax, LogSoftmax, Sigmoid, Tanh, Pow), rewritten to recompute the
 * output from the saved input. tfjs saves an output by cloning it while the
 * kernel runs, which puts the clone on the tape *before* the op's own node;
 * the tape's forward reachability pass then misses the clone, so a nested
 * (second-order) gradient silently drops every term that flows through the
 * saved output (e.g. d/dx of grad(logSumExp) came out wrong, and
 * grad(x => sum(grad(exp)(x))) threw "Cannot compute gradient"). Recomputing
 * costs one cheap elementwise op per backward pass.
 */
import {
  broadcast_util,
  cast,
  exp,
  Exp,
  greater,
  type GradConfig,
  log,
  logSoftmax,
  LogSoftmax,
  mul,
  pow,
  Pow,
  reshape,
  scalar,
  sigmoid,
  Sigmoid,
  softmax,
  Softmax,
  square,
  sub,
  sum,
  tanh,
  Tanh,
  type Tensor,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';

const one = (dy: Tensor | Tensor[]): Tensor => dy as Tensor;

export const expGradConfig: GradConfig = {
  kernelName: Exp,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => mul(one(dy), exp(saved[0])) }),
};

export const sigmoidGradConfig: GradConfig = {
  kernelName: Sigmoid,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({
    x: () => {
      const y = sigmoid(saved[0]);
      return mul(one(dy), mul(y, sub(scalar(1), y)));
    },
  }),
};

export const tanhGradConfig: GradConfig = {
  kernelName: Tanh,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => mul(one(dy), sub(scalar(1), square(tanh(saved[0])))) }),
};

export const softmaxGradConfig: GradConfig = {
  kernelName: Softmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, saved, attrs) => ({
    logits: () => {
      const { dim } = attrs as unknown as { dim: number };
      const y = softmax(saved[0], dim);
      const dyTimesY = mul(one(dy), y);
      return sub(dyTimesY, mul(sum(dyTimesY, [dim], true), y));
    },
  }),
};

export const logSoftmaxGradConfig: GradConfig = {
  kernelName: LogSoftmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, saved, attrs) => ({
    logits: () => {
      const { axis } = attrs as unknown as { axis: number };
      const p = exp(logSoftmax(saved[0], axis));
      return sub(one(dy), mul(sum(one(dy), axis, true), p));
    },
  }),
};

export const powGradConfig: GradConfig = {
  kernelName: Pow,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const [base, expo] = saved;
    const outShape = broadcast_util.assertAndGetBroadcastShape(base.shape, expo.shape);
    const reduceTo = (t: Tensor, shape: number[]) => {
      const axes = broadcast_util.getReductionAxes(shape, outShape);
      return reshape(axes.length > 0 ? sum(t, axes) : t, shape);
    };
    return {
      a: () => {
        const e = cast(expo, 'float32');
        return reduceTo(mul(one(dy), mul(e, pow(base, sub(e, scalar(1))))), base.shape);
      },
      b: () => {
        const logBase = where(greater(base, 0), log(base), zerosLike(base));
        return reduceTo(mul(one(dy), mul(pow(base, expo), logBase)), expo.shape);
      },
    };
  },
};

export const RECOMPUTE_OUTPUT_GRADS: readonly GradConfig[] = [
  expGradConfig,
  sigmoidGradConfig,
  tanhGradConfig,
  softmaxGradConfig,
  logSoftmaxGradConfig,
  powGradConfig,
];
