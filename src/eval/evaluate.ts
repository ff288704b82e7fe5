import { OodMetrics, oodMetrics } from './metrics';
import { SCORES, ScoreName } from './scores';
import { EvalConfig } from '../config/config';
import { Dataset } from '../data/dataset';
import { Model } from '../models/model';
import { ModelOutputs, accuracy, modelOutputs, predictions } from '../infer/outputs';
import { SampleSource, sampleSource } from '../data/source';

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

/** Per-sample scores of one evaluated set, by score name, with each sample's label and predicted class. */
export interface ScoredSet {
  name: string;
  role: 'id' | 'ood';
  scores: Partial<Record<ScoreName, Float64Array>>;
  /** The dataset's labels (-1 for an unlabelled set) and the model's arg-max classes. */
  labels: Int32Array;
  preds: Int32Array;
  /** Where each sample comes from (source index, image file), when the dataset is known. */
  sources?: SampleSource[];
}

/** The result of evaluating a model: metrics rows and the per-sample scores behind them. */
export interface Evaluation {
  rows: MetricsRow[];
  sets: ScoredSet[];
}

function scoreSet(name: string, role: ScoredSet['role'], o: ModelOutputs, scores: ScoreName[]): ScoredSet {
  return { name, role, labels: o.labels, preds: predictions(o), scores: Object.fromEntries(scores.map((s) => [s, SCORES[s](o.logits, o.numClasses)])) };
}

/**
 * The metrics of each score on each OOD set against the ID set, plus their unweighted average over
 * the OOD sets (the paper's "average across sets") when there are several.
 */
export function metricsRows(idSet: Pick<ScoredSet, 'scores'>, oodSets: Pick<ScoredSet, 'name' | 'scores'>[], scores: ScoreName[], idAccuracy: number): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const score of scores) {
    const idScores = idSet.scores[score]!;
    const perSet = oodSets.map((o) => row(score, o.name, oodMetrics(idScores, o.scores[score]!), idAccuracy, idScores.length, o.scores[score]!.length));
    rows.push(...perSet);
    if (perSet.length > 1) {
      const avg = { ...perSet[0], ood_set: AVERAGE, n_ood: perSet.reduce((t, r) => t + r.n_ood, 0) };
      for (const k of METRIC_KEYS) avg[k] = perSet.reduce((t, r) => t + r[k], 0) / perSet.length;
      rows.push(avg);
    }
  }
  return rows;
}

/**
 * Scores the ID test outputs and each OOD set's outputs with every requested
 * score, and computes the metrics per OOD set plus their average ({@link metricsRows}).
 */
export function evaluateOutputs(id: ModelOutputs, ood: { name: string; outputs: ModelOutputs }[], scores: ScoreName[], idName = 'id'): Evaluation {
  const idSet = scoreSet(idName, 'id', id, scores);
  const oodSets = ood.map((o) => scoreSet(o.name, 'ood', o.outputs, scores));
  return { rows: metricsRows(idSet, oodSets, scores, accuracy(id)), sets: [idSet, ...oodSets] };
}

/** The columns of scores.csv before the score columns (`path` only when some set has image files). */
export const SCORE_ROW_COLUMNS = ['dataset', 'role', 'index', 'path', 'label', 'pred'] as const;

/**
 * Rows of scores.csv, one per sample: dataset, role (id/ood), index (in the dataset's source, e.g. the
 * file or split it was read from), path (image file), label (empty for unlabelled sets), pred (the
 * arg-max class), then one column per score; enough to join a score back to its sample.
 */
export function scoreRows(sets: ScoredSet[]): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  const withPath = sets.some((s) => s.sources?.some((src) => src.path !== undefined));
  for (const set of sets) {
    const names = Object.keys(set.scores) as ScoreName[];
    const n = set.scores[names[0]]?.length ?? 0;
    for (let i = 0; i < n; i++) {
      const src = set.sources?.[i];
      const r: Record<string, string | number> = { dataset: set.name, role: set.role, index: src?.index ?? i };
      if (withPath) r.path = src?.path ?? '';
      r.label = set.labels[i] < 0 ? '' : set.labels[i];
      r.pred = set.preds[i];
      for (const s of names) r[s] = set.scores[s]![i];
      out.push(r);
    }
  }
  return out;
}

/** Model outputs on the ID test set and every OOD set, then {@link evaluateOutputs}. */
export async function evaluateModel(
  model: Model,
  idTest: Dataset,
  ood: Dataset[],
  c: EvalConfig,
  progress: (label: string) => (done: number, total: number) => void = () => () => undefined,
): Promise<Evaluation> {
  const id = await modelOutputs(model, idTest, c.batch_size, { onProgress: progress(`scoring ${idTest.name}`) });
  const outs = [];
  for (const ds of ood) outs.push({ name: ds.name, outputs: await modelOutputs(model, ds, c.batch_size, { onProgress: progress(`scoring ${ds.name}`) }) });
  const ev = evaluateOutputs(id, outs, c.scores, idTest.name);
  [idTest, ...ood].forEach((ds, k) => (ev.sets[k].sources = Array.from({ length: ds.size }, (_, i) => sampleSource(ds, i))));
  return ev;
}
