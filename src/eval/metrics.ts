import { UserError } from '../util/errors';

/**
 * OOD detection metrics. Convention throughout: in-distribution (ID) is the positive class and a
 * higher score means "more ID". Every function takes `(idScores, oodScores)` and reproduces
 * scikit-learn (roc_auc_score, average_precision_score) and the Outlier-Exposure FPR95 routine,
 * ties included.
 */

export interface OodMetrics {
  /** FPR on OOD at the ROC point whose TPR is nearest to 0.95, see {@link fpr95}. */
  fpr95: number;
  auroc: number;
  /** Average precision, ID positive. */
  auprIn: number;
  /** Average precision, OOD positive (scores negated). */
  auprOut: number;
}

/**
 * The ROC operating points, one per distinct score threshold, highest threshold first (what
 * scikit-learn's `_binary_clf_curve` computes): at point i, `tps[i]` positive and `fps[i]` negative
 * samples score >= `thresholds[i]`. Positive is ID, except on the curve of negated scores used for
 * AUPR-Out. Tied scores share one point, which is how every metric here treats ties.
 */
export interface RocPoints {
  thresholds: Float64Array;
  tps: Float64Array;
  fps: Float64Array;
  nPos: number;
  nNeg: number;
}

/** Rejects what would make a metric meaningless: an empty set or a score that is not a finite number. */
function checkScores(scores: ArrayLike<number>, what: string): void {
  if (scores.length === 0) throw new UserError(`${what} scores are empty: OOD metrics need at least one ID and one OOD score`);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    // Infinity is rejected too (as scikit-learn does): an infinite score usually means a diverged model.
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new UserError(`${what} score at index ${i} is ${String(s)}; OOD metrics need finite numbers`);
    }
  }
}

/** Ascending copy in float64; typed-array sort is numeric and much faster than sorting an index array. */
function sortedAscending(scores: ArrayLike<number>): Float64Array {
  return Float64Array.from(scores).sort();
}

/**
 * Cumulative (tps, fps) per distinct threshold, from the highest threshold down, ID positive. Both
 * sets are sorted and merged from their tops, consuming every score equal to the current threshold
 * from both sides at once, so ties form a single point.
 */
export function rocPoints(idScores: ArrayLike<number>, oodScores: ArrayLike<number>): RocPoints {
  checkScores(idScores, 'ID');
  checkScores(oodScores, 'OOD');
  const p = sortedAscending(idScores);
  const n = sortedAscending(oodScores);
  const cap = p.length + n.length;
  const thresholds = new Float64Array(cap);
  const tps = new Float64Array(cap);
  const fps = new Float64Array(cap);
  let i = p.length - 1;
  let j = n.length - 1;
  let tp = 0;
  let fp = 0;
  let m = 0;
  while (i >= 0 || j >= 0) {
    const t = i < 0 ? n[j] : j < 0 ? p[i] : Math.max(p[i], n[j]);
    while (i >= 0 && p[i] === t) { tp++; i--; }
    while (j >= 0 && n[j] === t) { fp++; j--; }
    thresholds[m] = t;
    tps[m] = tp;
    fps[m] = fp;
    m++;
  }
  return { thresholds: thresholds.slice(0, m), tps: tps.slice(0, m), fps: fps.slice(0, m), nPos: p.length, nNeg: n.length };
}

/**
 * Area under the ROC curve by the trapezoidal rule over the points of {@link rocPoints}, starting at
 * (0, 0):  AUROC = Σ_i (FP_i − FP_{i−1})(TP_i + TP_{i−1}) / (2 · n_id · n_ood).
 * A tie between an ID and an OOD score thus counts 1/2, as in scikit-learn's roc_auc_score. The sum
 * is over integers, so it is exact until the final division.
 */
export function auroc(idScores: ArrayLike<number>, oodScores: ArrayLike<number>): number {
  return aurocOf(rocPoints(idScores, oodScores));
}

function aurocOf(r: RocPoints): number {
  let area2 = 0;
  let tpPrev = 0;
  let fpPrev = 0;
  for (let i = 0; i < r.tps.length; i++) {
    area2 += (r.fps[i] - fpPrev) * (r.tps[i] + tpPrev);
    tpPrev = r.tps[i];
    fpPrev = r.fps[i];
  }
  return area2 / (2 * r.nPos * r.nNeg);
}

/**
 * Average precision as scikit-learn's average_precision_score (a step sum, no interpolation):
 *   AP = Σ_i (R_i − R_{i−1}) · P_i,  R_i = TP_i / n_pos,  P_i = TP_i / (TP_i + FP_i),  R_0 = 0,
 * over the distinct thresholds from the highest down.
 */
function averagePrecisionOf(r: RocPoints): number {
  let ap = 0;
  let tpPrev = 0;
  for (let i = 0; i < r.tps.length; i++) {
    const tp = r.tps[i];
    if (tp !== tpPrev) ap += ((tp - tpPrev) / r.nPos) * (tp / (tp + r.fps[i]));
    tpPrev = tp;
  }
  return ap;
}

/** AUPR-In: average precision with ID as the positive class (see {@link averagePrecisionOf}). */
export function auprIn(idScores: ArrayLike<number>, oodScores: ArrayLike<number>): number {
  return averagePrecisionOf(rocPoints(idScores, oodScores));
}

/** AUPR-Out: average precision with OOD as the positive class and every score negated (−s ranks OOD first). */
export function auprOut(idScores: ArrayLike<number>, oodScores: ArrayLike<number>): number {
  return averagePrecisionOf(negated(rocPoints(idScores, oodScores)));
}

/**
 * The ROC points of the negated scores with the classes swapped, derived from `r` without sorting
 * again: threshold −t_k admits every sample with s <= t_k, i.e. all but those counted at t_{k−1}, so
 * walking r backwards gives  TP'_k = n_ood − FP_{k−1},  FP'_k = n_id − TP_{k−1}  (with FP_{−1} = TP_{−1} = 0).
 */
function negated(r: RocPoints): RocPoints {
  const m = r.tps.length;
  const thresholds = new Float64Array(m);
  const tps = new Float64Array(m);
  const fps = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const k = m - 1 - j;
    thresholds[j] = -r.thresholds[k];
    tps[j] = r.nNeg - (k > 0 ? r.fps[k - 1] : 0);
    fps[j] = r.nPos - (k > 0 ? r.tps[k - 1] : 0);
  }
  return { thresholds, tps, fps, nPos: r.nNeg, nNeg: r.nPos };
}

/**
 * FPR at 95% TPR, as the Outlier-Exposure code computes it (not an interpolated threshold):
 *   candidates: the ROC points of {@link rocPoints} from the highest threshold down to the first point
 *   where TPR reaches 1 (points below it only add false positives);
 *   pick k = argmin_i |TP_i / n_id − recallLevel|; among equally near points take the one with the
 *   LOWEST threshold (largest FPR); report FPR = FP_k / n_ood.
 * The tie rule matters often: consecutive thresholds passed only by OOD scores share one TPR. The
 * reference fixture requires exactly this rule (the OE routine scans the reversed points and keeps the
 * first minimum); taking the highest-threshold point instead disagrees on 7 of its 28 cases.
 */
export function fpr95(idScores: ArrayLike<number>, oodScores: ArrayLike<number>, recallLevel = 0.95): number {
  return fprAtRecallOf(rocPoints(idScores, oodScores), recallLevel);
}

/** The ROC operating point that FPR95 reports, with its score threshold (scores >= threshold count as ID). */
export interface RecallPoint {
  index: number;
  threshold: number;
  tpr: number;
  fpr: number;
}

/**
 * The ROC point whose TPR is nearest to `recallLevel`, walking from the highest threshold and
 * stopping at the first point with TPR = 1; an equal distance goes to the later (lower-threshold)
 * point, as in the Outlier-Exposure routine. The one definition of the FPR95 operating point.
 */
export function pointAtRecall(r: RocPoints, recallLevel = 0.95): RecallPoint {
  if (!(recallLevel > 0 && recallLevel <= 1)) throw new UserError(`recall level must be in (0, 1], got ${recallLevel}`);
  let best = Infinity;
  let k = 0;
  for (let i = 0; i < r.tps.length; i++) {
    const d = Math.abs(r.tps[i] / r.nPos - recallLevel);
    if (d <= best) {
      best = d;
      k = i;
    }
    if (r.tps[i] === r.nPos) break;
  }
  return { index: k, threshold: r.thresholds[k], tpr: r.tps[k] / r.nPos, fpr: r.fps[k] / r.nNeg };
}

function fprAtRecallOf(r: RocPoints, recallLevel: number): number {
  return pointAtRecall(r, recallLevel).fpr;
}

/**
 * The two FPR95 conventions (`eval.fpr95`): `nearest` = {@link fpr95}, the ROC point nearest 95% TPR
 * (the Outlier-Exposure routine, which the authors' code uses); `openood` = {@link fpr95OpenOod}.
 */
export const FPR95_CONVENTIONS = ['nearest', 'openood'] as const;
export type Fpr95Convention = (typeof FPR95_CONVENTIONS)[number];

/**
 * FPR at 95% TPR as OpenOOD computes it (its `fpr_recall`): with m = ⌊0.95 · n_id⌋ (at least 1),
 * the threshold t is the m-th highest ID score, so m ID scores are >= t, and
 *   FPR = #{OOD scores >= t} / n_ood.
 * It differs from the nearest-point rule when OOD scores tie with t or when 0.95 · n_id is not an
 * integer and the nearest ROC point lies on the other side of it.
 */
export function fpr95OpenOod(idScores: ArrayLike<number>, oodScores: ArrayLike<number>, recallLevel = 0.95): number {
  checkScores(idScores, 'ID');
  checkScores(oodScores, 'OOD');
  const sorted = sortedAscending(idScores);
  const m = Math.max(1, Math.floor(recallLevel * sorted.length));
  const t = sorted[sorted.length - m];
  let fp = 0;
  for (let i = 0; i < oodScores.length; i++) if (oodScores[i] >= t) fp++;
  return fp / oodScores.length;
}

/** All four metrics from a single sort of the scores. */
export function oodMetrics(idScores: ArrayLike<number>, oodScores: ArrayLike<number>, convention: Fpr95Convention = 'nearest'): OodMetrics {
  const r = rocPoints(idScores, oodScores);
  return {
    fpr95: convention === 'nearest' ? fprAtRecallOf(r, 0.95) : fpr95OpenOod(idScores, oodScores),
    auroc: aurocOf(r),
    auprIn: averagePrecisionOf(r),
    auprOut: averagePrecisionOf(negated(r)),
  };
}
