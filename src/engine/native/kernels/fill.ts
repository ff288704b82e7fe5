/**
 * Kernels that make tensors from attributes: Fill, ZerosLike, OnesLike and
 * Range ([start, stop) by step, as tfjs: empty when the step points away).
 */
import type { FillAttrs, KernelConfig, RangeAttrs } from '@tensorflow/tfjs-core';
import { aten } from '../aten';
import { dtypeCode } from '../addon';
import { nativeKernel } from './kernel';

const full = aten('full');
const zerosLike = aten('zeros_like');
const onesLike = aten('ones_like');
const arange = aten('arange', 'start_step');
const empty = aten('empty', 'memory_format');

export const fillKernels: KernelConfig[] = [
  nativeKernel<FillAttrs>('Fill', ({ backend, attrs }) => {
    if (typeof attrs.value === 'string') throw new Error('native backend: string tensors are not supported');
    return backend.output(full(attrs.shape, attrs.value, dtypeCode(attrs.dtype)), attrs.dtype);
  }),
  nativeKernel('ZerosLike', ({ inputs, backend }) => backend.output(zerosLike(backend.handle(inputs.x)), inputs.x.dtype)),
  nativeKernel('OnesLike', ({ inputs, backend }) => backend.output(onesLike(backend.handle(inputs.x)), inputs.x.dtype)),
  nativeKernel<RangeAttrs>('Range', ({ backend, attrs }) => {
    const { start, stop, step, dtype } = attrs;
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (n === 0) return backend.output(empty([0], dtypeCode(dtype)), dtype);
    // ATen counts the elements like tfjs; both in float for float steps.
    return backend.output(arange(start, start + n * step - step / 2, step, dtypeCode(dtype)), dtype);
  }),
];
