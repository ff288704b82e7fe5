/**
 * Conv2DBackpropFilter: dL/dW of a Conv2D from x and dy, through ATen's
 * convolution_backward.
 */
import type { Conv2DBackpropFilterAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { nativeAddon } from '../aten';
import { convGeometry } from './conv-geometry';
import { nativeKernel } from './kernel';

export const conv2DBackpropFilterKernel: KernelConfig = nativeKernel<Conv2DBackpropFilterAttrs>(
  'Conv2DBackpropFilter',
  ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    const g = convGeometry(x.shape as [number, number, number, number], attrs.filterShape, { ...attrs, dilations: 1 });
    const h = nativeAddon().conv2dBackpropFilter(backend.handle(x), backend.handle(dy), attrs.filterShape, g.stride, g.dilation, g.pad, g.nchw);
    return backend.output(h, x.dtype);
  },
);
