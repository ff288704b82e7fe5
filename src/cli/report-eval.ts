import * as path from 'node:path';
import { Config } from '../config/config';
import { OpenedData } from '../data/section';
import { Evaluation, evaluateModel, scoreRows } from '../eval/evaluate';
import { THRESHOLD_FILE, thresholdFile } from '../eval/threshold';
import { writeFileAtomic } from '../io/atomic-write';
import { writeCsv } from '../io/csv';
import { Model } from '../models/model';
import { formatMetrics } from './metrics-table';
import { evalProgress } from './progress';

/**
 * Evaluates `model` on the run's ID test and OOD sets, writes metrics.csv and
 * scores.csv (per-sample scores, for histograms and ROC curves) into the run
 * directory, and prints the metrics table.
 */
export async function evaluateIntoRun(dir: string, model: Model, data: OpenedData, cfg: Config): Promise<Evaluation> {
  const ev = await evaluateModel(model, data.idTest, data.ood, cfg.eval, evalProgress);
  await writeCsv(path.join(dir, 'metrics.csv'), ev.rows as unknown as Record<string, unknown>[]);
  await writeCsv(path.join(dir, 'scores.csv'), scoreRows(ev.sets));
  // The ID test set doubles as validation: thresholds keeping 95% of it, for `grodd score`.
  const id = ev.sets.find((s) => s.role === 'id');
  if (id) await writeFileAtomic(path.join(dir, THRESHOLD_FILE), JSON.stringify(thresholdFile(id.name, id.scores), null, 2) + '\n');
  process.stdout.write(`${formatMetrics(ev.rows)}\n`);
  return ev;
}
