/**
 * BatchMatMul: a·b over the last two axes, optionally transposed, batch axes
 * broadcast (ATen's matmul, MKL/oneDNN GEMM).
 */
import { backend_util, type BatchMatMulAttrs, type KernelConfig } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { nativeKernel } from './kernel';

const matmul = aten('matmul');
const transpose = aten('transpose', 'int');

export const batchMatMulKernel: KernelConfig = nativeKernel<BatchMatMulAttrs>('BatchMatMul', ({ inputs, backend, attrs }) => {
  const { a, b } = inputs;
  const ah = attrs.transposeA ? transpose(backend.handle(a), -2, -1) : backend.handle(a);
  const bh = attrs.transposeB ? transpose(backend.handle(b), -2, -1) : backend.handle(b);
  const r = matmul(ah, bh);
  if (attrs.transposeA) free(ah);
  if (attrs.transposeB) free(bh);
  return backend.output(r, backend_util.upcastType(a.dtype, b.dtype));
});
