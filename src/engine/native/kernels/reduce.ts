/**
 * Reductions over tfjs axes (negative allowed, none = all): Sum, Mean, Max,
 * Min, Prod, All, Any; and ArgMax / ArgMin (int32 indices, first of equal
 * values, as tfjs). Sum of int32 or bool is int32 and Mean is float32, as in
 * tfjs's cpu backend. Reducing over no axis returns a copy.
 */
import { util, type DataType, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import type { NativeBackend } from '../backend';
import { dtypeCode } from '../addon';
import { nativeKernel, normAxis } from './kernel';

interface AxisAttrs {
  axis?: number | number[];
  reductionIndices?: number | number[];
  keepDims: boolean;
}

const sum = aten('sum', 'dim_IntList');
const mean = aten('mean', 'dim');
const amax = aten('amax');
const amin = aten('amin');
const prod = aten('prod', 'dim_int');
const all = aten('all', 'dim');
const any = aten('any', 'dim');
const clone = aten('clone');
const argmax = aten('argmax');
const argmin = aten('argmin');

type Reducer = (backend: NativeBackend, x: number, axes: number[], keepDims: boolean, dtype: DataType) => number;

/** Reductions that ATen takes over one axis at a time (innermost first, so indices stay valid). */
function oneAxisAtATime(op: (x: number, axis: number, keepDims: boolean) => number): Reducer {
  return (_backend, x, axes, keepDims) => {
    let h = x;
    for (const a of [...axes].sort((p, q) => q - p)) {
      const next = op(h, a, keepDims);
      if (h !== x) free(h);
      h = next;
    }
    return h;
  };
}

const REDUCERS: [kernel: string, reduce: Reducer, dtype: (x: TensorInfo) => DataType][] = [
  ['Sum', (_b, x, axes, keep, dtype) => sum(x, axes, keep, dtypeCode(dtype)), (x) => (x.dtype === 'float32' ? 'float32' : 'int32')],
  ['Mean', (_b, x, axes, keep) => mean(x, axes, keep, dtypeCode('float32')), () => 'float32'],
  ['Max', (_b, x, axes, keep) => amax(x, axes, keep), (x) => x.dtype],
  ['Min', (_b, x, axes, keep) => amin(x, axes, keep), (x) => x.dtype],
  ['Prod', oneAxisAtATime((x, a, keep) => prod(x, a, keep)), (x) => (x.dtype === 'float32' ? 'float32' : 'int32')],
  ['All', oneAxisAtATime((x, a, keep) => all(x, a, keep)), () => 'bool'],
  ['Any', oneAxisAtATime((x, a, keep) => any(x, a, keep)), () => 'bool'],
];

export const reduceKernels: KernelConfig[] = [
  ...REDUCERS.map(([kernel, reduce, dtypeOf]) =>
    nativeKernel<AxisAttrs>(kernel, ({ inputs, backend, attrs }) => {
      const { x } = inputs;
      const axes = util.parseAxisParam((attrs.axis ?? attrs.reductionIndices ?? null) as number[], x.shape);
      const dtype = dtypeOf(x);
      const h = backend.handle(x);
      // ATen reads an empty dim list as "all dims"; tfjs as none.
      const r = axes.length === 0 ? clone(h) : reduce(backend, h, axes, attrs.keepDims, dtype);
      return backend.output(r, dtype);
    }),
  ),
  nativeKernel<{ axis: number }>('ArgMax', ({ inputs, backend, attrs }) =>
    backend.output(argmax(backend.handle(inputs.x), normAxis(attrs.axis, inputs.x.shape.length), false), 'int32'),
  ),
  nativeKernel<{ axis: number }>('ArgMin', ({ inputs, backend, attrs }) =>
    backend.output(argmin(backend.handle(inputs.x), normAxis(attrs.axis, inputs.x.shape.length), false), 'int32'),
  ),
];
