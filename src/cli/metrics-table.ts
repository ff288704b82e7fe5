import { AVERAGE, MetricsRow, RobustRow } from '../eval/evaluate';
import { GradientStatsRow } from '../eval/gradient-stats';
import { formatEpsilon } from '../eval/robust';
import { formatTable } from './table';

const pct = (x: number): string => (100 * x).toFixed(2);

/** The metrics of a run as printed after training or `grodd eval`: percentages, one row per score and OOD set. */
export function formatMetrics(rows: MetricsRow[]): string {
  const acc = rows.length && Number.isFinite(rows[0].id_accuracy) ? `ID test accuracy: ${pct(rows[0].id_accuracy)}% (${rows[0].n_id} samples)\n` : '';
  return acc + formatTable(
    ['score', 'ood_set', 'FPR95%', 'AUROC%', 'AUPR-In%', 'AUPR-Out%'],
    rows.map((r) => [r.score, r.ood_set, pct(r.fpr95), pct(r.auroc), pct(r.aupr_in), pct(r.aupr_out)]),
  );
}

/** The robust metrics averaged over the OOD sets (or of the only set), one row per score and budget. */
export function formatRobust(rows: RobustRow[]): string {
  const multi = rows.some((r) => r.ood_set === AVERAGE);
  const shown = rows.filter((r) => (multi ? r.ood_set === AVERAGE : true));
  return formatTable(
    ['score', 'ood_set', 'epsilon', 'FPR95%', 'AUROC%', 'AUPR-In%', 'AUPR-Out%'],
    shown.map((r) => [r.score, r.ood_set, formatEpsilon(r.epsilon), pct(r.fpr95), pct(r.auroc), pct(r.aupr_in), pct(r.aupr_out)]),
    ['epsilon'],
  );
}

/** The gradient statistics per set; the ID set's rows add the share kept by the first-order bound at each budget. */
export function formatGradientStats(rows: GradientStatsRow[]): string {
  const f = (x: number): string => x.toPrecision(4);
  return formatTable(
    ['dataset', 'role', 'mean', 'median', 'p95', 'epsilon', 'kept%'],
    rows.map((r) => [r.dataset, r.role, f(r.grad_l2_mean), f(r.grad_l2_median), f(r.grad_l2_p95), r.epsilon === '' ? '' : formatEpsilon(r.epsilon), r.kept === '' ? '' : pct(r.kept)]),
    ['epsilon', 'kept%'],
  );
}
