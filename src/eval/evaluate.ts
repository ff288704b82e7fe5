/**
 * Evaluation of a trained model: the detectors of `eval.scores` (fitted on the ID training set
 * where they need statistics) on the ID test set and every OOD set, the metrics per OOD set with
 * their averages (overall and per group), and optionally the robust evaluation under attack and the
 * score-gradient statistics. Pure of files: the CLI writes what this returns.
 */
import { EvalConfig } from '../config/config';
import { Dataset } from '../data/dataset';
import { withoutAugmentation } from '../data/transforms';
import { SampleSource, sampleSource } from '../data/source';
import { labelAccuracy, modelOutputs } from '../infer/outputs';
import { Model } from '../models/model';
import { Rng } from '../util/rng';
import { ScoreName, canAttack, createDetector, headOf } from './detectors';
import { Detector, DetectorStats } from './detectors/detector';
import { energyDetector } from './detectors/energy';
import { GradientStatsRow, energyGradientNorms, gradientStatsRows } from './gradient-stats';
import { Fpr95Convention, OodMetrics, oodMetrics } from './metrics';
import { PixelView, pixelView } from './pixels';
import { DEFAULT_EPSILONS, attackedScores, formatEpsilon } from './robust';
import { scoreSet } from './score-set';
import { idThreshold } from './threshold';

/** One row of metrics.csv: a score function on one OOD set, or an average over sets. */
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

/** The name of the row holding the mean over all OOD sets; a group's is `average:<group>`. */
export const AVERAGE = 'average';

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

/** One row of robust_metrics.csv: a score on one OOD set (or an average) with both sets attacked at budget ε. */
export interface RobustRow {
  score: ScoreName;
  ood_set: string;
  epsilon: number;
  fpr95: number;
  auroc: number;
  aupr_in: number;
  aupr_out: number;
}

/** Per-sample gradient norms behind gradient_stats.csv, for the report's histograms. */
export interface GradientSet {
  name: string;
  role: 'id' | 'ood';
  l2: Float64Array;
  l1: Float64Array;
}

/** The result of evaluating a model. */
export interface Evaluation {
  rows: MetricsRow[];
  sets: ScoredSet[];
  /** Statistics of the fitted detectors (to store in the run), and the set they were fitted on. */
  fitted: { name: ScoreName; stats: DetectorStats }[];
  fittedOn?: { name: string; n: number };
  robust?: RobustRow[];
  gradient?: { rows: GradientStatsRow[]; sets: GradientSet[] };
}

/** The datasets of an evaluation; OOD sets may carry a group (near, far, ...). */
export interface EvalData {
  idTrain: Dataset;
  idTest: Dataset;
  ood: { dataset: Dataset; group?: string }[];
}

export interface EvalOptions {
  /** Seeds the attack's random starts. */
  seed: number;
  progress?: (label: string) => (done: number, total: number) => void;
  log?: (message: string) => void;
}

/**
 * Metrics of one score: a row per OOD set, then (with more than one set) the unweighted average
 * over all sets (the paper's "average across sets") and one per group of sets.
 */
export function scoreMetrics(
  idScores: ArrayLike<number>,
  ood: { name: string; group?: string; scores: ArrayLike<number> }[],
  convention: Fpr95Convention,
): { ood_set: string; n_ood: number; metrics: OodMetrics }[] {
  const per = ood.map((o) => ({ ood_set: o.name, n_ood: o.scores.length, group: o.group, metrics: oodMetrics(idScores, o.scores, convention) }));
  const mean = (name: string, of: typeof per): { ood_set: string; n_ood: number; metrics: OodMetrics } => {
    const m = { fpr95: 0, auroc: 0, auprIn: 0, auprOut: 0 };
    for (const r of of) for (const k of Object.keys(m) as (keyof OodMetrics)[]) m[k] += r.metrics[k] / of.length;
    return { ood_set: name, n_ood: of.reduce((t, r) => t + r.n_ood, 0), metrics: m };
  };
  const out = per.map(({ ood_set, n_ood, metrics }) => ({ ood_set, n_ood, metrics }));
  if (per.length > 1) out.push(mean(AVERAGE, per));
  const groups = [...new Set(per.map((r) => r.group).filter((g): g is string => g !== undefined))];
  for (const g of groups) out.push(mean(`${AVERAGE}:${g}`, per.filter((r) => r.group === g)));
  return out;
}

const metricFields = (m: OodMetrics): Pick<MetricsRow, 'fpr95' | 'auroc' | 'aupr_in' | 'aupr_out'> => ({ fpr95: m.fpr95, auroc: m.auroc, aupr_in: m.auprIn, aupr_out: m.auprOut });

/**
 * metrics.csv rows: the metrics of each score on each OOD set against the ID set, with the averages
 * of {@link scoreMetrics} (over all sets, and per group of sets).
 */
export function metricsRows(
  idSet: Pick<ScoredSet, 'scores'>,
  oodSets: (Pick<ScoredSet, 'name' | 'scores'> & { group?: string })[],
  scores: ScoreName[],
  idAccuracy: number,
  convention: Fpr95Convention = 'nearest',
): MetricsRow[] {
  return scores.flatMap((score) =>
    scoreMetrics(idSet.scores[score]!, oodSets.map((o) => ({ name: o.name, group: o.group, scores: o.scores[score]! })), convention).map((r) => ({
      score,
      ood_set: r.ood_set,
      ...metricFields(r.metrics),
      id_accuracy: idAccuracy,
      n_id: idSet.scores[score]!.length,
      n_ood: r.n_ood,
    })),
  );
}

/** The columns of scores.csv before the score columns (`path` only when some set has image files). */
export const SCORE_ROW_COLUMNS = ['dataset', 'role', 'index', 'path', 'label', 'pred'] as const;

/**
 * Rows of scores.csv, one per sample: dataset, role (id/ood), index (in the dataset's source, e.g. the
 * file or split it was read from), path (image file), label (empty for unlabelled sets), pred (the
 * arg-max class), then one column per score, named and ordered as in `eval.scores`; enough to join a
 * score back to its sample.
 */
export function scoreRows(sets: ScoredSet[]): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  const withPath = sets.some((s) => s.sources?.some((src) => src.path !== undefined));
  for (const set of sets) {
    const names = Object.keys(set.scores) as ScoreName[];
    for (let i = 0; i < set.preds.length; i++) {
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

const noProgress = (): ((done: number, total: number) => void) => () => undefined;

/** The budgets of the robust evaluation: 0 (the clean metrics) first, then each positive ε once. */
export function robustEpsilons(epsilons: readonly number[]): number[] {
  return [0, ...new Set(epsilons.filter((e) => e > 0))];
}

/** A set to score: the ID test set first, then the OOD sets; `where` is its config path. */
interface EvalSet {
  dataset: Dataset;
  role: 'id' | 'ood';
  where: string;
  group?: string;
}

/** Fits `dets` on the ID training set: its deterministic transforms only, in eval mode. */
async function fitDetectors(model: Model, dets: Detector[], idTrain: Dataset, batchSize: number, progress: NonNullable<EvalOptions['progress']>): Promise<Pick<Evaluation, 'fitted' | 'fittedOn'>> {
  const train = withoutAugmentation(idTrain);
  const out = await modelOutputs(model, train, batchSize, { features: true, onProgress: progress(`features of ${train.name} (fitting ${dets.map((d) => d.name).join(', ')})`) });
  const labels = await train.labels();
  const fitted = dets.map((d) => {
    d.fit!({ n: out.n, k: out.numClasses, d: out.featureDim, logits: out.logits, features: out.features!, labels });
    return { name: d.name as ScoreName, stats: d.stats!() };
  });
  return { fitted, fittedOn: { name: train.name, n: out.n } };
}

/** robust_metrics.csv: each attackable detector's metrics with every set attacked at each ε (ε = 0: the clean scores). */
async function robustRows(model: Model, dets: Detector[], sets: EvalSet[], views: PixelView[], clean: ScoredSet[], c: EvalConfig, o: EvalOptions): Promise<RobustRow[]> {
  const rc = c.robust!;
  const progress = o.progress ?? noProgress;
  const rows: RobustRow[] = [];
  const budgets = robustEpsilons(rc.epsilons);
  for (const det of dets) {
    const name = det.name as ScoreName;
    if (!canAttack(det)) {
      o.log?.(`robust evaluation: ${name} is not attacked (its score is a gradient with respect to the weights, not a function grodd differentiates with respect to the input)`);
      continue;
    }
    o.log?.(`robust evaluation: attacking ${name} at ε = ${budgets.slice(1).map(formatEpsilon).join(', ')} (PGD-${rc.steps})`);
    for (const eps of budgets) {
      const scores: Float64Array[] = [];
      for (const [i, s] of sets.entries()) {
        const rng = Rng.derive(o.seed, `pgd:${name}:${eps}:${i}`);
        scores.push(eps === 0 ? clean[i].scores[name]! : await attackedScores(model, det, views[i], s.role, eps, rc, rng, c.batch_size, progress(`attacking ${name} at ε=${formatEpsilon(eps)} on ${s.dataset.name}`)));
      }
      const [id, ...ood] = scores;
      for (const r of scoreMetrics(id, ood.map((sc, i) => ({ name: sets[i + 1].dataset.name, group: sets[i + 1].group, scores: sc })), c.fpr95)) {
        rows.push({ score: name, ood_set: r.ood_set, epsilon: eps, ...metricFields(r.metrics) });
      }
    }
  }
  return rows;
}

/** The energy score's pixel gradients per set and gradient_stats.csv, the threshold keeping 95% of the ID test set. */
async function gradientStats(model: Model, sets: EvalSet[], views: PixelView[], clean: ScoredSet[], c: EvalConfig, progress: NonNullable<EvalOptions['progress']>): Promise<Evaluation['gradient']> {
  const out: (GradientSet & { scores: ArrayLike<number> })[] = [];
  for (const [i, s] of sets.entries()) {
    const norms = await energyGradientNorms(model, views[i], c.batch_size, progress(`energy gradients of ${s.dataset.name}`));
    const scores = clean[i].scores.energy ?? (await scoreSet(model, [energyDetector()], s.dataset, c.batch_size, views[i].scale)).scores[0];
    out.push({ name: s.dataset.name, role: s.role, ...norms, scores });
  }
  const rows = gradientStatsRows(out.map((s) => ({ ...s, norms: s })), idThreshold(out[0].scores, 0.95), c.robust?.epsilons ?? DEFAULT_EPSILONS);
  return { rows, sets: out.map(({ name, role, l2, l1 }) => ({ name, role, l2, l1 })) };
}

/**
 * Fits the detectors that need ID-train statistics, scores the ID test set and every OOD set with
 * every detector, and adds the robust evaluation and the gradient statistics when `c` asks for them.
 */
export async function evaluateModel(model: Model, data: EvalData, c: EvalConfig, o: EvalOptions): Promise<Evaluation> {
  const progress = o.progress ?? noProgress;
  const head = headOf(model);
  const dets = c.scores.map((name) => createDetector(name, { model, head }, c.detectors));
  try {
    const fitting = dets.filter((d) => d.fit);
    const ev: Evaluation = { rows: [], sets: [], fitted: [], ...(fitting.length ? await fitDetectors(model, fitting, data.idTrain, c.batch_size, progress) : {}) };
    const sets: EvalSet[] = [
      { dataset: data.idTest, role: 'id', where: 'data.id.test' },
      ...data.ood.map((s, i) => ({ dataset: s.dataset, role: 'ood' as const, where: `data.ood[${i}]`, group: s.group })),
    ];
    const needsPixels = dets.some((d) => d.scoreInputs) || c.robust !== undefined || c.gradient_stats;
    const views = needsPixels ? sets.map((s) => pixelView(s.dataset, s.where)) : [];
    for (const [i, s] of sets.entries()) {
      const r = await scoreSet(model, dets, s.dataset, c.batch_size, views[i]?.scale ?? new Float32Array(s.dataset.shape[2]).fill(1), progress(`scoring ${s.dataset.name}`));
      ev.sets.push({
        name: s.dataset.name,
        role: s.role,
        scores: Object.fromEntries(c.scores.map((name, j) => [name, r.scores[j]])),
        labels: r.labels,
        preds: r.pred,
        sources: Array.from({ length: s.dataset.size }, (_, j) => sampleSource(s.dataset, j)),
      });
    }
    const [id, ...ood] = ev.sets;
    ev.rows = metricsRows(id, ood.map((o, i) => ({ ...o, group: data.ood[i].group })), c.scores, labelAccuracy(id.labels, id.preds), c.fpr95);
    if (c.robust) ev.robust = await robustRows(model, dets, sets, views, ev.sets, c, o);
    if (c.gradient_stats) ev.gradient = await gradientStats(model, sets, views, ev.sets, c, progress);
    return ev;
  } finally {
    for (const d of dets) d.dispose?.();
  }
}
