import * as tf from '@tensorflow/tfjs-core';
import { Dataset } from '../data/dataset';
import { Model } from '../models/model';

/** Logits [n, k] and penultimate features [n, d] of a whole dataset, in eval mode. */
export interface ModelOutputs {
  logits: Float32Array;
  features?: Float32Array;
  numClasses: number;
  featureDim: number;
  labels: Int32Array;
  n: number;
}

/**
 * Runs the model in eval mode over `ds` in chunks of `batchSize`, so memory
 * stays bounded for any dataset size. `onProgress(done, total)` reports samples done.
 */
export async function modelOutputs(
  model: Model,
  ds: Dataset,
  batchSize: number,
  opts: { features?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<ModelOutputs> {
  const k = model.numClasses;
  const logits = new Float32Array(ds.size * k);
  const labels = new Int32Array(ds.size);
  let features: Float32Array | undefined;
  let featureDim = 0;
  for (let start = 0; start < ds.size; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, i) => start + i);
    const b = await ds.read(idx);
    const [lg, ft] = tf.tidy(() => {
      const out = model.forward(tf.tensor4d(b.x, [b.n, ...b.shape]), { training: false });
      return [out.logits, out.features];
    });
    logits.set(await lg.data(), start * k);
    if (opts.features) {
      featureDim = ft.shape[1];
      features ??= new Float32Array(ds.size * featureDim);
      features.set(await ft.data(), start * featureDim);
    }
    tf.dispose([lg, ft]);
    labels.set(b.y, start);
    opts.onProgress?.(start + b.n, ds.size);
  }
  return { logits, features, numClasses: k, featureDim, labels, n: ds.size };
}

/** Fraction of samples whose arg-max logit equals the label. */
export function accuracy(o: ModelOutputs): number {
  let correct = 0;
  for (let i = 0; i < o.n; i++) {
    let best = 0;
    for (let j = 1; j < o.numClasses; j++) if (o.logits[i * o.numClasses + j] > o.logits[i * o.numClasses + best]) best = j;
    if (best === o.labels[i]) correct++;
  }
  return o.n ? correct / o.n : NaN;
}
