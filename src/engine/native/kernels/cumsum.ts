/**
 * Cumsum along an axis; `reverse` sums from the end, `exclusive` leaves each
 * element out of its own sum (the inclusive sum minus x).
 */
import type { CumsumAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { dtypeCode } from '../addon';
import { nativeKernel, normAxis } from './kernel';

const cumsum = aten('cumsum');
const flip = aten('flip');
const sub = aten('sub', 'Tensor');

export const cumsumKernel: KernelConfig = nativeKernel<CumsumAttrs>('Cumsum', ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const axis = normAxis(attrs.axis, x.shape.length);
  const xh = backend.handle(x);
  const src = attrs.reverse ? flip(xh, [axis]) : xh;
  let r = cumsum(src, axis, dtypeCode(x.dtype));
  if (attrs.exclusive) {
    const ex = sub(r, src);
    free(r);
    r = ex;
  }
  if (attrs.reverse) {
    const back = flip(r, [axis]);
    free(r, src);
    r = back;
  }
  return backend.output(r, x.dtype);
});
