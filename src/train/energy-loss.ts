import * as tf from '@tensorflow/tfjs-core';

/** Energy margins: ID samples should have E < mIn, outliers E > mOut. */
export interface Margins {
  mIn: number;
  mOut: number;
}

/**
 * Energy margin loss L_S (Liu et al. 2020):
 *   mean_in( relu(E_in - m_in)^2 ) + mean_out( relu(m_out - E_out)^2 )
 * `e` holds the ID energies first (nIn of them), then the outliers'.
 */
export function energyMarginLoss(e: tf.Tensor1D, nIn: number, m: Margins): tf.Scalar {
  const eIn = tf.slice(e, 0, nIn);
  const eOut = tf.slice(e, nIn);
  const lin = tf.mean(tf.square(tf.relu(tf.sub(eIn, m.mIn))));
  if (eOut.shape[0] === 0) return lin as tf.Scalar;
  return tf.add(lin, tf.mean(tf.square(tf.relu(tf.sub(m.mOut, eOut))))) as tf.Scalar;
}
