import { formatEpsilon } from '../eval/robust';
import { meanStd } from '../util/stats';
import { escapeXml as esc } from './svg';

/** What the HTML report shows of one run (everything already read from its directory). */
export interface RunReport {
  /** Short label, unique among the runs of the report. */
  label: string;
  dir: string;
  status: string;
  /** Config summary: ordered key/value pairs. */
  config: [string, string][];
  /** metrics.csv rows of the chosen score (ood_set plus the metrics, fractions). */
  metrics: { ood_set: string; fpr95: number; auroc: number; aupr_in: number; aupr_out: number }[];
  /** metrics.csv rows of every score (the run's detectors). */
  allMetrics?: { score: string; ood_set: string; fpr95: number; auroc: number; aupr_in: number; aupr_out: number }[];
  /** robust_metrics.csv rows (fractions). */
  robust?: { score: string; ood_set: string; epsilon: number; fpr95: number; auroc: number }[];
  /** gradient_stats.csv rows; epsilon and kept NaN on OOD rows. */
  gradient?: { dataset: string; role: string; mean: number; median: number; p95: number; epsilon: number; kept: number }[];
  idAccuracy?: number;
  trainSeconds?: number;
  epochs?: number;
  figures: { title: string; png: Buffer; file: string }[];
  notes: string[];
  /** train.method and seed of its config. */
  method?: string;
  seed?: number;
}

/** Runs that differ only in seed (indices into the report's runs), shown as mean ± std columns. */
export interface SeedGroup {
  label: string;
  members: number[];
}

const METRICS = [
  { key: 'fpr95', label: 'FPR95', better: 'lower' },
  { key: 'auroc', label: 'AUROC', better: 'higher' },
  { key: 'aupr_in', label: 'AUPR-In', better: 'higher' },
  { key: 'aupr_out', label: 'AUPR-Out', better: 'higher' },
] as const;

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(2));

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** The row of a score that stands for all OOD sets: the average, or the only set. */
function summaryRow<T extends { score: string; ood_set: string }>(rows: T[], score: string): T | undefined {
  const of = rows.filter((r) => r.score === score);
  return of.find((r) => r.ood_set === 'average') ?? (of.length === 1 ? of[0] : undefined);
}

/** A small table of a run's card: a caption, a header row, rows whose first cell names them. */
function table(caption: string, head: string[], rows: string[][]): string {
  return `<table class="metrics"><caption>${esc(caption)}</caption><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr><th scope="row">${esc(r[0])}</th>${r.slice(1).map((c) => `<td class="num">${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/** `mean ± std` of the finite values (the std is the sample one, n − 1). */
function meanStdText(values: (number | undefined)[], fmt: (x: number | undefined) => string): string {
  const { mean, std } = meanStd(values.filter(finite));
  return mean === undefined ? '–' : `${fmt(mean)} ± ${std === undefined ? '–' : fmt(std)}`;
}

/**
 * A row of the comparison table: one cell per run, then mean ± std per seed group. With `better`, the
 * best run value(s) of a metric row are bold (direction-aware); rows such as epochs or time have none.
 */
function comparisonRow(label: string, values: (number | undefined)[], groups: SeedGroup[], fmt: (x: number | undefined) => string, better?: 'lower' | 'higher', title = ''): string {
  const vals = values.filter(finite);
  const best = better && vals.length > 1 ? (better === 'lower' ? Math.min(...vals) : Math.max(...vals)) : undefined;
  const cells = values.map((v) => `<td class="num${v !== undefined && v === best ? ' best' : ''}">${fmt(v)}</td>`).join('');
  const groupCells = groups.map((g) => `<td class="num group">${meanStdText(g.members.map((i) => values[i]), fmt)}</td>`).join('');
  return `<tr><th scope="row"${title ? ` title="${esc(title)}"` : ''}>${esc(label)}</th>${cells}${groupCells}</tr>`;
}

/** A text row of the comparison table (no statistics). */
function textRow(label: string, cells: string[]): string {
  return `<tr><th scope="row">${esc(label)}</th>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
}

/**
 * The self-contained report page: a comparison table of every run (rows: method, seed, then OOD set x
 * metric with the best run value of a row in bold; runs that differ only in seed also as mean ± std
 * columns), the figures comparing runs (ROC curves overlaid), then one column per run, side by side,
 * with its config summary, metrics table and figures (PNG data URIs, so the file can be mailed or
 * attached as a CI artifact).
 */
export function reportHtml(
  runs: RunReport[],
  o: { score: string; generated: string; command?: string; groups?: SeedGroup[]; figures?: RunReport['figures']; robustFigures?: RunReport['figures'] },
): string {
  const groups = o.groups ?? [];
  const sets: string[] = [];
  for (const r of runs) for (const m of r.metrics) if (!sets.includes(m.ood_set)) sets.push(m.ood_set);
  // the average last
  sets.sort((a, b) => (a === 'average' ? 1 : b === 'average' ? -1 : 0));
  const width = runs.length + groups.length + 1;
  const groupHeads = groups.map((g) => `<th scope="col" class="group" title="mean ± sample std over ${g.members.length} seeds">${esc(g.label)}<br>mean ± std (${g.members.length} seeds)</th>`);
  const head = `<tr><th></th>${runs.map((r) => `<th scope="col" title="${esc(r.dir)}">${esc(r.label)}</th>`).join('')}${groupHeads.join('')}</tr>`;
  const of = (g: SeedGroup, f: (r: RunReport) => string): string => [...new Set(g.members.map((i) => f(runs[i])))].join(', ');
  const body: string[] = [];
  body.push(textRow('method', [...runs.map((r) => r.method ?? '–'), ...groups.map((g) => of(g, (r) => r.method ?? '–'))]));
  body.push(textRow('seed', [...runs.map((r) => (r.seed === undefined ? '–' : String(r.seed))), ...groups.map((g) => `seeds ${of(g, (r) => String(r.seed))}`)]));
  body.push(comparisonRow('ID accuracy (%)', runs.map((r) => r.idAccuracy), groups, pct, 'higher'));
  for (const set of sets) {
    body.push(`<tr class="group"><th colspan="${width}">${esc(set)}</th></tr>`);
    for (const m of METRICS) {
      body.push(comparisonRow(`${m.label} (%) ${m.better === 'lower' ? '↓' : '↑'}`, runs.map((r) => r.metrics.find((x) => x.ood_set === set)?.[m.key]), groups, pct, m.better, `${set}: ${m.better} is better`));
    }
  }
  // Every detector side by side (when a run has more than the one chosen score).
  const detectors = [...new Set(runs.flatMap((r) => (r.allMetrics ?? []).map((m) => m.score)))];
  if (detectors.length > 1) {
    for (const m of [METRICS[1], METRICS[0]]) {
      body.push(`<tr class="group"><th colspan="${width}">every detector: ${m.label} (%) ${m.better === 'lower' ? '↓' : '↑'}, average over the OOD sets</th></tr>`);
      for (const d of detectors) body.push(comparisonRow(d, runs.map((r) => summaryRow(r.allMetrics ?? [], d)?.[m.key]), groups, pct, m.better, `${d}: ${m.better} is better`));
    }
  }
  body.push(`<tr class="group"><th colspan="${width}">training</th></tr>`);
  body.push(comparisonRow('epochs', runs.map((r) => r.epochs), groups, (x) => (x === undefined ? '–' : String(Number(x.toFixed(1))))));
  body.push(comparisonRow('train time (s)', runs.map((r) => r.trainSeconds), groups, (x) => (x === undefined ? '–' : x.toFixed(1))));
  const figure = (f: RunReport['figures'][number]): string =>
    `<figure><img alt="${esc(f.title)}" src="data:image/png;base64,${f.png.toString('base64')}"><figcaption>${esc(f.title)} <span class="file">${esc(f.file)}</span></figcaption></figure>`;
  const comparisonFigures = (o.figures ?? []).length ? `<div class="compare">\n${o.figures!.map(figure).join('\n')}\n</div>` : '';
  const robustSection = (o.robustFigures ?? []).length ? `<h2>Under attack</h2>\n<div class="compare">\n${o.robustFigures!.map(figure).join('\n')}\n</div>` : '';

  const cards = runs.map((r) => {
    const cfg = r.config.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
    const metricRows = r.metrics
      .map((m) => `<tr><th scope="row">${esc(m.ood_set)}</th>${METRICS.map((k) => `<td class="num">${pct(m[k.key])}</td>`).join('')}</tr>`)
      .join('');
    const metricsTable = r.metrics.length
      ? `<table class="metrics"><caption>${esc(o.score)} score, % (FPR95 lower is better, the others higher)</caption><tr><th>OOD set</th>${METRICS.map((k) => `<th>${k.label}</th>`).join('')}</tr>${metricRows}</table>`
      : '<p class="note">no metrics (the run has not completed)</p>';
    const figs = r.figures.map(figure).join('\n');
    const scores = [...new Set((r.allMetrics ?? []).map((m) => m.score))];
    const all = scores.length > 1
      ? table('every detector, % (the average over the OOD sets, or the only set)', ['score', ...METRICS.map((k) => k.label)], scores.flatMap((d) => {
          const m = summaryRow(r.allMetrics!, d);
          return m ? [[d, ...METRICS.map((k) => pct(m[k.key]))]] : [];
        }))
      : '';
    const robustScores = [...new Set((r.robust ?? []).map((x) => x.score))];
    const eps = [...new Set((r.robust ?? []).map((x) => x.epsilon))].sort((a, b) => a - b);
    const robust = robustScores.length
      ? table('under attack: AUROC / FPR95 (%) against ε (robust_metrics.csv; average over the OOD sets)', ['score', ...eps.map(formatEpsilon)], robustScores.map((d) => [
          d,
          ...eps.map((e) => {
            const x = summaryRow((r.robust ?? []).filter((y) => y.epsilon === e), d);
            return x ? `${pct(x.auroc)} / ${pct(x.fpr95)}` : '–';
          }),
        ]))
      : '';
    const gradient = r.gradient?.length
      ? table('‖∇ₓS‖₂ of the energy score in [0,1] pixels (gradient_stats.csv); kept: ID share with S − ε‖∇S‖₁ above the 95%-TPR threshold', ['set', 'mean', 'median', 'p95', 'ε', 'kept (%)'], r.gradient.map((g) => [
          `${g.dataset} (${g.role})`,
          g.mean.toPrecision(4),
          g.median.toPrecision(4),
          g.p95.toPrecision(4),
          Number.isFinite(g.epsilon) ? formatEpsilon(g.epsilon) : '',
          Number.isFinite(g.kept) ? pct(g.kept) : '',
        ]))
      : '';
    const notes = r.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('');
    return `<section class="run"><h2>${esc(r.label)}</h2><p class="path">${esc(r.dir)} · status: <span class="status${r.status === 'completed' ? '' : ' bad'}">${esc(r.status)}</span></p>
<table class="config">${cfg}</table>
${metricsTable}
${all}
${robust}
${gradient}
${notes}
${figs}
</section>`;
  });

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>grodd report: ${esc(runs.map((r) => r.label).join(', '))}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #111; background: #fafafa; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin: 0 0 .3em; word-break: break-all; }
table { border-collapse: collapse; margin: .6em 0; background: white; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; font-size: .9em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #eef6ee; }
td.group, th.group { background: #f4f6fb; }
.compare { display: flex; flex-wrap: wrap; gap: 1.2em; } .compare figure { flex: 0 1 520px; }
tr.group th { background: #f0f0f0; }
caption { caption-side: top; text-align: left; font-size: .85em; color: #555; padding-bottom: .2em; }
.runs { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.run { flex: 1 1 480px; max-width: 760px; background: white; border: 1px solid #ddd; border-radius: 6px; padding: 1em; }
.path, .file, .note { color: #555; font-size: .85em; word-break: break-all; }
.status.bad { color: #b00; font-weight: bold; }
figure { margin: .8em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #333; }
</style></head>
<body>
<h1>grodd report: ${runs.length} run${runs.length === 1 ? '' : 's'}, ${esc(o.score)} score</h1>
<p class="note">generated ${esc(o.generated)}${o.command ? ` by <code>${esc(o.command)}</code>` : ''}. Metrics: ID is the positive class; FPR95 is the OOD false-positive rate at 95% ID recall.</p>
<h2>Comparison</h2>
<table class="comparison">${head}${body.join('\n')}</table>
${comparisonFigures}
${robustSection}
<div class="runs">
${cards.join('\n')}
</div>
</body></html>
`;
}
