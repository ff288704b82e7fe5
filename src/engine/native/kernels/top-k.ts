/** TopK: the k largest values along the last axis and their int32 indices. */
import type { KernelConfig, TopKAttrs } from '@tensorflow/tfjs-core';
import { atenMulti } from '../aten';
import { nativeKernel } from './kernel';

const topk = atenMulti('topk');

export const topKKernel: KernelConfig = nativeKernel<TopKAttrs>('TopK', ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const [values, indices] = topk(backend.handle(x), attrs.k, -1, true, attrs.sorted);
  return [backend.output(values, x.dtype), backend.output(indices, 'int32')];
});
