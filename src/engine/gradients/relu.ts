/**
 * ReLU's gradient, dy·step(x): as tfjs-core computes it (Step, Cast, Multiply),
 * or in one fused kernel where the active backend has one (GroddReluGrad on
 * the native backend, whose own gradient is registered there).
 */
import { cast, getBackend, getKernel, engine, mul, Relu, step, type GradConfig, type Tensor } from '@tensorflow/tfjs-core';

const FUSED = 'GroddReluGrad';

export const reluGradConfig: GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    if (getKernel(FUSED, getBackend()) != null) return { x: () => engine().runKernel(FUSED, { dy: dy as Tensor, x }) as Tensor };
    return { x: () => mul(dy as Tensor, cast(step(x), 'float32')) };
  },
};
