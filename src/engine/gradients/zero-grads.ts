/**
 * Zero gradients for piecewise-constant ops (comparisons, logical ops, sign,
 * rounding...). tfjs-core has no gradient for most of them, so double backprop
 * fails with "gradient function not found for Equal" as soon as the first
 * backward pass (of max/logSumExp/relu/abs...) is differentiated again. Their
 * derivative is zero almost everywhere (returned as float32, as tfjs requires
 * of every gradient, also for bool/int inputs).
 */
import { fill, type GradConfig, type Tensor } from '@tensorflow/tfjs-core';

/** Ops whose outputs are piecewise constant in every input. */
export const ZERO_GRAD_OPS: readonly string[] = [
  'Equal',
  'NotEqual',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
  'LogicalAnd',
  'LogicalOr',
  'LogicalNot',
  'LogicalXor',
  'IsNan',
  'IsInf',
  'IsFinite',
  'Sign',
  'Step',
  'Floor',
  'Ceil',
  'Round',
  'ArgMax',
  'ArgMin',
  'OnesLike',
  'ZerosLike',
];

/** A gradient config giving zeros for all inputs of `kernelName`. */
export function zeroGradConfig(kernelName: string, inputNames: readonly string[]): GradConfig {
  return {
    kernelName,
    inputsToSave: [...inputNames],
    gradFunc: (_dy: Tensor | Tensor[], saved: Tensor[]) => {
      const out: Record<string, () => Tensor> = {};
      inputNames.forEach((name, i) => {
        out[name] = () => fill(saved[i].shape, 0, 'float32');
      });
      return out;
    },
  };
}

/** Input names of each op, as tfjs-core's kernels name them. */
export const ZERO_GRAD_INPUTS: Readonly<Record<string, readonly string[]>> = {
  Equal: ['a', 'b'],
  NotEqual: ['a', 'b'],
  Greater: ['a', 'b'],
  GreaterEqual: ['a', 'b'],
  Less: ['a', 'b'],
  LessEqual: ['a', 'b'],
  LogicalAnd: ['a', 'b'],
  LogicalOr: ['a', 'b'],
  LogicalXor: ['a', 'b'],
  LogicalNot: ['x'],
  IsNan: ['x'],
  IsInf: ['x'],
  IsFinite: ['x'],
  Sign: ['x'],
  Step: ['x'],
  Floor: ['x'],
  Ceil: ['x'],
  Round: ['x'],
  ArgMax: ['x'],
  ArgMin: ['x'],
  OnesLike: ['x'],
  ZerosLike: ['x'],
};
