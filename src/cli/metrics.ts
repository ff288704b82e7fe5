import { Command } from 'commander';
import { OodMetrics, oodMetrics } from '../eval/metrics';
import { writeFileAtomic } from '../io/atomic-write';
import { readCsv, writeCsv } from '../io/csv';
import { UserError } from '../util/errors';
import { action } from './action';
import { formatTable } from './table';

/**
 * `grodd metrics`: the OOD metrics of score files produced anywhere (another framework, a baseline),
 * with exactly the definitions used for `grodd eval`, so numbers can be compared like for like.
 */

interface MetricsOptions {
  scores?: string;
  id?: string;
  ood?: string;
  out?: string;
}

/** What --out receives; fractions in [0, 1], names as in a run's metrics.csv. */
export interface MetricsRecord {
  n_id: number;
  n_ood: number;
  fpr95: number;
  auroc: number;
  aupr_in: number;
  aupr_out: number;
}

/** A decimal number as written by any CSV tool; unlike Number(), refuses "", hex, "Infinity" and "NaN". */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseScore(text: string, file: string, line: number): number {
  const t = text.trim();
  const x = DECIMAL.test(t) ? Number(t) : NaN;
  if (!Number.isFinite(x)) {
    throw new UserError(`${file} line ${line}: score ${JSON.stringify(text)} is not a finite number; every score must be a plain decimal number`);
  }
  return x;
}

const ID_LABELS = new Set(['id', '1']);
const OOD_LABELS = new Set(['ood', '0']);

/** A file with columns score and label (id/ood or 1/0, case-insensitive); other columns are ignored. */
export async function readLabeledScores(file: string): Promise<{ id: number[]; ood: number[] }> {
  const t = await readCsv(file);
  if (!t.columns.includes('score') || !t.columns.includes('label')) {
    throw new UserError(
      `${file} line ${Math.max(t.headerLine, 1)}: needs a header with columns score and label, found ${t.columns.length ? t.columns.join(',') : 'an empty file'}`,
    );
  }
  const id: number[] = [];
  const ood: number[] = [];
  t.rows.forEach((row, i) => {
    const line = t.lines[i];
    const label = row.label.trim().toLowerCase();
    const score = parseScore(row.score, file, line);
    if (ID_LABELS.has(label)) id.push(score);
    else if (OOD_LABELS.has(label)) ood.push(score);
    else throw new UserError(`${file} line ${line}: label ${JSON.stringify(row.label)} is not id or ood (write id/ood, or 1 for ID and 0 for OOD)`);
  });
  if (id.length === 0) throw new UserError(`${file}: no row has label id (or 1); the metrics need ID and OOD scores`);
  if (ood.length === 0) throw new UserError(`${file}: no row has label ood (or 0); the metrics need ID and OOD scores`);
  return { id, ood };
}

/** One score per row: a column named score, or a single column of numbers without a header. */
export async function readScoreColumn(file: string): Promise<number[]> {
  const t = await readCsv(file);
  let scores: number[];
  if (t.columns.includes('score')) {
    scores = t.rows.map((r, i) => parseScore(r.score, file, t.lines[i]));
  } else if (t.columns.length === 1 && DECIMAL.test(t.columns[0].trim())) {
    // No header: the "column name" parsed from the first line is the first score.
    const [only] = t.columns;
    scores = [parseScore(only, file, t.headerLine), ...t.rows.map((r, i) => parseScore(r[only], file, t.lines[i]))];
  } else if (t.columns.length === 0) {
    throw new UserError(`${file}: file is empty; it needs one score per line`);
  } else {
    throw new UserError(
      `${file} line ${t.headerLine}: no column named score (found ${t.columns.join(',')}); name the column score, or give one column of numbers without a header`,
    );
  }
  if (scores.length === 0) throw new UserError(`${file}: the score column has no values`);
  return scores;
}

const percent = (x: number): string => (100 * x).toFixed(2);

/** The printed summary: counts, then the metrics in percent with 2 decimals as papers report them. */
export function formatMetricsRecord(r: MetricsRecord): string {
  return formatTable(
    ['n_id', 'n_ood', 'FPR95%', 'AUROC%', 'AUPR-In%', 'AUPR-Out%'],
    [[r.n_id, r.n_ood, percent(r.fpr95), percent(r.auroc), percent(r.aupr_in), percent(r.aupr_out)]],
  );
}

function toRecord(nId: number, nOod: number, m: OodMetrics): MetricsRecord {
  return { n_id: nId, n_ood: nOod, fpr95: m.fpr95, auroc: m.auroc, aupr_in: m.auprIn, aupr_out: m.auprOut };
}

/** --out: JSON when the name ends in .json, otherwise CSV with a header row; full precision either way. */
async function writeRecord(file: string, r: MetricsRecord): Promise<void> {
  if (/\.json$/i.test(file)) {
    await writeFileAtomic(file, JSON.stringify(r, null, 2) + '\n');
  } else {
    await writeCsv(file, [{ ...r }]);
  }
}

async function runMetrics(o: MetricsOptions): Promise<void> {
  const pairMode = o.id !== undefined || o.ood !== undefined;
  if (o.scores !== undefined && pairMode) {
    throw new UserError('metrics: give either --scores FILE (columns score,label) or --id FILE --ood FILE, not both');
  }
  let id: number[];
  let ood: number[];
  if (o.scores !== undefined) {
    ({ id, ood } = await readLabeledScores(o.scores));
  } else if (o.id !== undefined && o.ood !== undefined) {
    id = await readScoreColumn(o.id);
    ood = await readScoreColumn(o.ood);
  } else if (pairMode) {
    throw new UserError(`metrics: --${o.id === undefined ? 'id' : 'ood'} FILE is missing; --id and --ood go together`);
  } else {
    throw new UserError('metrics: no scores given; use --scores FILE (columns score,label) or --id FILE --ood FILE');
  }
  const record = toRecord(id.length, ood.length, oodMetrics(id, ood));
  process.stdout.write(formatMetricsRecord(record) + '\n');
  if (o.out !== undefined) await writeRecord(o.out, record);
}

export function registerMetrics(program: Command): void {
  program
    .command('metrics')
    .description('FPR95, AUROC, AUPR-In and AUPR-Out of given scores (ID positive, higher score = more ID)')
    .option('--scores <file>', 'CSV with columns score,label; label is id or ood (or 1 / 0)')
    .option('--id <file>', 'ID scores: CSV with a score column, or one number per line')
    .option('--ood <file>', 'OOD scores: CSV with a score column, or one number per line')
    .option('--out <file>', 'also write the metrics (fractions) to this file: JSON if it ends in .json, else CSV')
    .action(action(runMetrics));
}
