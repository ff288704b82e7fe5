import * as tf from '@tensorflow/tfjs-core';

/** Batch-norm statistics of one training forward pass, applied to the running statistics after the step. */
export interface BnBatchStats {
  name: string;
  mean: tf.Tensor1D;
  /** Biased batch variance. */
  variance: tf.Tensor1D;
  /** Values per channel the moments were taken over (N·H·W for a conv layer). */
  count: number;
}

export interface ForwardOptions {
  /** Train mode normalises with batch statistics; eval mode with running statistics. */
  training: boolean;
  /** In train mode, each BN layer pushes its (kept) batch statistics here so that the caller can update running stats once. */
  bnStats?: BnBatchStats[];
}

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** Penultimate-layer features h(x). */
  features: tf.Tensor2D;
}

/**
 * A classifier written with raw tfjs ops (not tfjs-layers), so that nested
 * gradients (double backprop) work on every backend. Weights are named as in
 * PyTorch's state_dict; conv kernels are stored [kh, kw, in, out] and linear
 * weights [in, out] (tfjs layout).
 */
export interface Model {
  readonly arch: string;
  readonly numClasses: number;
  readonly inputShape: [number, number, number];
  /** The final linear layer (`<head>.weight` [d, k], `<head>.bias` [k]): logits = features · W + b. */
  readonly head: string;
  /** Trainable weights. */
  readonly params: Map<string, tf.Variable>;
  /** Non-trainable state (BN running statistics). */
  readonly buffers: Map<string, tf.Variable>;
  forward(x: tf.Tensor4D, opts: ForwardOptions): ForwardResult;
}

/**
 * Exponential moving average of BN statistics, PyTorch convention: momentum
 * 0.1, variance unbiased by count/(count-1) with count the values per channel
 * (N·H·W for conv layers, as torch's batch_norm does).
 */
export function updateRunningStats(model: Model, stats: BnBatchStats[], momentum = 0.1): void {
  tf.tidy(() => {
    for (const s of stats) {
      const rm = model.buffers.get(`${s.name}.running_mean`);
      const rv = model.buffers.get(`${s.name}.running_var`);
      if (!rm || !rv) throw new Error(`model has no running statistics for BN layer ${s.name}`);
      const unbias = s.count > 1 ? s.count / (s.count - 1) : 1;
      rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(s.mean, momentum)));
      rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(s.variance, momentum * unbias)));
    }
  });
  for (const s of stats) tf.dispose([s.mean, s.variance]);
}

/**
 * Moments of a whole batch from those of its slices (same layers, in the same
 * order, per slice): mean = Σ w_k·mean_k and, by the law of total variance,
 * variance = Σ w_k·(var_k + (mean_k − mean)²), with w_k = count_k / Σ count.
 * Frees the slices' tensors.
 */
export function mergeBnStats(slices: BnBatchStats[][]): BnBatchStats[] {
  if (slices.length === 1) return slices[0];
  const merged = slices[0].map((first, layer) => {
    const parts = slices.map((stats) => stats[layer]);
    const count = parts.reduce((n, p) => n + p.count, 0);
    return tf.tidy(() => {
      const mean = tf.addN(parts.map((p) => tf.mul(p.mean, p.count / count))) as tf.Tensor1D;
      const variance = tf.addN(parts.map((p) => tf.mul(tf.add(p.variance, tf.square(tf.sub(p.mean, mean))), p.count / count))) as tf.Tensor1D;
      return { name: first.name, mean, variance, count };
    });
  });
  for (const stats of slices) for (const s of stats) tf.dispose([s.mean, s.variance]);
  return merged;
}

/**
 * A variable holding `t`'s values, `t` released: a variable shares its initial
 * tensor's buffer, and a tensor left alive would keep that buffer past the
 * variable's first update.
 */
export function variableOf(t: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

/** Sets a variable's values (row-major, its shape); no tensor outlives the call but the variable's. */
export function assignValues(v: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape, v.dtype);
  v.assign(t);
  t.dispose();
}

/** Number of trainable scalars. */
export function countParams(model: Model): number {
  let n = 0;
  for (const v of model.params.values()) n += v.size;
  return n;
}

/** Every weight and buffer by name, e.g. for checkpoints. */
export function namedTensors(model: Model): Map<string, tf.Variable> {
  return new Map([...model.params, ...model.buffers]);
}

/** The final linear layer of a model: logits = features · weight + bias, weight [d, k] (tfjs layout), bias [k]. */
export function classifierHead(model: Model): { weight: tf.Variable; bias: tf.Variable } {
  const weight = model.params.get(`${model.head}.weight`);
  const bias = model.params.get(`${model.head}.bias`);
  if (!weight || !bias) throw new Error(`${model.arch}: no final linear layer named ${model.head}`);
  return { weight, bias };
}
