/**
 * Element-wise unary kernels that are one ATen op each, x -> op(x), with
 * tfjs's output dtype (the input's, or bool for the predicates).
 */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { aten } from '../aten';
import { nativeKernel } from './kernel';

/** tfjs kernel name -> ATen op, and whether the result is bool. */
const UNARY: [kernel: string, op: string, bool?: true][] = [
  ['Abs', 'abs'],
  ['Neg', 'neg'],
  ['Exp', 'exp'],
  ['Expm1', 'expm1'],
  ['Log', 'log'],
  ['Log1p', 'log1p'],
  ['Sqrt', 'sqrt'],
  ['Rsqrt', 'rsqrt'],
  ['Square', 'square'],
  ['Reciprocal', 'reciprocal'],
  ['Relu', 'relu'],
  ['Sigmoid', 'sigmoid'],
  ['Tanh', 'tanh'],
  ['Sign', 'sign'],
  ['Floor', 'floor'],
  ['Ceil', 'ceil'],
  // Both round half to even.
  ['Round', 'round'],
  ['Sin', 'sin'],
  ['Cos', 'cos'],
  ['Erf', 'erf'],
  ['Elu', 'elu'],
  ['IsNan', 'isnan', true],
  ['IsInf', 'isinf', true],
  ['IsFinite', 'isfinite', true],
  ['LogicalNot', 'logical_not', true],
];

export const unaryKernels: KernelConfig[] = UNARY.map(([kernel, op, bool]) => {
  const f = aten(op);
  return nativeKernel(kernel, ({ inputs, backend }) => {
    const { x } = inputs;
    return backend.output(f(backend.handle(x)), bool ? 'bool' : x.dtype);
  });
});
