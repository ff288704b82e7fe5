/**
 * Score-gradient statistics: how steep the energy score S(x) = logsumexp f(x) is around each
 * sample, measured with respect to the [0,1] pixels (not the normalised input). GReg's claim is
 * that it keeps S locally flat, so that a whole neighbourhood stays on the right side of the
 * threshold; the first-order bound S(x + δ) ≥ S(x) − ε‖∇ₓS(x)‖₁ for ‖δ‖∞ <= ε tells which ID samples
 * certainly do (to first order).
 */
import * as tf from '@tensorflow/tfjs-core';
import { chunkIndices } from '../infer/outputs';
import { Model } from '../models/model';
import { percentile } from '../util/percentile';
import { energyDetector } from './detectors/energy';
import { PixelView, pixelGradient } from './pixels';

/** Per-sample ‖∇ₓS(x)‖₂ and ‖∇ₓS(x)‖₁ of a set, in dataset order. */
export interface GradientNorms {
  l2: Float64Array;
  l1: Float64Array;
}

/** The energy score's pixel gradients of a whole set, chunk by chunk. */
export async function energyGradientNorms(model: Model, view: PixelView, batchSize: number, onProgress?: (done: number, total: number) => void): Promise<GradientNorms> {
  const ds = view.pixels;
  const det = energyDetector();
  const l2 = new Float64Array(ds.size);
  const l1 = new Float64Array(ds.size);
  for (let start = 0; start < ds.size; start += batchSize) {
    const b = await ds.read(chunkIndices(start, Math.min(batchSize, ds.size - start)));
    const g = tf.tidy(() => tf.reshape(pixelGradient(model, det, tf.tensor4d(b.x, [b.n, ...b.shape]), view), [b.n, -1]));
    const values = (await g.data()) as Float32Array;
    g.dispose();
    const per = values.length / b.n;
    for (let i = 0; i < b.n; i++) {
      let s2 = 0;
      let s1 = 0;
      for (let j = i * per; j < (i + 1) * per; j++) {
        s2 += values[j] * values[j];
        s1 += Math.abs(values[j]);
      }
      l2[start + i] = Math.sqrt(s2);
      l1[start + i] = s1;
    }
    onProgress?.(start + b.n, ds.size);
  }
  return { l2, l1 };
}

/** One row of gradient_stats.csv. */
export interface GradientStatsRow {
  score: 'energy';
  dataset: string;
  role: 'id' | 'ood';
  n: number;
  grad_l2_mean: number;
  grad_l2_median: number;
  grad_l2_p95: number;
  /** ID rows only: the budget, the score threshold that keeps 95% of the ID test set, and the share of ID samples with S − ε‖∇S‖₁ >= threshold. */
  epsilon: number | '';
  threshold: number | '';
  kept: number | '';
}

/**
 * The rows of gradient_stats.csv: per set the mean, median and 95th percentile of ‖∇ₓS‖₂; for the
 * ID set one row per ε in [0, ...epsilons] with the share of samples kept by the first-order bound.
 */
export function gradientStatsRows(
  sets: { name: string; role: 'id' | 'ood'; norms: GradientNorms; scores: ArrayLike<number> }[],
  threshold: number,
  epsilons: readonly number[],
): GradientStatsRow[] {
  const rows: GradientStatsRow[] = [];
  for (const s of sets) {
    const n = s.norms.l2.length;
    const base = {
      score: 'energy' as const,
      dataset: s.name,
      role: s.role,
      n,
      grad_l2_mean: s.norms.l2.reduce((a, b) => a + b, 0) / n,
      grad_l2_median: percentile(s.norms.l2, 50),
      grad_l2_p95: percentile(s.norms.l2, 95),
    };
    if (s.role === 'ood') {
      rows.push({ ...base, epsilon: '', threshold: '', kept: '' });
      continue;
    }
    for (const eps of [0, ...epsilons.filter((e) => e > 0)]) {
      let kept = 0;
      for (let i = 0; i < n; i++) if (s.scores[i] - eps * s.norms.l1[i] >= threshold) kept++;
      rows.push({ ...base, epsilon: eps, threshold, kept: kept / n });
    }
  }
  return rows;
}
