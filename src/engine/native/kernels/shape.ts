/**
 * Kernels that move or repeat elements: Reshape and ExpandDims (ATen views),
 * Transpose, Reverse and Tile (contiguous copies, so later kernels see plain
 * row-major data). (tfjs-core's squeeze and broadcastTo run Reshape and Tile.)
 */
import { util, type KernelConfig } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { nativeKernel, normAxis } from './kernel';

const reshape = aten('reshape');
const permute = aten('permute');
const contiguous = aten('contiguous');
const flip = aten('flip');
const repeat = aten('repeat');

/** op(x) then a contiguous copy of the (view) result. */
function copied(view: number): number {
  const c = contiguous(view);
  free(view);
  return c;
}

export const shapeKernels: KernelConfig[] = [
  nativeKernel<{ shape: number[] }>('Reshape', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const shape = util.inferFromImplicitShape(attrs.shape, util.sizeFromShape(x.shape));
    // tfjs's gradients reshape to the shape a tensor already has: share it.
    if (util.arraysEqual(shape, x.shape)) return backend.share(x);
    return backend.output(reshape(backend.handle(x), shape), x.dtype);
  }),
  nativeKernel<{ dim: number }>('ExpandDims', ({ inputs, backend, attrs }) => {
    const { input } = inputs;
    const shape = input.shape.slice();
    const dim = attrs.dim < 0 ? attrs.dim + shape.length + 1 : attrs.dim;
    shape.splice(dim, 0, 1);
    return backend.output(reshape(backend.handle(input), shape), input.dtype);
  }),
  nativeKernel<{ perm: number[] }>('Transpose', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    return backend.output(copied(permute(backend.handle(x), attrs.perm)), x.dtype);
  }),
  nativeKernel<{ dims: number | number[] }>('Reverse', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const dims = (Array.isArray(attrs.dims) ? attrs.dims : [attrs.dims]).map((d) => normAxis(d, x.shape.length));
    return backend.output(flip(backend.handle(x), dims), x.dtype);
  }),
  nativeKernel<{ reps: number[] }>('Tile', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    return backend.output(repeat(backend.handle(x), attrs.reps), x.dtype);
  }),
];
