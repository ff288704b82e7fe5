import { OodMetrics, oodMetrics } from './metrics';
import { SCORES, ScoreName } from './scores';
import { EvalConfig } from '../config/config';
import { Dataset } from '../data/dataset';
import { Model } from '../models/model';
import { ModelOutputs, accuracy, modelOutputs } from './logits';

/** One row of metrics.csv: a score function on one OOD set, or the average over sets. */
export interface MetricsRow {
  score: ScoreName;
  ood_set: string;
  fpr95: number;
  auroc: number;
  aupr_in: number;
  aupr_out: number;
  id_accuracy: number;
  n_id: number;
  n_ood: number;
}

/** The OOD metrics of a row, in report order. */
export const METRIC_KEYS = ['fpr95', 'auroc', 'aupr_in', 'aupr_out'] as const;

/** The name of the row holding the mean over all OOD sets. */
export const AVERAGE = 'average';

function row(score: ScoreName, set: string, m: OodMetrics, acc: number, nId: number, nOod: number): MetricsRow {
  return { score, ood_set: set, fpr95: m.fpr95, auroc: m.auroc, aupr_in: m.auprIn, aupr_out: m.auprOut, id_accuracy: acc, n_id: nId, n_ood: nOod };
}

/**
 * Scores the ID test outputs and each OOD set's outputs with every requested
 * score, and computes the metrics per OOD set plus their unweighted average
 * (the paper's "average across sets").
 */
export function evaluateOutputs(id: ModelOutputs, ood: { name: string; outputs: ModelOutputs }[], scores: ScoreName[]): MetricsRow[] {
  const acc = accuracy(id);
  const rows: MetricsRow[] = [];
  for (const score of scores) {
    const fn = SCORES[score];
    const idScores = fn(id.logits, id.numClasses);
    const perSet = ood.map((o) => row(score, o.name, oodMetrics(idScores, fn(o.outputs.logits, o.outputs.numClasses)), acc, id.n, o.outputs.n));
    rows.push(...perSet);
    if (perSet.length > 1) {
      const avg = { ...perSet[0], ood_set: AVERAGE, n_ood: perSet.reduce((t, r) => t + r.n_ood, 0) };
      for (const k of METRIC_KEYS) avg[k] = perSet.reduce((t, r) => t + r[k], 0) / perSet.length;
      rows.push(avg);
    }
  }
  return rows;
}

/** Model outputs on the ID test set and every OOD set, then {@link evaluateOutputs}. */
export async function evaluateModel(
  model: Model,
  idTest: Dataset,
  ood: Dataset[],
  c: EvalConfig,
  progress: (label: string) => (done: number, total: number) => void = () => () => undefined,
): Promise<MetricsRow[]> {
  const id = await modelOutputs(model, idTest, c.batch_size, { onProgress: progress(`scoring ${idTest.name}`) });
  const outs = [];
  for (const ds of ood) outs.push({ name: ds.name, outputs: await modelOutputs(model, ds, c.batch_size, { onProgress: progress(`scoring ${ds.name}`) }) });
  return evaluateOutputs(id, outs, c.scores);
}
