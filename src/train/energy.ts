import * as tf from '@tensorflow/tfjs-core';

/** Free energy E(x) = -logsumexp_k f_k(x), per sample. Low energy = in-distribution. */
export function energy(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.logSumExp(logits, 1)) as tf.Tensor1D;
}
