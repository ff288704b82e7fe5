/**
 * Per-sample scores of a dataset under several detectors at once: one eval-mode forward pass per
 * chunk serves every detector that scores from logits and features; ODIN adds its own passes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Batch, Dataset } from '../data/dataset';
import { batchOutputs, chunkIndices } from '../infer/outputs';
import { argmaxRows } from '../infer/softmax';
import { Model } from '../models/model';
import { Detector } from './detectors/detector';

/** Scores of one batch of model inputs under each detector (in order), and the batch's logits. */
export async function scoreBatch(model: Model, dets: readonly Detector[], b: Batch, inputScale: Float32Array): Promise<{ scores: Float64Array[]; logits: Float32Array }> {
  const out = await batchOutputs(model, b);
  const o = { n: b.n, k: model.numClasses, d: out.featureDim, logits: out.logits, features: out.features };
  const scores: Float64Array[] = [];
  for (const det of dets) {
    if (det.scoreOutputs) scores.push(det.scoreOutputs(o));
    else {
      const x = tf.tensor4d(b.x, [b.n, ...b.shape]);
      scores.push(await det.scoreInputs!(x, inputScale));
      x.dispose();
    }
  }
  return { scores, logits: out.logits };
}

export interface SetScores {
  /** One array per detector, in the order given. */
  scores: Float64Array[];
  /** The arg-max class and the label (−1 for unlabelled) of each sample. */
  pred: Int32Array;
  labels: Int32Array;
}

/** {@link scoreBatch} over a whole set in chunks of `batchSize`, so memory stays bounded. */
export async function scoreSet(
  model: Model,
  dets: readonly Detector[],
  ds: Dataset,
  batchSize: number,
  inputScale: Float32Array,
  onProgress?: (done: number, total: number) => void,
): Promise<SetScores> {
  const scores = dets.map(() => new Float64Array(ds.size));
  const pred = new Int32Array(ds.size);
  const labels = new Int32Array(ds.size);
  for (let start = 0; start < ds.size; start += batchSize) {
    const b = await ds.read(chunkIndices(start, Math.min(batchSize, ds.size - start)));
    const r = await scoreBatch(model, dets, b, inputScale);
    r.scores.forEach((s, i) => scores[i].set(s, start));
    pred.set(argmaxRows(r.logits, model.numClasses), start);
    labels.set(b.y, start);
    onProgress?.(start + b.n, ds.size);
  }
  return { scores, pred, labels };
}
