import * as tf from '@tensorflow/tfjs-core';
import { logitRowStats } from '../../infer/softmax';
import { Detector } from './detector';

/**
 * Maximum softmax probability (Hendrycks & Gimpel 2017):
 *   S(x) = max_j p_j = exp(m − m) / Σ_j exp(f_j − m) = 1 / Σ_j exp(f_j − m),  m = max_j f_j,
 * in float64, so that a near-certain row keeps a score below 1 instead of a float32 tie at 1.
 */
export function mspDetector(): Detector {
  return {
    name: 'msp',
    scoreOutputs: (o) => logitRowStats(o.logits, o.k).sumExp.map((s) => 1 / s),
    tfScore: (logits) => tf.max(tf.softmax(logits), 1) as tf.Tensor1D,
  };
}
