import * as tf from '@tensorflow/tfjs-core';
import { logitRowStats } from '../../infer/softmax';
import { Detector } from './detector';

/** MaxLogit (Hendrycks et al. 2022):  S(x) = max_j f_j(x). */
export function maxLogitDetector(): Detector {
  return {
    name: 'maxlogit',
    scoreOutputs: (o) => logitRowStats(o.logits, o.k).max,
    tfScore: (logits) => tf.max(logits, 1) as tf.Tensor1D,
  };
}
