import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../util/errors';
import { Detector, DetectorStats, Outputs, storedTensor } from './detector';
import { DetectorParams } from './params';

/**
 * Deep nearest neighbours (Sun et al. 2022): with features L2-normalised, ẑ = z / (‖z‖₂ + 1e-10)
 * (the authors' guard against a zero vector),
 *   S(z) = −‖ẑ − ẑ_(k)‖₂,
 * the Euclidean distance (not squared) to the k-th nearest normalised ID training feature; default
 * k = 50. Exact search: chunked matrix products ẑ·ẑ_iᵀ in float32 (for unit vectors ‖a − b‖² =
 * 2 − 2a·b, so the k largest products are the k nearest), then the k candidates' distances again in
 * float64, whose largest is the score.
 */
export function knnDetector(params: DetectorParams['knn']): Detector {
  const k = params.k;
  let d = 0;
  let n = 0;
  let train: Float32Array = new Float32Array(0);
  let trainT: tf.Tensor2D | undefined;
  /** Rows of a chunk of normalised features at once: chunk x N products stay below ~64 MB. */
  const chunkRows = (): number => Math.max(1, Math.min(1024, Math.floor(16_000_000 / Math.max(n, 1))));

  const normalised = (f: Float32Array, rows: number): Float32Array => {
    const out = new Float32Array(rows * d);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += f[i * d + j] * f[i * d + j];
      const inv = 1 / (Math.sqrt(s) + 1e-10);
      for (let j = 0; j < d; j++) out[i * d + j] = f[i * d + j] * inv;
    }
    return out;
  };
  const bank = (): tf.Tensor2D => (trainT ??= tf.keep(tf.tensor2d(train, [n, d])));

  /**
   * For each row of normalised features q [rows, d]: its k-th nearest training feature (index) and
   * the squared distance to it, in float64 over the k candidates of the float32 products.
   */
  const kthNeighbour = (q: Float32Array, rows: number): { index: Int32Array; dist2: Float64Array } => {
    const top = tf.tidy(() => tf.topk(tf.matMul(tf.tensor2d(q, [rows, d]), bank(), false, true), k).indices);
    const idx = top.dataSync() as Int32Array;
    top.dispose();
    const index = new Int32Array(rows);
    const dist2 = new Float64Array(rows).fill(-1);
    for (let r = 0; r < rows; r++) {
      for (let m = 0; m < k; m++) {
        const t = idx[r * k + m] * d;
        let s = 0;
        for (let j = 0; j < d; j++) s += (q[r * d + j] - train[t + j]) ** 2;
        if (s > dist2[r]) [dist2[r], index[r]] = [s, idx[r * k + m]];
      }
    }
    return { index, dist2 };
  };

  const check = (o: Outputs): void => {
    if (o.d !== d) throw new UserError(`knn: features have ${o.d} dimensions, the fitted ID features ${d}; refit (grodd eval)`);
  };

  return {
    name: 'knn',
    fit(t) {
      if (k > t.n) throw new UserError(`eval.detectors.knn.k is ${k}, more than the ${t.n} ID training samples; choose k <= ${t.n}`);
      ({ d, n } = t);
      train = normalised(t.features, n);
      trainT?.dispose();
      trainT = undefined;
    },
    stats: (): DetectorStats => ({ tensors: { train_features: { shape: [n, d], data: train } }, values: { k } }),
    restore(s) {
      [n, d] = s.tensors.train_features?.shape ?? [0, 0];
      train = Float32Array.from(storedTensor(s, 'train_features', [n, d], 'knn'));
      if (k > n) throw new UserError(`knn: k is ${k}, more than the ${n} stored ID training features; refit (grodd eval)`);
    },
    scoreOutputs(o) {
      check(o);
      const out = new Float64Array(o.n);
      const step = chunkRows();
      for (let start = 0; start < o.n; start += step) {
        const rows = Math.min(step, o.n - start);
        const q = normalised(o.features.subarray(start * d, (start + rows) * d), rows);
        const { dist2 } = kthNeighbour(q, rows);
        for (let r = 0; r < rows; r++) out[start + r] = -Math.sqrt(dist2[r]);
      }
      return out;
    },
    // The k-th neighbour is a constant of the gradient (read out, so that no top-k enters the tape).
    tfScore(_logits, features) {
      const rows = features.shape[0];
      // ‖z‖ as sqrt(Σz² + 1e-20): the same value, and a finite gradient at a zero feature vector.
      const zHat = tf.div(features, tf.add(tf.sqrt(tf.add(tf.sum(tf.square(features), 1, true), 1e-20)), 1e-10));
      const { index } = kthNeighbour(zHat.dataSync() as Float32Array, rows);
      const nb = tf.gather(bank(), tf.tensor1d(index, 'int32'));
      return tf.neg(tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(zHat, nb)), 1), 1e-12))) as tf.Tensor1D;
    },
    dispose() {
      trainT?.dispose();
      trainT = undefined;
    },
  };
}
