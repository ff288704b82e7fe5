import * as tf from '@tensorflow/tfjs-core';
import { BnBatchStats, Model, mergeBnStats, updateRunningStats } from '../models/model';
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
 *
 * With `microBatches` = c > 1 the ID and outlier batches are cut into c equal
 * slices whose gradients are summed before the one update, so that a step's
 * double-backprop tape holds 1/c of the activations. Each slice's terms are
 * weighted to the full batch's denominators: with r = 1/c,
 *   L = Σ_k r·(L_CE,k + λ_S·L_S,k + λ_OE·L_OE,k) + λ_∇S·r²·L_∇S,k
 * (the r² because D_k is a mean over r·n samples, so its input gradients are
 * 1/r times the full batch's, and L_∇S averages over r·n of them). The only
 * difference from one full pass is that BN normalises each slice with its own
 * statistics (as nn.DataParallel does per device); the running statistics are
 * updated once from the merged moments of the whole batch.
 */
export function trainStep(
  model: Model,
  opt: Optimizer,
  lr: number,
  xIn: tf.Tensor4D,
  yIn: tf.Tensor1D,
  xOut: tf.Tensor4D | null,
  s: LossSettings,
  microBatches = 1,
): StepResult {
  const nIn = xIn.shape[0];
  const nOut = xOut ? xOut.shape[0] : 0;
  const c = microBatches;
  if (!Number.isInteger(c) || c < 1 || nIn % c !== 0 || nOut % c !== 0) {
    throw new Error(`micro-batches: ${c} must be a positive integer dividing both the ID batch (${nIn}) and the outlier batch (${nOut})`);
  }
  if (c === 1) {
    const r = sliceGradients(model, xIn, yIn, xOut, s, 1);
    updateRunningStats(model, r.bnStats);
    return applyUpdate(model, opt, lr, r.grads, r.losses, r.correct);
  }
  const mIn = nIn / c;
  const mOut = nOut / c;
  const weight = 1 / c;
  let grads: Record<string, tf.Tensor> | null = null;
  const losses: StepLosses = { total: 0, ce: 0, energy: 0, oe: 0, grad_reg: 0 };
  const bnChunks: BnBatchStats[][] = [];
  let correct = 0;
  for (let k = 0; k < c; k++) {
    const xi = tf.slice(xIn, k * mIn, mIn) as tf.Tensor4D;
    const yi = tf.slice(yIn, k * mIn, mIn) as tf.Tensor1D;
    const xo = xOut && mOut > 0 ? (tf.slice(xOut, k * mOut, mOut) as tf.Tensor4D) : null;
    const r = sliceGradients(model, xi, yi, xo, s, weight);
    tf.dispose([xi, yi, ...(xo ? [xo] : [])]);
    if (grads === null) grads = r.grads;
    else {
      for (const name of Object.keys(grads)) {
        const sum: tf.Tensor = tf.add(grads[name], r.grads[name]);
        tf.dispose([grads[name], r.grads[name]]);
        grads[name] = sum;
      }
    }
    for (const key of Object.keys(losses) as (keyof StepLosses)[]) losses[key] += r.losses[key];
    correct += r.correct;
    bnChunks.push(r.bnStats);
  }
  updateRunningStats(model, mergeBnStats(bnChunks));
  return applyUpdate(model, opt, lr, grads!, losses, correct);
}

interface SliceResult {
  /** Weight gradients by parameter name, of the slice's weighted loss. */
  grads: Record<string, tf.Tensor>;
  /** The slice's weighted loss components (summing over slices gives the batch's). */
  losses: StepLosses;
  correct: number;
  bnStats: BnBatchStats[];
}

/** Loss and weight gradients of one (slice of a) batch, its terms weighted by `weight` (L_∇S by weight²). */
function sliceGradients(model: Model, xIn: tf.Tensor4D, yIn: tf.Tensor1D, xOut: tf.Tensor4D | null, s: LossSettings, weight: number): SliceResult {
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
    const total = tf.addN([ce, tf.mul(ls, s.energyWeight), tf.mul(oe, s.oeWeight), tf.mul(reg, useReg ? s.gradRegWeight * weight : 0)]);
    return (weight === 1 ? total : tf.mul(total, weight)) as tf.Scalar;
  }, [...model.params.values()]);

  const named: Record<string, tf.Tensor> = {};
  for (const [name, v] of model.params) named[name] = grads[v.name];
  const [ce, ls, oe, reg] = parts.map((t) => t.dataSync()[0]);
  const total = value.dataSync()[0];
  const pred = predKept!.dataSync();
  const labels = yIn.dataSync();
  let correct = 0;
  for (let i = 0; i < nIn; i++) if (pred[i] === labels[i]) correct++;
  tf.dispose([value, ...parts, predKept!, ...(innerLogits ? [innerLogits] : []), ...(direction ? [direction] : []), ...(x !== xIn ? [x] : [])]);
  return { grads: named, losses: { total, ce: ce * weight, energy: ls * weight, oe: oe * weight, grad_reg: reg * weight * weight }, correct, bnStats };
}

/** Optimizer update with summed gradients; frees them. */
function applyUpdate(model: Model, opt: Optimizer, lr: number, grads: Record<string, tf.Tensor>, losses: StepLosses, correct: number): StepResult {
  opt.step(model.params, grads, lr);
  tf.dispose(Object.values(grads));
  return { losses, correct };
}
