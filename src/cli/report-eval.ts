import * as path from 'node:path';
import { Config } from '../config/config';
import { OpenedData } from '../data/section';
import { Evaluation, evaluateModel, scoreRows } from '../eval/evaluate';
import { THRESHOLD_FILE, thresholdFile } from '../eval/threshold';
import { writeFilesAtomic } from '../io/atomic-write';
import { latestCheckpoint } from '../io/checkpoint';
import { formatCsv } from '../io/csv';
import { detectorStatsFiles } from '../io/detector-stats';
import { Model } from '../models/model';
import { formatGradientStats, formatMetrics, formatRobust } from './metrics-table';
import { evalProgress } from './progress';

/** Files an evaluation writes only when the config asks for them; a previous evaluation's copies are removed, so none outlives its config. */
export const ROBUST_FILE = 'robust_metrics.csv';
export const GRADIENT_STATS_FILE = 'gradient_stats.csv';
export const GRADIENT_NORMS_FILE = 'gradient_norms.csv';

/**
 * Evaluates `model` (the run's `checkpoint`, by default its latest) on the run's ID test and OOD
 * sets and writes into the run directory: metrics.csv, scores.csv (per-sample scores, for
 * histograms and ROC curves), threshold.json, the fitted detectors' statistics (detectors/), and
 * as configured robust_metrics.csv and gradient_stats.csv + gradient_norms.csv; prints the tables.
 * The files, with the `extra` ones (an evaluation's eval.yaml), are written as one set (all of them,
 * or none replaced: a full disk never leaves one evaluation's metrics beside another's threshold).
 */
export async function evaluateIntoRun(dir: string, model: Model, data: OpenedData, cfg: Config, checkpoint = latestCheckpoint(dir), extra: [string, string][] = []): Promise<Evaluation> {
  const ev = await evaluateModel(
    model,
    { idTrain: data.idTrain, idTest: data.idTest, ood: data.ood.map((dataset, i) => ({ dataset, group: cfg.data.ood[i]?.group })) },
    cfg.eval,
    { seed: cfg.seed, progress: evalProgress, log: (m) => process.stderr.write(`${m}\n`) },
  );
  const files: [string, string | Uint8Array][] = [
    ['metrics.csv', formatCsv(ev.rows as unknown as Record<string, unknown>[])],
    ['scores.csv', formatCsv(scoreRows(ev.sets))],
  ];
  // The ID test set doubles as validation: thresholds keeping 95% of it, for `grodd score`.
  const id = ev.sets.find((s) => s.role === 'id');
  if (id) files.push([THRESHOLD_FILE, JSON.stringify(thresholdFile(id.name, id.scores), null, 2) + '\n']);
  for (const f of ev.fitted) {
    files.push(
      ...detectorStatsFiles(f.name, f.stats, {
        checkpoint: checkpoint ? path.basename(checkpoint) : '',
        fitted_on: { dataset: ev.fittedOn!.name, n: ev.fittedOn!.n },
        params: (cfg.eval.detectors as unknown as Record<string, unknown>)[f.name] ?? {},
      }),
    );
  }
  const optional: [string, readonly object[] | undefined][] = [
    [ROBUST_FILE, ev.robust],
    [GRADIENT_STATS_FILE, ev.gradient?.rows],
    [GRADIENT_NORMS_FILE, ev.gradient?.sets.flatMap((s) => Array.from(s.l2, (l2, i) => ({ dataset: s.name, role: s.role, grad_l2: l2, grad_l1: s.l1[i] })))],
  ];
  for (const [name, rows] of optional) if (rows) files.push([name, formatCsv(rows as Record<string, unknown>[])]);
  await writeFilesAtomic(dir, [...files, ...extra], optional.filter(([, rows]) => !rows).map(([name]) => name));
  process.stdout.write(`${formatMetrics(ev.rows)}\n`);
  if (ev.robust?.length) process.stdout.write(`\nunder attack (PGD-${cfg.eval.robust!.steps}, L∞ in [0,1] pixels; ${ROBUST_FILE}):\n${formatRobust(ev.robust)}\n`);
  if (ev.gradient) process.stdout.write(`\nenergy score gradients, ‖∇ₓS‖₂ in [0,1] pixels (${GRADIENT_STATS_FILE}):\n${formatGradientStats(ev.gradient.rows)}\n`);
  return ev;
}
