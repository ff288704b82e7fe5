/**
 * Conv2DBackpropInput: dL/dx of a Conv2D from dy and W (a transposed
 * convolution), through ATen's convolution_backward.
 */
import type { Conv2DBackpropInputAttrs, KernelConfig } from '@tensorflow/tfjs-core';
import { nativeAddon } from '../aten';
import { convGeometry } from './conv-geometry';
import { nativeKernel } from './kernel';

export const conv2DBackpropInputKernel: KernelConfig = nativeKernel<Conv2DBackpropInputAttrs>(
  'Conv2DBackpropInput',
  ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs;
    const g = convGeometry(attrs.inputShape, filter.shape as [number, number, number, number], { ...attrs, dilations: 1 });
    const h = nativeAddon().conv2dBackpropInput(backend.handle(dy), backend.handle(filter), attrs.inputShape, g.stride, g.dilation, g.pad, g.nchw);
    return backend.output(h, dy.dtype);
  },
);
