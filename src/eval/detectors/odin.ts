import * as tf from '@tensorflow/tfjs-core';
import { argmaxRows, logitRowStats } from '../../infer/softmax';
import { Detector, DetectorContext } from './detector';
import { DetectorParams } from './params';

/**
 * ODIN (Liang et al. 2018): temperature scaling plus a small input perturbation that raises the
 * softmax of the predicted class, which raises ID scores more than OOD ones.
 *   ŷ  = argmax_j f_j(x)                                   (the clean prediction)
 *   x' = x − ε · sign(−∇ₓ log softmax(f(x)/T)_ŷ)          (sign(0) = 0; x' is not clipped)
 *   S(x) = max_j softmax(f(x')/T)_j
 * ε is in [0,1] pixel units: on inputs normalised as (pixel − μ_c)/σ_c the step is ε/σ_c in
 * channel c (as OpenOOD does), i.e. ε times the pixel view's input scale. Defaults T = 1000,
 * ε = 0.0014. Each score costs a forward and a backward pass more than the logit scores.
 */
export function odinDetector(ctx: DetectorContext, params: DetectorParams['odin']): Detector {
  const { model } = ctx;
  const k = model.numClasses;
  const t = params.temperature;

  /** x' for a batch of model inputs (a new tensor; the caller disposes it). */
  const perturbed = (x: tf.Tensor4D, inputScale: Float32Array): tf.Tensor4D =>
    tf.tidy(() => {
      const g = tf.grad((xx: tf.Tensor) => {
        const logits = model.forward(xx as tf.Tensor4D, { training: false }).logits;
        // ŷ is a constant of the gradient: read it out, so that no arg-max enters the tape.
        const yHat = tf.tensor1d(argmaxRows(logits.dataSync(), k), 'int32');
        return tf.sum(tf.mul(tf.logSoftmax(tf.div(logits, t)), tf.oneHot(yHat, k)));
      })(x);
      return tf.sub(x, tf.mul(tf.sign(tf.neg(g)), tf.tensor1d(inputScale.map((a) => params.epsilon * a)))) as tf.Tensor4D;
    });

  return {
    name: 'odin',
    async scoreInputs(x, inputScale) {
      const xp = perturbed(x, inputScale);
      const logits = tf.tidy(() => model.forward(xp, { training: false }).logits);
      const values = (await logits.data()) as Float32Array;
      tf.dispose([xp, logits]);
      return logitRowStats(values, k, t).sumExp.map((s) => 1 / s);
    },
    // x' − x is piecewise constant in x, so ∇ₓ S = ∇S at x' wherever the sign pattern holds.
    inputGradient(x, inputScale) {
      const xp = perturbed(x, inputScale);
      const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.max(tf.softmax(tf.div(model.forward(xx as tf.Tensor4D, { training: false }).logits, t)), 1)))(xp);
      xp.dispose();
      return g as tf.Tensor4D;
    },
  };
}
