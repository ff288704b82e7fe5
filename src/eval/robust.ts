/**
 * Adversarially robust OOD evaluation: a PGD attack (L∞, in [0,1] pixel space) on the detection
 * score itself. ID test samples are pushed to lower scores (to look OOD), OOD samples to higher
 * scores (to look ID); the OOD metrics are then computed on the attacked sets, per budget ε.
 * With step size α (auto: 2.5·ε/steps) and sign(0) = 0, each of `steps` steps is
 *   x ← clip_[0,1]( clip_[x₀−ε, x₀+ε]( x + α·sign(∇ₓ J(x)) ) ),   J = −S for ID, +S for OOD,
 * from x = x₀ or, with random_start, from clip_[0,1](x₀ + U(−ε, ε)); the result is the last step
 * (not the best one). Gradients are per sample (eval mode: the samples of a batch do not interact).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigReader } from '../config/reader';
import { chunkIndices } from '../infer/outputs';
import { Model } from '../models/model';
import { Rng } from '../util/rng';
import { Detector } from './detectors/detector';
import { PixelView, pixelGradient, toInput } from './pixels';
import { scoreBatch } from './score-set';

/** `eval.robust` of a config. */
export interface RobustConfig {
  epsilons: number[];
  steps: number;
  step_size: 'auto' | number;
  random_start: boolean;
  norm: 'linf';
}

export const DEFAULT_EPSILONS = [1 / 255, 2 / 255, 4 / 255];

export function parseRobust(r: ConfigReader): RobustConfig {
  const c: RobustConfig = {
    epsilons: r.fractionList('epsilons', DEFAULT_EPSILONS, { min: 0, max: 1 }),
    steps: r.number('steps', 10, { integer: true, min: 1 }),
    step_size: typeof r.raw.step_size === 'number' ? r.number('step_size', undefined, { above: 0 }) : r.oneOf('step_size', ['auto'] as const, 'auto'),
    random_start: r.boolean('random_start', true),
    norm: r.oneOf('norm', ['linf'] as const, 'linf'),
  };
  if (c.epsilons.length === 0) r.fail('epsilons', 'expected at least one budget, e.g. [1/255, 2/255, 4/255]');
  r.done();
  return c;
}

/** A budget as a multiple of 1/255 where it is one (the usual way to write pixel budgets), e.g. 2/255. */
export function formatEpsilon(eps: number): string {
  const k = eps * 255;
  return Math.abs(k - Math.round(k)) < 1e-9 ? (eps === 0 ? '0' : `${Math.round(k)}/255`) : String(Number(eps.toPrecision(4)));
}

/** α for budget ε. */
export function stepSize(c: RobustConfig, eps: number): number {
  return c.step_size === 'auto' ? (2.5 * eps) / c.steps : c.step_size;
}

export interface PgdOptions {
  eps: number;
  steps: number;
  alpha: number;
  /** +1 raises the score (OOD samples), −1 lowers it (ID samples). */
  direction: 1 | -1;
  /** U(−ε, ε) noise of the random start, one value per pixel; absent = start from x₀. */
  start?: Float32Array;
}

/**
 * PGD on one batch of pixels x₀ [n, h, w, c]: `gradient(x)` gives ∇ₓ Σ_i S(x_i) in pixel space.
 * Returns the last iterate (a new tensor).
 */
export function pgd(gradient: (x: tf.Tensor4D) => tf.Tensor4D, x0: tf.Tensor4D, o: PgdOptions): tf.Tensor4D {
  const lo = tf.sub(x0, o.eps);
  const hi = tf.add(x0, o.eps);
  let x = o.start ? tf.tidy(() => tf.clipByValue(tf.add(x0, tf.tensor(o.start!, x0.shape)), 0, 1)) as tf.Tensor4D : x0.clone();
  for (let t = 0; t < o.steps; t++) {
    const next = tf.tidy(() => {
      const g = gradient(x);
      const stepped = tf.add(x, tf.mul(tf.sign(g), o.direction * o.alpha));
      return tf.clipByValue(tf.minimum(tf.maximum(stepped, lo), hi), 0, 1) as tf.Tensor4D;
    });
    x.dispose();
    x = next;
  }
  tf.dispose([lo, hi]);
  return x;
}

/**
 * The scores of a whole set after the attack at budget ε, in dataset order, chunk by chunk.
 * `rng` draws the random starts in dataset order (so they do not depend on the chunk size).
 */
export async function attackedScores(
  model: Model,
  det: Detector,
  view: PixelView,
  role: 'id' | 'ood',
  eps: number,
  c: RobustConfig,
  rng: Rng,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Float64Array> {
  const ds = view.pixels;
  const out = new Float64Array(ds.size);
  const opts = { eps, steps: c.steps, alpha: stepSize(c, eps), direction: (role === 'id' ? -1 : 1) as 1 | -1 };
  for (let start = 0; start < ds.size; start += batchSize) {
    const b = await ds.read(chunkIndices(start, Math.min(batchSize, ds.size - start)));
    const x0 = tf.tensor4d(b.x, [b.n, ...b.shape]);
    const noise = c.random_start ? Float32Array.from({ length: b.x.length }, () => (2 * rng.next() - 1) * eps) : undefined;
    const xAdv = pgd((x) => pixelGradient(model, det, x, view), x0, { ...opts, start: noise });
    const input = toInput(xAdv, view);
    const r = await scoreBatch(model, [det], { ...b, x: (await input.data()) as Float32Array }, view.scale);
    tf.dispose([x0, xAdv, input]);
    out.set(r.scores[0], start);
    onProgress?.(start + b.n, ds.size);
  }
  return out;
}
