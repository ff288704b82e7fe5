import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean softmax cross-entropy, L_CE = mean_i( logsumexp(f(x_i)) - f_{y_i}(x_i) ).
 * Written from logSumExp so that it needs no LogSoftmax kernel (absent on wasm).
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const k = logits.shape[1];
  const picked = tf.sum(tf.mul(logits, tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, k)), 1);
  return tf.mean(tf.sub(tf.logSumExp(logits, 1), picked)) as tf.Scalar;
}
