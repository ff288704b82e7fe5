import * as tf from '@tensorflow/tfjs-core';
import { BnBatchStats, Model, updateRunningStats } from '../models/model';
import { crossEntropy } from './ce-loss';
import { energy } from './energy';
import { Margins, energyMarginLoss } from './energy-loss';
import { detectionTerm, exactGradPenalty, finiteDifferencePenalty, unitDirections } from './greg-loss';
import { outlierExposureLoss } from './oe-loss';
import { Optimizer } from './optimizers';

/** The loss weights and regularizer settings of one training step. */
export interface LossSettings {
  /** λ_S, weight of the energy margin loss. */
  energyWeight: number;
  /** Weight of the Outlier Exposure loss (0 for the GReg methods). */
  oeWeight: number;
  /** λ_∇S, weight of the gradient regularizer. */
  gradRegWeight: number;
  gradRegMode: 'exact' | 'finite-difference';
  /** Step h of the finite-difference estimate, in input units. */
  fdStep: number;
  margins: Margins;
}

/** Loss components of one step (plain numbers, for logging). */
export interface StepLosses {
  total: number;
  ce: number;
  energy: number;
  oe: number;
  grad_reg: number;
}

export interface StepResult {
  losses: StepLosses;
  /** Correctly classified ID samples of the batch. */
  correct: number;
}

/**
 * One training step on an ID batch (xIn, yIn) and an outlier batch xOut (may be empty):
 *   L = L_CE + λ_S·L_S + λ_∇S·L_∇S (+ λ_OE·L_OE for the Outlier Exposure baseline)
 * over one forward pass of the concatenated batch (BN statistics shared, as in
 * the authors' code), then an optimizer update and the BN running-statistics update.
 */
export function trainStep(
  model: Model,
  opt: Optimizer,
  lr: number,
  xIn: tf.Tensor4D,
  yIn: tf.Tensor1D,
  xOut: tf.Tensor4D | null,
  s: LossSettings,
): StepResult {
  const nIn = xIn.shape[0];
  const x = xOut && xOut.shape[0] > 0 ? (tf.concat([xIn, xOut]) as tf.Tensor4D) : xIn;
  const n = x.shape[0];
  const useS = s.energyWeight > 0 && n > nIn;
  const useReg = s.gradRegWeight > 0 && n > nIn;
  const useOe = s.oeWeight > 0 && n > nIn;
  const detection = (logits: tf.Tensor2D): tf.Scalar => detectionTerm(energy(logits), nIn, s.margins);

  // Finite differences need the input gradient first, outside the weight tape.
  const direction = useReg && s.gradRegMode === 'finite-difference'
    ? tf.tidy(() => unitDirections(tf.grad((xx) => detection(model.forward(xx as tf.Tensor4D, { training: true }).logits))(x) as tf.Tensor4D))
    : null;

  const bnStats: BnBatchStats[] = [];
  const parts: tf.Scalar[] = [];
  let predKept: tf.Tensor | null = null;
  // Logits kept out of the inner tf.grad scope so the losses reuse that forward pass; disposed below.
  let innerLogits: tf.Tensor2D | null = null;
  const { value, grads } = tf.variableGrads(() => {
    let logits: tf.Tensor2D;
    let reg: tf.Scalar = tf.scalar(0);
    if (useReg && s.gradRegMode === 'exact') {
      reg = exactGradPenalty((xx) => {
        innerLogits = tf.keep(model.forward(xx, { training: true, bnStats }).logits);
        return detection(innerLogits);
      }, x);
      logits = innerLogits!;
    } else {
      logits = model.forward(x, { training: true, bnStats }).logits;
      if (direction) {
        const shifted = model.forward(tf.add(x, tf.mul(direction, s.fdStep)) as tf.Tensor4D, { training: true }).logits;
        reg = finiteDifferencePenalty(detection(logits), detection(shifted), s.fdStep, n);
      }
    }
    const logitsIn = tf.slice(logits, [0, 0], [nIn, -1]) as tf.Tensor2D;
    const ce = crossEntropy(logitsIn, yIn);
    const ls = useS ? energyMarginLoss(energy(logits), nIn, s.margins) : tf.scalar(0);
    const oe = useOe ? outlierExposureLoss(tf.slice(logits, [nIn, 0], [-1, -1]) as tf.Tensor2D) : tf.scalar(0);
    parts.push(tf.keep(ce), tf.keep(ls), tf.keep(oe), tf.keep(reg));
    predKept = tf.keep(tf.argMax(logitsIn, 1));
    return tf.addN([ce, tf.mul(ls, s.energyWeight), tf.mul(oe, s.oeWeight), tf.mul(reg, useReg ? s.gradRegWeight : 0)]) as tf.Scalar;
  }, [...model.params.values()]);

  const named: Record<string, tf.Tensor> = {};
  for (const [name, v] of model.params) named[name] = grads[v.name];
  opt.step(model.params, named, lr);
  updateRunningStats(model, bnStats);

  const [ce, ls, oe, reg] = parts.map((t) => t.dataSync()[0]);
  const total = value.dataSync()[0];
  const pred = predKept!.dataSync();
  const labels = yIn.dataSync();
  let correct = 0;
  for (let i = 0; i < nIn; i++) if (pred[i] === labels[i]) correct++;
  tf.dispose([value, ...Object.values(grads), ...parts, predKept!, ...(innerLogits ? [innerLogits] : []), ...(direction ? [direction] : []), ...(x !== xIn ? [x] : [])]);
  return { losses: { total, ce, energy: ls, oe, grad_reg: reg }, correct };
}
