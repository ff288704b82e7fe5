import { UserError } from '../util/errors';

/**
 * Post-hoc OOD scores computed from classifier logits, higher = more in-distribution (the convention
 * of ./metrics). Logits arrive as a flat row-major [n, k] array (k = number of classes); every score
 * returns n values in float64, so that scores which differ only beyond float32 precision (MSP close
 * to 1) are not turned into ties.
 */

export type ScoreName = 'energy' | 'msp' | 'maxlogit';
export type ScoreFn = (logits: ArrayLike<number>, numClasses: number) => Float64Array;

/** Per-row max m and Σ_j exp(x_j − m): the shared, overflow-free core of the softmax-based scores. */
function rowStats(logits: ArrayLike<number>, numClasses: number): { max: Float64Array; sumExp: Float64Array } {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new UserError(`number of classes must be a positive integer, got ${numClasses}`);
  }
  if (logits.length % numClasses !== 0) {
    throw new UserError(`logits have ${logits.length} values, not a multiple of ${numClasses} classes`);
  }
  const n = logits.length / numClasses;
  const max = new Float64Array(n);
  const sumExp = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const base = r * numClasses;
    let m = -Infinity;
    for (let j = 0; j < numClasses; j++) {
      const x = logits[base + j];
      // A NaN/inf logit would silently become a NaN score; say where it came from instead.
      if (!Number.isFinite(x)) throw new UserError(`logit [${r}, ${j}] is ${x}; scores need finite logits (did training diverge?)`);
      if (x > m) m = x;
    }
    let s = 0;
    for (let j = 0; j < numClasses; j++) s += Math.exp(logits[base + j] - m);
    max[r] = m;
    sumExp[r] = s;
  }
  return { max, sumExp };
}

/**
 * Energy score, the negative free energy at temperature 1:  S(x) = −E(x) = log Σ_j exp(f_j(x)),
 * computed as m + log Σ_j exp(f_j − m) with m = max_j f_j so that large logits cannot overflow.
 */
export function energyScore(logits: ArrayLike<number>, numClasses: number): Float64Array {
  const { max, sumExp } = rowStats(logits, numClasses);
  return max.map((m, r) => m + Math.log(sumExp[r]));
}

/** Maximum softmax probability:  S(x) = max_j softmax(f)_j = exp(m − m) / Σ_j exp(f_j − m) = 1 / Σ_j exp(f_j − m). */
export function mspScore(logits: ArrayLike<number>, numClasses: number): Float64Array {
  const { sumExp } = rowStats(logits, numClasses);
  return sumExp.map((s) => 1 / s);
}

/** MaxLogit:  S(x) = max_j f_j(x). */
export function maxLogitScore(logits: ArrayLike<number>, numClasses: number): Float64Array {
  return rowStats(logits, numClasses).max;
}

/** The scores by the name the CLI and configs use. */
export const SCORES: Record<ScoreName, ScoreFn> = {
  energy: energyScore,
  msp: mspScore,
  maxlogit: maxLogitScore,
};

/** Narrows a user-given string to a ScoreName (own keys only, so "toString" is not a score). */
export function isScoreName(name: string): name is ScoreName {
  return Object.prototype.hasOwnProperty.call(SCORES, name);
}
