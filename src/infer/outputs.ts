/**
 * Model outputs of whole datasets: logits and penultimate features, in eval mode and in chunks, so
 * that memory stays bounded for any dataset size. The inference layer below both training (energy
 * margins, GReg+ candidate scoring) and evaluation (the detectors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Batch, Dataset } from '../data/dataset';
import { Model } from '../models/model';
import { argmaxRows } from './softmax';

/** Logits [n, k] and penultimate features [n, d] of a whole dataset, in eval mode. */
export interface ModelOutputs {
  logits: Float32Array;
  features?: Float32Array;
  numClasses: number;
  featureDim: number;
  labels: Int32Array;
  n: number;
}

/** Logits [n, k] and features [n, d] of one batch, in eval mode (no gradients are recorded). */
export async function batchOutputs(model: Model, b: Batch): Promise<{ logits: Float32Array; features: Float32Array; featureDim: number }> {
  const [lg, ft] = tf.tidy(() => {
    const out = model.forward(tf.tensor4d(b.x, [b.n, ...b.shape]), { training: false });
    return [out.logits, out.features];
  });
  const result = { logits: (await lg.data()) as Float32Array, features: (await ft.data()) as Float32Array, featureDim: ft.shape[1] };
  tf.dispose([lg, ft]);
  return result;
}

/** The indices start .. start + n − 1 of one chunk. */
export function chunkIndices(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
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
    const b = await ds.read(chunkIndices(start, Math.min(batchSize, ds.size - start)));
    const out = await batchOutputs(model, b);
    logits.set(out.logits, start * k);
    if (opts.features) {
      featureDim = out.featureDim;
      features ??= new Float32Array(ds.size * featureDim);
      features.set(out.features, start * featureDim);
    }
    labels.set(b.y, start);
    opts.onProgress?.(start + b.n, ds.size);
    await new Promise((res) => setImmediate(res)); // lets a Ctrl-C be handled: in-memory data never yields
  }
  return { logits, features, numClasses: k, featureDim, labels, n: ds.size };
}

/** Each sample's predicted class: the arg-max of its logits (the first on a tie). */
export function predictions(o: ModelOutputs): Int32Array {
  return argmaxRows(o.logits, o.numClasses);
}

/** Fraction of samples whose predicted class equals the label. */
export function accuracy(o: ModelOutputs): number {
  return labelAccuracy(o.labels, predictions(o));
}

/** Fraction of labels equal to their prediction (NaN for none). */
export function labelAccuracy(labels: ArrayLike<number>, preds: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (preds[i] === labels[i]) correct++;
  return labels.length ? correct / labels.length : NaN;
}
