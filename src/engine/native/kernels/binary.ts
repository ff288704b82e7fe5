/**
 * Element-wise binary kernels (broadcasting as tfjs and ATen both do): the
 * arithmetic ones return tfjs's upcast dtype of the two inputs, FloorDiv
 * int32 (as tfjs), the comparisons and logical ones bool.
 */
import { backend_util, type DataType, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import type { NativeBackend } from '../backend';
import { nativeKernel } from './kernel';

type Out = 'upcast' | 'bool' | 'int32';

/** tfjs kernel name -> ATen op (Tensor-Tensor overload) and the result dtype. */
const BINARY: [kernel: string, op: string, overload: string, out: Out][] = [
  ['Add', 'add', 'Tensor', 'upcast'],
  ['Sub', 'sub', 'Tensor', 'upcast'],
  ['Multiply', 'mul', 'Tensor', 'upcast'],
  ['RealDiv', 'div', 'Tensor', 'upcast'],
  ['Pow', 'pow', 'Tensor_Tensor', 'upcast'],
  ['Maximum', 'maximum', '', 'upcast'],
  ['Minimum', 'minimum', '', 'upcast'],
  // tfjs's mod is floored (the sign of the divisor), like ATen's remainder.
  ['Mod', 'remainder', 'Tensor', 'upcast'],
  ['Atan2', 'atan2', '', 'upcast'],
  ['Equal', 'eq', 'Tensor', 'bool'],
  ['NotEqual', 'ne', 'Tensor', 'bool'],
  ['Greater', 'gt', 'Tensor', 'bool'],
  ['GreaterEqual', 'ge', 'Tensor', 'bool'],
  ['Less', 'lt', 'Tensor', 'bool'],
  ['LessEqual', 'le', 'Tensor', 'bool'],
  ['LogicalAnd', 'logical_and', '', 'bool'],
  ['LogicalOr', 'logical_or', '', 'bool'],
];

function outDtype(out: Out, a: TensorInfo, b: TensorInfo): DataType {
  return out === 'upcast' ? backend_util.upcastType(a.dtype, b.dtype) : out;
}

const sub = aten('sub', 'Tensor');
const square = aten('square');
const divMode = aten('div', 'Tensor_mode');

/** (a - b)^2 */
function squaredDifference(backend: NativeBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  const d = sub(backend.handle(a), backend.handle(b));
  const r = square(d);
  free(d);
  return backend.output(r, outDtype('upcast', a, b));
}

export const binaryKernels: KernelConfig[] = [
  ...BINARY.map(([kernel, op, overload, out]) => {
    const f = aten(op, overload);
    return nativeKernel(kernel, ({ inputs, backend }) => {
      const { a, b } = inputs;
      return backend.output(f(backend.handle(a), backend.handle(b)), outDtype(out, a, b));
    });
  }),
  nativeKernel('SquaredDifference', ({ inputs, backend }) => squaredDifference(backend, inputs.a, inputs.b)),
  nativeKernel('FloorDiv', ({ inputs, backend }) => {
    const { a, b } = inputs;
    return backend.output(divMode(backend.handle(a), backend.handle(b), 'floor'), 'int32');
  }),
];
