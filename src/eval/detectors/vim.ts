import * as tf from '@tensorflow/tfjs-core';
import { logSumExpRows } from '../../infer/softmax';
import { UserError } from '../../util/errors';
import { pinvSymmetric, symmetricEigen } from '../../util/linalg';
import { Detector, DetectorContext, DetectorStats, FitInput, storedTensor, storedValue } from './detector';
import { DetectorParams } from './params';

/**
 * Virtual-logit matching, ViM (Wang et al. 2022), as the authors' code computes it:
 *   u  = −pinv(W)·b, the origin of the feature space that the logits' bias implies
 *        (W the [K, d] PyTorch weight; here pinv(W) = Wᵀ(WWᵀ)⁺);
 *   R  = the top-D eigenvectors of the uncentred second moment (1/N) Σ_i (z_i − u)(z_i − u)ᵀ
 *        over the ID training features (the principal space; default D = half the feature
 *        dimension); R⊥ = the remaining d − D eigenvectors;
 *   v(z) = ‖R⊥ᵀ(z − u)‖₂, the norm of z − u off the principal space;
 *   α  = (mean over ID train of max_j f_j) / (mean over ID train of v(z));
 *   S(z) = logsumexp(f) − α·v(z).
 * When N < d the second moment is rank-deficient and its zero eigenvalues' eigenvectors are not
 * unique; the score is then only defined up to that choice (use D below the rank).
 */
export function vimDetector(ctx: DetectorContext, params: DetectorParams['vim']): Detector {
  const { d, k } = ctx.head;
  let dim = 0;
  let u = new Float64Array(0);
  let ns = new Float64Array(0); // R⊥, [d, d − D]
  let alpha = 0;
  let tfStats: { u: tf.Tensor1D; ns: tf.Tensor2D } | undefined;
  const m = (): number => d - dim;

  /** v(z) for each row of features. */
  const residual = (features: Float32Array, n: number): Float64Array => {
    const out = new Float64Array(n);
    const r = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) r[j] = features[i * d + j] - u[j];
      let s = 0;
      for (let c = 0; c < m(); c++) {
        let p = 0;
        for (let j = 0; j < d; j++) p += r[j] * ns[j * m() + c];
        s += p * p;
      }
      out[i] = Math.sqrt(s);
    }
    return out;
  };

  return {
    name: 'vim',
    fit(train: FitInput) {
      dim = params.dim === 'auto' ? Math.floor(d / 2) : params.dim;
      if (dim < 1 || dim >= d) throw new UserError(`eval.detectors.vim.dim is ${dim}; the principal space needs 1 <= dim < ${d} (the feature dimension)`);
      // u = −W(WᵀW)⁺b in the [d, K] layout (pinv of the [K, d] PyTorch weight is Wᵀ(WWᵀ)⁺).
      const { weight, bias } = ctx.head;
      const gram = new Float64Array(k * k);
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += weight[j * k + a] * weight[j * k + b];
        gram[a * k + b] = s;
      }
      const gInv = pinvSymmetric(gram, k, 1e-12).inverse;
      const gb = new Float64Array(k);
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) gb[a] += gInv[a * k + b] * bias[b];
      u = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let a = 0; a < k; a++) s += weight[j * k + a] * gb[a];
        u[j] = -s;
      }
      const moment = new Float64Array(d * d);
      const r = new Float64Array(d);
      for (let i = 0; i < train.n; i++) {
        for (let j = 0; j < d; j++) r[j] = train.features[i * d + j] - u[j];
        for (let a = 0; a < d; a++) for (let b = a; b < d; b++) moment[a * d + b] += r[a] * r[b];
      }
      for (let a = 0; a < d; a++) for (let b = a; b < d; b++) moment[b * d + a] = moment[a * d + b] /= train.n;
      const { vectors } = symmetricEigen(moment, d);
      ns = new Float64Array(d * m());
      for (let j = 0; j < d; j++) for (let c = 0; c < m(); c++) ns[j * m() + c] = vectors[j * d + dim + c];
      const v = residual(train.features, train.n);
      let maxLogit = 0;
      let vSum = 0;
      for (let i = 0; i < train.n; i++) {
        let best = -Infinity;
        for (let j = 0; j < k; j++) best = Math.max(best, train.logits[i * k + j]);
        maxLogit += best;
        vSum += v[i];
      }
      alpha = maxLogit / train.n / (vSum / train.n);
    },
    stats: (): DetectorStats => ({ tensors: { u: { shape: [d], data: u }, complement: { shape: [d, m()], data: ns } }, values: { alpha, dim } }),
    restore(s) {
      dim = storedValue(s, 'dim', 'vim');
      alpha = storedValue(s, 'alpha', 'vim');
      u = Float64Array.from(storedTensor(s, 'u', [d], 'vim'));
      ns = Float64Array.from(storedTensor(s, 'complement', [d, m()], 'vim'));
    },
    scoreOutputs(o) {
      const energy = logSumExpRows(o.logits, o.k);
      const v = residual(o.features, o.n);
      return energy.map((e, i) => e - alpha * v[i]);
    },
    tfScore(logits, features) {
      tfStats ??= tf.tidy(() => ({ u: tf.keep(tf.tensor1d(Float32Array.from(u))), ns: tf.keep(tf.tensor2d(Float32Array.from(ns), [d, m()])) }));
      const p = tf.matMul(tf.sub(features, tfStats.u), tfStats.ns);
      // sqrt(Σp² + 1e-12): a finite gradient where z − u lies in the principal space.
      const v = tf.sqrt(tf.add(tf.sum(tf.square(p), 1), 1e-12));
      return tf.sub(tf.logSumExp(logits, 1), tf.mul(alpha, v)) as tf.Tensor1D;
    },
    dispose() {
      if (tfStats) tf.dispose([tfStats.u, tfStats.ns]);
      tfStats = undefined;
    },
  };
}
