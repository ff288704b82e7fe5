import { UserError } from '../util/errors';

/**
 * Row statistics of classifier logits in float64, the overflow-free core of every softmax-based
 * quantity: logits arrive as a flat row-major [n, k] array, and scores that differ only beyond
 * float32 precision (a softmax close to 1) must not turn into ties. Below both evaluation (the
 * detectors) and training (the energy margins), which both read them.
 */

/** Per row r: max m_r = max_j f_rj / T and s_r = Σ_j exp(f_rj / T − m_r). */
export function logitRowStats(logits: ArrayLike<number>, numClasses: number, temperature = 1): { max: Float64Array; sumExp: Float64Array } {
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
      if (x / temperature > m) m = x / temperature;
    }
    let s = 0;
    for (let j = 0; j < numClasses; j++) s += Math.exp(logits[base + j] / temperature - m);
    max[r] = m;
    sumExp[r] = s;
  }
  return { max, sumExp };
}

/** log Σ_j exp(f_j) per row, as m + log Σ_j exp(f_j − m) so that large logits cannot overflow. */
export function logSumExpRows(logits: ArrayLike<number>, numClasses: number): Float64Array {
  const { max, sumExp } = logitRowStats(logits, numClasses);
  return max.map((m, r) => m + Math.log(sumExp[r]));
}

/** The arg-max class of each row (the first on ties). */
export function argmaxRows(logits: ArrayLike<number>, numClasses: number): Int32Array {
  const n = Math.floor(logits.length / numClasses);
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < numClasses; j++) if (logits[r * numClasses + j] > logits[r * numClasses + best]) best = j;
    out[r] = best;
  }
  return out;
}
