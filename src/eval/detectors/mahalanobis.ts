import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../util/errors';
import { pinvSymmetric } from '../../util/linalg';
import { Detector, DetectorStats, storedTensor } from './detector';

/**
 * Mahalanobis distance on the penultimate features (Lee et al. 2018, as OpenOOD's `mds`: one layer,
 * no input preprocessing). From the ID training features z_i with labels y_i:
 *   μ_c = mean of the z_i of class c,
 *   Σ   = (1/N) Σ_i (z_i − μ_{y_i})(z_i − μ_{y_i})ᵀ   (one covariance shared by the classes),
 *   P   = pinv(Σ), computed in float64, dropping eigenvalues below 1e-10 of the largest
 *         (Σ is rank-deficient when N is small);
 *   S(z) = max_c −(z − μ_c)ᵀ P (z − μ_c).
 * Scored as −min_c (zᵀPz − 2 zᵀ(Pμ_c) + μ_cᵀPμ_c): d² + C·d operations per sample instead of C·d².
 */
export function mahalanobisDetector(): Detector {
  let d = 0;
  let c = 0;
  let means = new Float64Array(0);
  let precision: Float64Array = new Float64Array(0);
  let pMeans = new Float64Array(0); // P μ_c, [c, d]
  let quad = new Float64Array(0); // μ_cᵀ P μ_c
  let tfStats: { p: tf.Tensor2D; pm: tf.Tensor2D; q: tf.Tensor1D } | undefined;

  const derive = (): void => {
    pMeans = new Float64Array(c * d);
    quad = new Float64Array(c);
    for (let cl = 0; cl < c; cl++) {
      let q = 0;
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += precision[i * d + j] * means[cl * d + j];
        pMeans[cl * d + i] = s;
        q += means[cl * d + i] * s;
      }
      quad[cl] = q;
    }
  };

  return {
    name: 'mahalanobis',
    fit(train) {
      ({ d, k: c } = train);
      means = new Float64Array(c * d);
      const counts = new Float64Array(c);
      for (let i = 0; i < train.n; i++) {
        const y = train.labels[i];
        counts[y]++;
        for (let j = 0; j < d; j++) means[y * d + j] += train.features[i * d + j];
      }
      for (let cl = 0; cl < c; cl++) {
        if (counts[cl] === 0) throw new UserError(`mahalanobis: class ${cl} has no ID training sample, so it has no mean; train on every class`);
        for (let j = 0; j < d; j++) means[cl * d + j] /= counts[cl];
      }
      const cov = new Float64Array(d * d);
      const r = new Float64Array(d);
      for (let i = 0; i < train.n; i++) {
        const y = train.labels[i];
        for (let j = 0; j < d; j++) r[j] = train.features[i * d + j] - means[y * d + j];
        for (let a = 0; a < d; a++) {
          const ra = r[a];
          if (ra === 0) continue;
          for (let b = a; b < d; b++) cov[a * d + b] += ra * r[b];
        }
      }
      for (let a = 0; a < d; a++) {
        for (let b = a; b < d; b++) {
          cov[a * d + b] /= train.n;
          cov[b * d + a] = cov[a * d + b];
        }
      }
      precision = pinvSymmetric(cov, d, 1e-10).inverse;
      derive();
    },
    stats: (): DetectorStats => ({ tensors: { means: { shape: [c, d], data: means }, precision: { shape: [d, d], data: precision } }, values: {} }),
    restore(s) {
      [c, d] = s.tensors.means?.shape ?? [0, 0];
      means = Float64Array.from(storedTensor(s, 'means', [c, d], 'mahalanobis'));
      precision = Float64Array.from(storedTensor(s, 'precision', [d, d], 'mahalanobis'));
      derive();
    },
    scoreOutputs(o) {
      const out = new Float64Array(o.n);
      const y = new Float64Array(d);
      for (let i = 0; i < o.n; i++) {
        const z = o.features.subarray(i * d, (i + 1) * d);
        let zpz = 0;
        for (let a = 0; a < d; a++) {
          let s = 0;
          for (let b = 0; b < d; b++) s += precision[a * d + b] * z[b];
          y[a] = s;
          zpz += z[a] * s;
        }
        let best = Infinity;
        for (let cl = 0; cl < c; cl++) {
          let cross = 0;
          for (let a = 0; a < d; a++) cross += z[a] * pMeans[cl * d + a];
          const dist = zpz - 2 * cross + quad[cl];
          if (dist < best) best = dist;
        }
        out[i] = -best;
      }
      return out;
    },
    tfScore(_logits, features) {
      tfStats ??= tf.tidy(() => ({ p: tf.keep(tf.tensor2d(Float32Array.from(precision), [d, d])), pm: tf.keep(tf.tensor2d(Float32Array.from(pMeans), [c, d])), q: tf.keep(tf.tensor1d(Float32Array.from(quad))) }));
      const { p, pm, q } = tfStats;
      const zpz = tf.sum(tf.mul(tf.matMul(features, p), features), 1, true);
      const dist = tf.add(tf.sub(zpz, tf.mul(2, tf.matMul(features, pm, false, true))), q);
      return tf.max(tf.neg(dist), 1) as tf.Tensor1D;
    },
    dispose() {
      if (tfStats) tf.dispose([tfStats.p, tfStats.pm, tfStats.q]);
      tfStats = undefined;
    },
  };
}
