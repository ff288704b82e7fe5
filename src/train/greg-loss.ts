import * as tf from '@tensorflow/tfjs-core';
import { Margins } from './energy-loss';

/**
 * The gradient regularizer of GReg (Sharifi et al., ECCV 2024).
 *
 * Detection term, non-zero only for correctly detected samples (ID with E < m_in,
 * outliers with E > m_out):
 *   D(x) = -mean_in( relu(m_in - E_in) ) + mean_out( relu(E_out - m_out) )
 * Regularizer: the per-sample L2 norm of dD/dx_i, averaged over the whole batch,
 *   L_gradS = (1/n) sum_i || dD/dx_i ||_2
 * Since D is a batch mean, each sample's gradient carries a 1/n_in or 1/n_out
 * factor, as in the authors' code. Minimising it needs double backprop.
 */
export function detectionTerm(e: tf.Tensor1D, nIn: number, m: Margins): tf.Scalar {
  const eIn = tf.slice(e, 0, nIn);
  const eOut = tf.slice(e, nIn);
  const din = tf.neg(tf.mean(tf.relu(tf.sub(m.mIn, eIn))));
  if (eOut.shape[0] === 0) return din as tf.Scalar;
  return tf.add(din, tf.mean(tf.relu(tf.sub(eOut, m.mOut)))) as tf.Scalar;
}

/** Small offset inside the square root: keeps d||g||/dg finite where g = 0 (samples not correctly detected). */
const NORM_EPS = 1e-12;

/** Per-sample L2 norms of a batch of input gradients [n, ...] -> [n]. */
export function perSampleNorm(g: tf.Tensor): tf.Tensor1D {
  const flat = tf.reshape(g, [g.shape[0], -1]);
  return tf.sqrt(tf.add(tf.sum(tf.square(flat), 1), NORM_EPS)) as tf.Tensor1D;
}

/**
 * Exact L_gradS: `dOfX` maps the input batch to D; its input gradient is taken
 * with tf.grad inside the caller's tape, so the result is differentiable
 * w.r.t. the weights (double backprop).
 */
export function exactGradPenalty(dOfX: (x: tf.Tensor4D) => tf.Scalar, x: tf.Tensor4D): tf.Scalar {
  const g = tf.grad((xx) => dOfX(xx as tf.Tensor4D))(x);
  return tf.mean(perSampleNorm(g)) as tf.Scalar;
}

/**
 * Per-sample unit directions u_i = g_i / ||g_i|| of a detached input gradient
 * (zero where g_i = 0), for the finite-difference estimate.
 */
export function unitDirections(g: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const norms = tf.reshape(tf.sqrt(tf.sum(tf.square(tf.reshape(g, [g.shape[0], -1])), 1)), [-1, 1, 1, 1]);
    return tf.divNoNan(g, norms) as tf.Tensor4D;
  });
}

/**
 * Finite-difference L_gradS (grodd's cheaper variant, not in the paper):
 *   | D(x + h U) - D(x) | / (h n)
 * with U the stacked unit directions of the detached input gradient. Because D
 * sums per-sample terms, D(x + hU) - D(x) ~ h sum_i g_i . u_i = h sum_i ||g_i||,
 * so this estimates the mean per-sample norm with one extra forward pass
 * instead of a double backward pass.
 */
export function finiteDifferencePenalty(dAtX: tf.Scalar, dAtXPlusHU: tf.Scalar, h: number, n: number): tf.Scalar {
  return tf.div(tf.abs(tf.sub(dAtXPlusHU, dAtX)), h * n) as tf.Scalar;
}
