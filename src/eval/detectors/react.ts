import * as tf from '@tensorflow/tfjs-core';
import { percentileOfSorted } from '../../util/percentile';
import { Detector, DetectorContext, DetectorStats, storedValue } from './detector';
import { DetectorParams } from './params';

/**
 * ReAct (Sun et al. 2021): rectify the penultimate activations, then take the energy.
 *   c = the p-th percentile (default 90; linear interpolation between order statistics, numpy's
 *       default) of all ID training feature values, every sample and dimension pooled;
 *   S(z) = logsumexp(W·min(z, c) + b).
 */
export function reactDetector(ctx: DetectorContext, params: DetectorParams['react']): Detector {
  const { d, k, weight, bias } = ctx.head;
  let clip = NaN;
  return {
    name: 'react',
    fit(train) {
      // A sorted float32 copy: the values are float32 already, and N·d of them can be many.
      clip = percentileOfSorted(Float32Array.from(train.features).sort(), params.percentile);
    },
    stats: (): DetectorStats => ({ tensors: {}, values: { clip, percentile: params.percentile } }),
    restore(s) {
      clip = storedValue(s, 'clip', 'react');
    },
    scoreOutputs(o) {
      const out = new Float64Array(o.n);
      const f = new Float64Array(k);
      for (let i = 0; i < o.n; i++) {
        for (let j = 0; j < k; j++) f[j] = bias[j];
        for (let a = 0; a < d; a++) {
          const z = Math.min(o.features[i * d + a], clip);
          for (let j = 0; j < k; j++) f[j] += z * weight[a * k + j];
        }
        let m = -Infinity;
        for (let j = 0; j < k; j++) m = Math.max(m, f[j]);
        let s = 0;
        for (let j = 0; j < k; j++) s += Math.exp(f[j] - m);
        out[i] = m + Math.log(s);
      }
      return out;
    },
    tfScore: (_logits, features) =>
      tf.logSumExp(tf.add(tf.matMul(tf.minimum(features, clip), ctx.head.tf.weight), ctx.head.tf.bias), 1) as tf.Tensor1D,
  };
}
