/**
 * Conv2D: y = x ⋆ W with x NHWC and W HWIO, through ATen's convolution
 * (oneDNN on CPU; see conv-geometry.ts for layout and padding).
 */
import type { Conv2DAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { nativeAddon } from '../aten';
import { convGeometry } from './conv-geometry';
import { nativeKernel } from './kernel';

export const conv2DKernel: KernelConfig = nativeKernel<Conv2DAttrs>('Conv2D', ({ inputs, backend, attrs }) => {
  const { x, filter } = inputs;
  const g = convGeometry(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs);
  return backend.output(nativeAddon().conv2d(backend.handle(x), backend.handle(filter), g.stride, g.dilation, g.pad, g.nchw), x.dtype);
});
