import * as tf from '@tensorflow/tfjs-core';
import { Model } from '../../models/model';
import { UserError } from '../../util/errors';

/**
 * What every post-hoc detector implements (one file per detector in this directory, the formula in
 * its doc comment; the registry is ./index.ts). Higher score = more in-distribution, always.
 * Notation: z = penultimate features, f = logits = z·W + b (the final linear layer), K = classes,
 * p = softmax(f).
 */

/** Outputs of a batch or a whole set, flat row-major: logits [n, k], features [n, d]. */
export interface Outputs {
  n: number;
  k: number;
  d: number;
  logits: Float32Array;
  features: Float32Array;
}

/** The ID training set's outputs and labels, from which a detector fits its statistics. */
export interface FitInput extends Outputs {
  labels: Int32Array;
}

/** The final linear layer: weight [d, k] (tfjs layout), bias [k], as arrays and as the model's variables. */
export interface Head {
  d: number;
  k: number;
  weight: Float32Array;
  bias: Float32Array;
  tf: { weight: tf.Tensor2D; bias: tf.Tensor1D };
}

/** Fitted statistics as stored in a run: named float arrays (detectors/<name>.safetensors) and numbers (the JSON). */
export interface DetectorStats {
  tensors: Record<string, { shape: number[]; data: Float64Array | Float32Array }>;
  values: Record<string, number>;
}

export interface Detector {
  readonly name: string;
  /** Fits statistics of the ID training set (detectors without any leave this out). */
  fit?(train: FitInput): void;
  /** The fitted statistics, to store; and to restore them (in `grodd score`). */
  stats?(): DetectorStats;
  restore?(s: DetectorStats): void;
  /**
   * Scores in float64 from model outputs. Detectors that need the input itself (ODIN) have
   * `scoreInputs` instead.
   */
  scoreOutputs?(o: Outputs): Float64Array;
  /** Scores of a batch of model inputs [n, h, w, c]; `inputScale` = model-input units per [0,1] pixel unit, per channel. */
  scoreInputs?(x: tf.Tensor4D, inputScale: Float32Array): Promise<Float64Array>;
  /**
   * The same score as a differentiable function of the model's outputs (float32), for attacks and
   * gradients; absent for a detector that cannot be attacked.
   */
  tfScore?(logits: tf.Tensor2D, features: tf.Tensor2D): tf.Tensor1D;
  /** ∇ₓ Σ_i S(x_i) for a batch of model inputs, when it is not simply the gradient of `tfScore` (ODIN). */
  inputGradient?(x: tf.Tensor4D, inputScale: Float32Array): tf.Tensor4D;
  /** Frees tensors the detector holds. */
  dispose?(): void;
}

/** What a detector is built with. */
export interface DetectorContext {
  model: Model;
  head: Head;
}

/** A stored tensor by name, checking its shape; the error says the stored statistics do not fit. */
/** A stored number by name. */
export function storedValue(s: DetectorStats, name: string, detector: string): number {
  const v = s.values[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${detector} statistics lack the number ${name}`);
  return v;
}

export function storedTensor(s: DetectorStats, name: string, shape: number[], detector: string): Float64Array | Float32Array {
  const t = s.tensors[name];
  if (!t) throw new UserError(`${detector} statistics lack tensor ${name}`);
  if (t.shape.join(',') !== shape.join(',')) throw new UserError(`${detector} statistics: ${name} has shape [${t.shape}], the model needs [${shape}]`);
  return t.data;
}
