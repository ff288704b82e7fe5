import * as tf from '@tensorflow/tfjs-core';

/**
 * Outlier Exposure loss (Hendrycks et al. 2019): cross-entropy from the
 * softmax to the uniform distribution over K classes, on the outliers,
 *   L_OE = mean_out( logsumexp(f(x)) - (1/K) sum_k f_k(x) ).
 */
export function outlierExposureLoss(logitsOut: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.sub(tf.logSumExp(logitsOut, 1), tf.mean(logitsOut, 1))) as tf.Scalar;
}
