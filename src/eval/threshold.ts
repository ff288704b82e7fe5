/**
 * The detection threshold that keeps a given fraction of in-distribution
 * samples (higher score = more ID): a sample is flagged OOD when its score is
 * below the threshold. Computed at the end of training on the ID *test* set,
 * which serves as the ID validation set (grodd keeps no separate validation
 * split), and stored in the run's threshold.json for `grodd score`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScoreName } from './detectors';
import { UserError } from '../util/errors';

/**
 * The largest threshold t such that at least `keep` of `scores` are >= t:
 * with scores sorted ascending, s[n - ceil(keep·n)]. NaN scores are an error.
 */
export function idThreshold(scores: ArrayLike<number>, keep = 0.95): number {
  if (!(keep > 0 && keep <= 1)) throw new Error(`idThreshold: keep must be in (0, 1], got ${keep}`);
  const n = scores.length;
  if (n === 0) throw new Error('idThreshold: no scores');
  const sorted = Float64Array.from(scores).sort();
  if (Number.isNaN(sorted[n - 1])) throw new Error('idThreshold: NaN score');
  // 1e-9 guards keep·n against rounding up past an integer (0.95·100 = 95.00000000000001).
  return sorted[n - Math.ceil(keep * n - 1e-9)];
}

export const THRESHOLD_FILE = 'threshold.json';

/** threshold.json of a run. */
export interface ThresholdFile {
  /** Fraction of ID validation samples kept (score >= threshold). */
  keep: number;
  /** Which set gave the thresholds: the run's ID test set. */
  set: string;
  n: number;
  thresholds: Partial<Record<ScoreName, number>>;
}

export function thresholdFile(idName: string, scores: Partial<Record<ScoreName, ArrayLike<number>>>, keep = 0.95): ThresholdFile {
  const thresholds: Partial<Record<ScoreName, number>> = {};
  let n = 0;
  for (const [name, s] of Object.entries(scores) as [ScoreName, ArrayLike<number>][]) {
    thresholds[name] = idThreshold(s, keep);
    n = s.length;
  }
  return { keep, set: `${idName} (ID test set, used as validation)`, n, thresholds };
}

/** The run's stored threshold for `score`, or undefined when the run has none. */
export function readRunThreshold(runDir: string, score: ScoreName): number | undefined {
  const file = path.join(runDir, THRESHOLD_FILE);
  if (!fs.existsSync(file)) return undefined;
  let t: ThresholdFile;
  try {
    t = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const v = t.thresholds?.[score];
  return typeof v === 'number' ? v : undefined;
}
