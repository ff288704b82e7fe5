import { Command } from 'commander';
import { OodMetrics, oodMetrics } from '../eval/metrics';
import { writeFileAtomic } from '../io/atomic-write';
import { CsvTable, readCsv, writeCsv } from '../io/csv';
import type { MetricsRow, ScoredSet } from '../eval/evaluate';
import type { ScoreName } from '../eval/detectors';
import { formatMetrics } from './metrics-table';
import { UserError } from '../util/errors';
import { action } from './action';
import { formatTable } from './table';

/**
 * `grodd metrics`: the OOD metrics of score files produced anywhere (another framework, a baseline),
 * with exactly the definitions used for `grodd eval`, so numbers can be compared like for like; and of
 * grodd's own scores.csv (columns dataset, role, ..., one per score), every score and OOD set at once.
 */

interface MetricsOptions {
  scores?: string;
  id?: string;
  ood?: string;
  out?: string;
  scoreColumn?: string;
  oodSet?: string;
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

/** A file with columns `column` (default score) and label (id/ood or 1/0, case-insensitive); other columns are ignored. */
export async function readLabeledScores(file: string, column = 'score', table?: CsvTable): Promise<{ id: number[]; ood: number[] }> {
  const t = table ?? (await readCsv(file));
  if (!t.columns.includes(column) || !t.columns.includes('label')) {
    throw new UserError(
      `${file} line ${Math.max(t.headerLine, 1)}: needs a header with columns ${column} and label, found ${t.columns.length ? t.columns.join(',') : 'an empty file'}`,
    );
  }
  const id: number[] = [];
  const ood: number[] = [];
  t.rows.forEach((row, i) => {
    const line = t.lines[i];
    const label = row.label.trim().toLowerCase();
    const score = parseScore(row[column], file, line);
    if (ID_LABELS.has(label)) id.push(score);
    else if (OOD_LABELS.has(label)) ood.push(score);
    else throw new UserError(`${file} line ${line}: label ${JSON.stringify(row.label)} is not id or ood (write id/ood, or 1 for ID and 0 for OOD)`);
  });
  if (id.length === 0) throw new UserError(`${file}: no row has label id (or 1); the metrics need ID and OOD scores`);
  if (ood.length === 0) throw new UserError(`${file}: no row has label ood (or 0); the metrics need ID and OOD scores`);
  return { id, ood };
}

/** One score per row: a column named `column` (default score), or a single column of numbers without a header. */
export async function readScoreColumn(file: string, column = 'score'): Promise<number[]> {
  const t = await readCsv(file);
  let scores: number[];
  if (t.columns.includes(column)) {
    scores = t.rows.map((r, i) => parseScore(r[column], file, t.lines[i]));
  } else if (t.columns.length === 1 && DECIMAL.test(t.columns[0].trim())) {
    // No header: the "column name" parsed from the first line is the first score.
    const [only] = t.columns;
    scores = [parseScore(only, file, t.headerLine), ...t.rows.map((r, i) => parseScore(r[only], file, t.lines[i]))];
  } else if (t.columns.length === 0) {
    throw new UserError(`${file}: file is empty; it needs one score per line`);
  } else {
    throw new UserError(
      `${file} line ${t.headerLine}: no column named ${column} (found ${t.columns.join(',')}); name the column ${column} (or choose it with --score-column), or give one column of numbers without a header`,
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

/** A grodd scores.csv: columns dataset and role (id/ood), then the sample columns and one column per score. */
const isGroddScores = (t: CsvTable): boolean => t.columns.includes('dataset') && t.columns.includes('role');

/**
 * The metrics rows (as in a run's metrics.csv) of a grodd scores.csv: every score column, or `column`,
 * on every OOD set, or `oodSet`, with the average over sets; the ID accuracy from its label and pred
 * columns (NaN in files written before grodd recorded them).
 */
export function groddScoresMetrics(t: CsvTable, file: string, column?: string, oodSet?: string): MetricsRow[] {
  // Loaded here, not at the top: they bring TensorFlow.js and sharp, which the other formats do not need.
  const { metricsRows, SCORE_ROW_COLUMNS } = require('../eval/evaluate') as typeof import('../eval/evaluate');
  const { labelAccuracy } = require('../infer/outputs') as typeof import('../infer/outputs');
  const meta = new Set<string>(SCORE_ROW_COLUMNS);
  const available = t.columns.filter((c) => !meta.has(c));
  if (column !== undefined && !available.includes(column)) throw new UserError(`--score-column: ${file} has no score column ${JSON.stringify(column)} (it has ${available.join(', ') || 'none'})`);
  const scores = (column !== undefined ? [column] : available) as ScoreName[];
  if (!scores.length) throw new UserError(`${file}: no score columns besides ${t.columns.join(',')}`);
  const sets = new Map<string, { role: string; rows: number[] }>();
  t.rows.forEach((row, i) => {
    const role = row.role.trim().toLowerCase();
    if (role !== 'id' && role !== 'ood') throw new UserError(`${file} line ${t.lines[i]}: role ${JSON.stringify(row.role)} is not id or ood`);
    const key = `${role}\u0000${row.dataset}`;
    if (!sets.has(key)) sets.set(key, { role, rows: [] });
    sets.get(key)!.rows.push(i);
  });
  const scored = [...sets.entries()].map(([key, s]) => ({
    name: key.split('\u0000')[1],
    role: s.role,
    rows: s.rows,
    scores: Object.fromEntries(scores.map((c) => [c, Float64Array.from(s.rows, (i) => parseScore(t.rows[i][c], file, t.lines[i]))])) as ScoredSet['scores'],
  }));
  const ids = scored.filter((s) => s.role === 'id');
  if (ids.length !== 1) throw new UserError(`${file}: expected the rows of one ID set (role id), found ${ids.length ? ids.map((s) => s.name).join(', ') : 'none'}`);
  let oods = scored.filter((s) => s.role === 'ood');
  if (oodSet !== undefined) {
    oods = oods.filter((s) => s.name === oodSet);
    if (!oods.length) throw new UserError(`--ood-set: ${file} has no OOD set ${JSON.stringify(oodSet)} (it has ${scored.filter((s) => s.role === 'ood').map((s) => s.name).join(', ') || 'none'})`);
  }
  if (!oods.length) throw new UserError(`${file}: no rows with role ood; the metrics need ID and OOD scores`);
  const [id] = ids;
  const labelled = t.columns.includes('label') && t.columns.includes('pred') ? id.rows.filter((i) => t.rows[i].label !== '') : [];
  const acc = labelled.length ? labelAccuracy(labelled.map((i) => Number(t.rows[i].label)), labelled.map((i) => Number(t.rows[i].pred))) : NaN;
  return metricsRows(id, oods, scores, acc);
}

async function runMetrics(o: MetricsOptions): Promise<void> {
  const pairMode = o.id !== undefined || o.ood !== undefined;
  if (o.scores !== undefined && pairMode) {
    throw new UserError('metrics: give either --scores FILE (columns score,label) or --id FILE --ood FILE, not both');
  }
  let id: number[];
  let ood: number[];
  if (o.scores !== undefined) {
    const t = await readCsv(o.scores);
    if (isGroddScores(t)) {
      const rows = groddScoresMetrics(t, o.scores, o.scoreColumn, o.oodSet);
      process.stdout.write(`${formatMetrics(rows)}\n`);
      if (o.out !== undefined) await writeRows(o.out, rows);
      return;
    }
    if (o.oodSet !== undefined) throw new UserError(`--ood-set: ${o.scores} is not a grodd scores.csv (no dataset and role columns), so it has no named OOD sets`);
    ({ id, ood } = await readLabeledScores(o.scores, o.scoreColumn, t));
  } else if (o.id !== undefined && o.ood !== undefined) {
    id = await readScoreColumn(o.id, o.scoreColumn);
    ood = await readScoreColumn(o.ood, o.scoreColumn);
  } else if (pairMode) {
    throw new UserError(`metrics: --${o.id === undefined ? 'id' : 'ood'} FILE is missing; --id and --ood go together`);
  } else {
    throw new UserError('metrics: no scores given; use --scores FILE (columns score,label) or --id FILE --ood FILE');
  }
  const record = toRecord(id.length, ood.length, oodMetrics(id, ood));
  process.stdout.write(formatMetricsRecord(record) + '\n');
  if (o.out !== undefined) await writeRecord(o.out, record);
}

/** --out for a grodd scores.csv: the rows of a metrics.csv (JSON: an array of them). */
async function writeRows(file: string, rows: MetricsRow[]): Promise<void> {
  if (/\.json$/i.test(file)) await writeFileAtomic(file, JSON.stringify(rows, null, 2) + '\n');
  else await writeCsv(file, rows as unknown as Record<string, unknown>[]);
}

export function registerMetrics(program: Command): void {
  program
    .command('metrics')
    .description('FPR95, AUROC, AUPR-In and AUPR-Out of given scores (ID positive, higher score = more ID)')
    .option('--scores <file>', "CSV with columns score,label (label id or ood, or 1 / 0), or a run's scores.csv (every score and OOD set)")
    .option('--id <file>', 'ID scores: CSV with a score column, or one number per line')
    .option('--ood <file>', 'OOD scores: CSV with a score column, or one number per line')
    .option('--score-column <name>', 'the column holding the scores (default: score; in a scores.csv, every score column)')
    .option('--ood-set <name>', "a scores.csv's OOD set to evaluate (default: each one, and their average)")
    .option('--out <file>', 'also write the metrics (fractions) to this file: JSON if it ends in .json, else CSV')
    .action(action(runMetrics));
}
