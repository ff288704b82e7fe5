/**
 * Kernels with a parameter beside x: Step (x > 0 ? 1 : alpha, NaN kept),
 * ClipByValue, LeakyRelu, Prelu, Relu6, Softplus, and EluGrad
 * (dy where y >= 0, else dy·(y + 1), from elu's output y).
 */
import type { ClipByValueAttrs, KernelConfig, LeakyReluAttrs, StepAttrs } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { nativeKernel } from './kernel';

const gt = aten('gt', 'Scalar');
const lt = aten('lt', 'Scalar');
const isnan = aten('isnan');
const whereScalar = aten('where', 'Scalar');
const whereSelf = aten('where', 'self');
const mul = aten('mul', 'Tensor');
const clamp = aten('clamp');
const leakyRelu = aten('leaky_relu');
const hardtanh = aten('hardtanh');
const softplus = aten('softplus');
const ge = aten('ge', 'Scalar');
const addScalar = aten('add', 'Scalar');

export const activationKernels: KernelConfig[] = [
  nativeKernel<StepAttrs>('Step', ({ inputs, backend, attrs }) => {
    const x = backend.handle(inputs.x);
    const pos = gt(x, 0);
    const stepped = whereScalar(pos, 1.0, attrs.alpha);
    const nan = isnan(x);
    const r = whereSelf(nan, x, stepped);
    free(pos, stepped, nan);
    return backend.output(r, inputs.x.dtype);
  }),
  nativeKernel<ClipByValueAttrs>('ClipByValue', ({ inputs, backend, attrs }) =>
    backend.output(clamp(backend.handle(inputs.x), attrs.clipValueMin, attrs.clipValueMax), inputs.x.dtype),
  ),
  nativeKernel<LeakyReluAttrs>('LeakyRelu', ({ inputs, backend, attrs }) =>
    backend.output(leakyRelu(backend.handle(inputs.x), attrs.alpha), inputs.x.dtype),
  ),
  nativeKernel('Prelu', ({ inputs, backend }) => {
    // x < 0 ? alpha * x : x, alpha broadcast against x.
    const x = backend.handle(inputs.x);
    const neg = lt(x, 0);
    const scaled = mul(x, backend.handle(inputs.alpha));
    const r = whereSelf(neg, scaled, x);
    free(neg, scaled);
    return backend.output(r, inputs.x.dtype);
  }),
  nativeKernel('Relu6', ({ inputs, backend }) => backend.output(hardtanh(backend.handle(inputs.x), 0, 6), inputs.x.dtype)),
  nativeKernel('EluGrad', ({ inputs, backend }) => {
    const dy = backend.handle(inputs.dy);
    const y = backend.handle(inputs.y);
    const nonneg = ge(y, 0);
    const y1 = addScalar(y, 1);
    const scaled = mul(dy, y1);
    const r = whereSelf(nonneg, dy, scaled);
    free(nonneg, y1, scaled);
    return backend.output(r, inputs.dy.dtype);
  }),
  nativeKernel('Softplus', ({ inputs, backend }) => backend.output(softplus(backend.handle(inputs.x)), inputs.x.dtype)),
];
