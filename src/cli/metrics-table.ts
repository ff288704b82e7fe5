import { MetricsRow } from '../eval/evaluate';
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
