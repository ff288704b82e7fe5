/**
 * Batch normalisation written with broadcasting arithmetic only (no
 * tf.batchNorm, no tile). tf.batchNorm's gradient tiles its statistics, and the
 * gradient of Tile made the second-order pass of the gradient regularizer run
 * one kernel per element; broadcasting ops differentiate (twice) into a few
 * reductions instead.
 *
 * Statistics are over every axis but the last (N,H,W for NHWC, N for [N,C]).
 *
 * Where the backend has fused training-mode kernels (the native backend's
 * GroddBatchNormTrain, with fused first and second derivatives), NHWC inputs
 * use them instead: the same function, in a few passes over the data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { shareData } from '../engine/share';

/** The fused kernel's name (src/engine/native/kernels/batch-norm.ts). */
const FUSED_TRAIN = 'GroddBatchNormTrain';

export interface Moments {
  mean: tf.Tensor;
  variance: tf.Tensor;
}

/** Axes reduced for per-channel statistics of x (all but the last). */
export function channelAxes(x: tf.Tensor): number[] {
  return Array.from({ length: x.rank - 1 }, (_, i) => i);
}

/** Per-channel batch mean and (biased) variance in two passes, with the centred values, differentiable to any order. */
function centeredMoments(x: tf.Tensor): Moments & { centered: tf.Tensor } {
  const axes = channelAxes(x);
  const mean = tf.mean(x, axes);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axes);
  return { mean, variance, centered };
}

/** Per-channel batch mean and (biased) variance, differentiable to any order. */
export function batchMoments(x: tf.Tensor): Moments {
  return tf.tidy(() => {
    const { mean, variance } = centeredMoments(x);
    return { mean, variance };
  });
}

/**
 * y = (x - mean) / sqrt(variance + eps) * gamma + beta, with per-channel
 * [C] statistics and parameters broadcast over the leading axes. Computed as
 * x * scale + shift (two full-size ops), as PyTorch's inference kernel does.
 */
export function batchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps = 1e-5,
): tf.Tensor {
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift);
  });
}

/**
 * Train-mode batch norm: normalises with the batch's own moments (gradients
 * flow through them into y) and returns them for the running-average update,
 * detached: no gradient flows back through the returned mean and variance.
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps = 1e-5,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  if (x.rank === 4 && tf.getKernel(FUSED_TRAIN, tf.getBackend()) != null) {
    const [y, mean, variance, invstd] = tf.engine().runKernel(FUSED_TRAIN, { x, gamma, beta }, { eps }) as tf.Tensor[];
    // The gradient keeps its own references to the statistics it needs.
    const stats = { mean: shareData(mean), variance: shareData(variance) };
    tf.dispose([mean, variance, invstd]);
    return { y, ...stats };
  }
  const { y, mean, variance } = tf.tidy(() => {
    const m = centeredMoments(x);
    // (x - mean) · (gamma / sqrt(variance + eps)) + beta, reusing the centred values of the
    // variance pass: as many full-size ops as x · scale + shift, without its cancellation
    // between x · scale and shift when |mean| is large against the spread.
    return { y: tf.add(tf.mul(m.centered, tf.mul(gamma, tf.rsqrt(tf.add(m.variance, eps)))), beta), mean: m.mean, variance: m.variance };
  });
  const stats = { mean: shareData(mean), variance: shareData(variance) };
  tf.dispose([mean, variance]);
  return { y, ...stats };
}
