/**
 * Identity and Cast. Identity shares the input's data (reference counted, as
 * tfjs's own backends do); so does a Cast to the same dtype. Other casts
 * convert as tfjs does: float -> int32 truncates toward zero, x != 0 -> bool.
 */
import type { CastAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { castHandle } from '../backend';
import { nativeAddon } from '../aten';
import { nativeKernel } from './kernel';

export const castKernels: KernelConfig[] = [
  nativeKernel('Identity', ({ inputs, backend }) => backend.share(inputs.x)),
  nativeKernel<CastAttrs>('Cast', ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    if (x.dtype === attrs.dtype) return backend.share(x);
    return backend.output(castHandle(nativeAddon(), backend.handle(x), attrs.dtype), attrs.dtype);
  }),
];
