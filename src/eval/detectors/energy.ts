import * as tf from '@tensorflow/tfjs-core';
import { logSumExpRows } from '../../infer/softmax';
import { Detector } from './detector';

/**
 * Energy score (Liu et al. 2020), the negative free energy at temperature 1:
 *   S(x) = −E(x) = log Σ_j exp(f_j(x)),
 * computed as m + log Σ_j exp(f_j − m) with m = max_j f_j so that large logits cannot overflow.
 */
export function energyDetector(): Detector {
  return {
    name: 'energy',
    scoreOutputs: (o) => logSumExpRows(o.logits, o.k),
    tfScore: (logits) => tf.logSumExp(logits, 1) as tf.Tensor1D,
  };
}
