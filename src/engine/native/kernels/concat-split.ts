/**
 * Concat and Pack (tfjs passes the tensors as an array), SplitV (sizes, or a
 * count of equal parts; one size may be -1) and Unpack.
 */
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import { aten, atenMulti } from '../aten';
import { nativeKernel, normAxis } from './kernel';

const cat = aten('cat');
const stack = aten('stack');
const splitWithSizes = atenMulti('split_with_sizes');
const unbind = atenMulti('unbind', 'int');

export const concatSplitKernels: KernelConfig[] = [
  nativeKernel<{ axis: number }>('Concat', ({ inputs, backend, attrs }) => {
    const list = Array.from(inputs as unknown as ArrayLike<TensorInfo>);
    const axis = normAxis(attrs.axis, list[0].shape.length);
    const dtype = list.map((t) => t.dtype).reduce((a, b) => backend_util.upcastType(a, b));
    return backend.output(cat(list.map((t) => backend.handle(t)), axis), dtype);
  }),
  nativeKernel<{ axis: number }>('Pack', ({ inputs, backend, attrs }) => {
    const list = Array.from(inputs as unknown as ArrayLike<TensorInfo>);
    const axis = attrs.axis < 0 ? attrs.axis + list[0].shape.length + 1 : attrs.axis;
    return backend.output(stack(list.map((t) => backend.handle(t)), axis), list[0].dtype);
  }),
  nativeKernel<{ numOrSizeSplits: number | number[]; axis: number }>('SplitV', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const axis = normAxis(attrs.axis, x.shape.length);
    const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits, axis);
    return splitWithSizes(backend.handle(x), sizes, axis).map((h) => backend.output(h, x.dtype));
  }),
  nativeKernel<{ axis: number }>('Unpack', ({ inputs, backend, attrs }) => {
    const { value } = inputs;
    return unbind(backend.handle(value), normAxis(attrs.axis, value.shape.length)).map((h) => backend.output(h, value.dtype));
  }),
];
