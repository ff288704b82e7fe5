import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';

/**
 * Initialisers as PyTorch applies them, drawn from a seeded Rng so that a run
 * is reproducible independent of the backend's own random state.
 */

/** He (Kaiming) normal, mode fan_out, gain sqrt(2): torchvision's conv init. Kernel shape [kh, kw, in, out]. */
export function kaimingNormalConv(rng: Rng, shape: [number, number, number, number]): tf.Tensor4D {
  const [kh, kw, , out] = shape;
  const std = Math.sqrt(2 / (kh * kw * out));
  return tf.tensor4d(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal() * std), shape);
}

/** PyTorch's nn.Linear default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Weight shape [in, out]. */
export function linearUniform(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => (2 * rng.next() - 1) * bound), shape);
}
