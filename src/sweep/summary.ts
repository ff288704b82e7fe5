import * as fs from 'node:fs';
import * as path from 'node:path';
import { METRIC_KEYS } from '../eval/evaluate';
import { readCsv } from '../io/csv';
import { readStatus } from '../io/run-dir';
import { getPath, Trial } from './grid';
import { meanStd } from '../util/stats';

/**
 * Sweep summaries, in "wide" form so that a spreadsheet opens them directly (one row per trial):
 *
 * summary.csv
 *   trial, config, seed           trial id, config id (the trial id without the seed), seed
 *   <dotted key>...               every swept key, with the value this trial ran with (the base's
 *                                 value when the trial does not set it), JSON for lists/mappings
 *   status                        completed | running | failed: reason | not started
 *   run_dir                       the trial's run directory
 *   epochs, train_seconds         complete epochs in train_log.csv and the sum of their seconds
 *   id_accuracy                   ID test accuracy (fraction)
 *   <score>/<ood_set>/<metric>    every row of metrics.csv: e.g. energy/average/fpr95,
 *                                 energy/digits-8-9/auroc, msp/average/aupr_in (fractions in [0, 1])
 *
 * summary_by_config.csv: one row per config over its seeds:
 *   config, <dotted key>..., seeds (how many completed), seed_list, then for every numeric column
 *   above (train_seconds, id_accuracy, <score>/<ood_set>/<metric>) `<column>/mean` and `<column>/std`
 *   (sample standard deviation, n - 1; empty with fewer than 2 completed seeds). Only completed
 *   trials count.
 */

export interface TrialResult {
  status: string;
  epochs?: number;
  train_seconds?: number;
  id_accuracy?: number;
  /** `<score>/<ood_set>/<metric>` -> value. */
  metrics: Map<string, number>;
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined || s.trim() === '') return undefined;
  const x = Number(s);
  return Number.isFinite(x) ? x : undefined;
};

/** Reads a trial's run directory (missing files are simply absent from the result). */
export async function readTrialResult(dir: string): Promise<TrialResult> {
  const exists = fs.existsSync(dir) && fs.readdirSync(dir).length > 0;
  const res: TrialResult = { status: exists ? readStatus(dir) : 'not started', metrics: new Map() };
  if (!exists) return res;
  const log = path.join(dir, 'train_log.csv');
  if (fs.existsSync(log)) {
    try {
      const t = await readCsv(log);
      res.epochs = t.rows.length;
      res.train_seconds = t.rows.reduce((s, r) => s + (num(r.seconds) ?? 0), 0);
    } catch {
      // a malformed log leaves these columns empty
    }
  }
  const m = path.join(dir, 'metrics.csv');
  if (res.status === 'completed' && fs.existsSync(m)) {
    try {
      const t = await readCsv(m);
      for (const r of t.rows) {
        if (res.id_accuracy === undefined) res.id_accuracy = num(r.id_accuracy);
        for (const k of METRIC_KEYS) {
          const v = num(r[k]);
          if (v !== undefined) res.metrics.set(`${r.score}/${r.ood_set}/${k}`, v);
        }
      }
    } catch {
      // as above
    }
  }
  return res;
}

function cell(v: unknown): string | number {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** The metric columns in a stable order: energy first, then scores as they appear; per score, sets then metrics. */
function metricColumns(results: TrialResult[]): string[] {
  const cols: string[] = [];
  for (const r of results) for (const k of r.metrics.keys()) if (!cols.includes(k)) cols.push(k);
  const score = (c: string): string => c.split('/')[0];
  const scores = [...new Set(cols.map(score))].sort((a, b) => (a === 'energy' ? -1 : b === 'energy' ? 1 : 0));
  return scores.flatMap((s) => cols.filter((c) => score(c) === s));
}

export interface SummaryTables {
  columns: string[];
  rows: Record<string, string | number>[];
  byConfigColumns: string[];
  byConfig: Record<string, string | number>[];
}

/** Builds summary.csv and summary_by_config.csv (see the module comment) from the trials and their results. */
export function summarize(trials: Trial[], keys: string[], results: TrialResult[], runDirOf: (t: Trial) => string): SummaryTables {
  const metricCols = metricColumns(results);
  const numeric = ['train_seconds', 'id_accuracy', ...metricCols];
  const columns = ['trial', 'config', 'seed', ...keys, 'status', 'run_dir', 'epochs', ...numeric];
  const valueOf = (t: Trial, k: string): unknown => {
    const o = t.overrides.find(([key]) => key === k);
    return o ? o[1] : getPath(t.config, k);
  };
  const rows = trials.map((t, i) => {
    const r = results[i];
    const row: Record<string, string | number> = { trial: t.id, config: t.configId || 'base', seed: t.seed };
    for (const k of keys) row[k] = cell(valueOf(t, k));
    row.status = r.status;
    row.run_dir = runDirOf(t);
    row.epochs = cell(r.epochs);
    row.train_seconds = r.train_seconds === undefined ? '' : Number(r.train_seconds.toFixed(3));
    row.id_accuracy = cell(r.id_accuracy);
    for (const c of metricCols) row[c] = cell(r.metrics.get(c));
    return row;
  });

  const groups = new Map<string, number[]>();
  trials.forEach((t, i) => {
    const g = groups.get(t.configId) ?? [];
    g.push(i);
    groups.set(t.configId, g);
  });
  const byConfigColumns = ['config', ...keys, 'seeds', 'seed_list', ...numeric.flatMap((c) => [`${c}/mean`, `${c}/std`])];
  const byConfig = [...groups.values()].map((idx) => {
    const t0 = trials[idx[0]];
    const done = idx.filter((i) => results[i].status === 'completed');
    const row: Record<string, string | number> = { config: t0.configId || 'base' };
    for (const k of keys) row[k] = cell(valueOf(t0, k));
    row.seeds = done.length;
    row.seed_list = done.map((i) => trials[i].seed).join(' ');
    for (const c of numeric) {
      const xs = done.map((i) => rows[i][c]).filter((v): v is number => typeof v === 'number');
      const { mean, std } = meanStd(xs);
      row[`${c}/mean`] = cell(mean);
      row[`${c}/std`] = cell(std);
    }
    return row;
  });
  return { columns, rows, byConfigColumns, byConfig };
}
