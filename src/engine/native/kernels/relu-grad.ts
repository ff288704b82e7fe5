/** GroddReluGrad(dy, x) = dy where x > 0, else 0: ReLU's gradient in one pass (ATen's threshold_backward). */
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { aten } from '../aten';
import { nativeKernel } from './kernel';

/** The name src/engine/gradients/relu.ts looks for. */
export const RELU_GRAD = 'GroddReluGrad';

const thresholdBackward = aten('threshold_backward');

export const reluGradKernel: KernelConfig = nativeKernel(RELU_GRAD, ({ inputs, backend }) =>
  backend.output(thresholdBackward(backend.handle(inputs.dy), backend.handle(inputs.x), 0), inputs.dy.dtype),
);
