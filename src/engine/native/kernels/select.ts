/** Select (tf.where): condition ? t : e, element-wise with broadcasting. */
import { backend_util, type KernelConfig } from '@tensorflow/tfjs-core';
import { aten } from '../aten';
import { nativeKernel } from './kernel';

const whereSelf = aten('where', 'self');

export const selectKernel: KernelConfig = nativeKernel('Select', ({ inputs, backend }) => {
  const { condition, t, e } = inputs;
  return backend.output(whereSelf(backend.handle(condition), backend.handle(t), backend.handle(e)), backend_util.upcastType(t.dtype, e.dtype));
});
