/**
 * AddN: the sum of n tensors of one shape, accumulated in place into the
 * first sum (a fresh tensor this kernel owns).
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { aten, free } from '../aten';
import { nativeKernel } from './kernel';

const add = aten('add', 'Tensor');
const addInPlace = aten('add_', 'Tensor');
const clone = aten('clone');

export const addNKernel: KernelConfig = nativeKernel('AddN', ({ inputs, backend }) => {
  const list = Array.from(inputs as unknown as ArrayLike<TensorInfo>);
  const hs = list.map((t) => backend.handle(t));
  if (hs.length === 1) return backend.output(clone(hs[0]), list[0].dtype);
  const acc = add(hs[0], hs[1]);
  // add_ returns self: free the extra handle it makes.
  for (let i = 2; i < hs.length; i++) free(addInPlace(acc, hs[i]));
  return backend.output(acc, list[0].dtype);
});
