/**
 * The [0,1] pixel space of a dataset, where ODIN's ε, the robust evaluation's attack budgets and
 * the score-gradient statistics are measured. A set's transforms end with zero or more `normalize`
 * steps; together they are one affine map per channel, input = scale_c · pixel + shift_c, so the
 * pixels are what the transforms give without those last steps, and gradients with respect to the
 * pixels are scale_c times those with respect to the model's input.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Dataset } from '../data/dataset';
import { TransformedDataset } from '../data/transforms';
import { Model } from '../models/model';
import { UserError } from '../util/errors';
import { Detector } from './detectors/detector';

export interface PixelView {
  /** The set as [0,1] pixels (its transforms without the trailing normalize steps). */
  pixels: Dataset;
  /** Per channel: model input = scale · pixel + shift. */
  scale: Float32Array;
  shift: Float32Array;
}

/** The pixel view of a set; `where` names it (its config path) in the error for a normalize that is not last. */
export function pixelView(ds: Dataset, where: string): PixelView {
  const c = ds.shape[2];
  const scale = new Float32Array(c).fill(1);
  const shift = new Float32Array(c);
  if (!(ds instanceof TransformedDataset)) return { pixels: ds, scale, shift };
  const first = ds.list.findIndex((t) => t.type === 'normalize');
  if (first < 0) return { pixels: ds, scale, shift };
  const after = ds.list.slice(first).find((t) => t.type !== 'normalize');
  if (after) {
    throw new UserError(
      `${where}: transforms: normalize is followed by ${after.type}; ODIN, the robust evaluation and the gradient statistics work on the [0,1] pixels before normalisation, so put the normalize transforms last`,
    );
  }
  for (const t of ds.list.slice(first)) {
    if (t.type !== 'normalize') continue;
    for (let ch = 0; ch < c; ch++) {
      const m = t.mean[t.mean.length === 1 ? 0 : ch];
      const s = t.std[t.std.length === 1 ? 0 : ch];
      // (scale·p + shift − m) / s
      scale[ch] /= s;
      shift[ch] = (shift[ch] - m) / s;
    }
  }
  const prefix = ds.list.slice(0, first);
  return { pixels: prefix.length ? new TransformedDataset(ds.base, prefix, ds.seed) : ds.base, scale, shift };
}

/** Model inputs from a batch of pixels [n, h, w, c]. */
export function toInput(p: tf.Tensor4D, view: Pick<PixelView, 'scale' | 'shift'>): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(p, tf.tensor1d(view.scale)), tf.tensor1d(view.shift)) as tf.Tensor4D);
}

/**
 * ∇ₓ Σ_i S(x_i) for a batch of model inputs: the detector's own input gradient (ODIN) or that of its
 * differentiable score. In eval mode the samples do not interact, so each row is that sample's gradient.
 */
export function inputGradient(model: Model, det: Detector, x: tf.Tensor4D, inputScale: Float32Array): tf.Tensor4D {
  if (det.inputGradient) return det.inputGradient(x, inputScale);
  const score = det.tfScore;
  if (!score) throw new Error(`${det.name} has no input gradient`);
  return tf.grad((xx: tf.Tensor) => {
    const out = model.forward(xx as tf.Tensor4D, { training: false });
    return tf.sum(score(out.logits, out.features));
  })(x) as tf.Tensor4D;
}

/** ∇ with respect to the [0,1] pixels: scale_c · ∇ₓ through input = scale · pixel + shift. */
export function pixelGradient(model: Model, det: Detector, p: tf.Tensor4D, view: Pick<PixelView, 'scale' | 'shift'>): tf.Tensor4D {
  return tf.tidy(() => tf.mul(inputGradient(model, det, toInput(p, view), view.scale), tf.tensor1d(view.scale)) as tf.Tensor4D);
}
