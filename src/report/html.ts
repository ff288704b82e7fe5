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
  idAccuracy?: number;
  trainSeconds?: number;
  epochs?: number;
  figures: { title: string; png: Buffer; file: string }[];
  notes: string[];
}

const METRICS = [
  { key: 'fpr95', label: 'FPR95', better: 'lower' },
  { key: 'auroc', label: 'AUROC', better: 'higher' },
  { key: 'aupr_in', label: 'AUPR-In', better: 'higher' },
  { key: 'aupr_out', label: 'AUPR-Out', better: 'higher' },
] as const;

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(2));

/** Marks the best value(s) of a row (direction-aware) in bold. */
function comparisonRow(label: string, values: (number | undefined)[], better: 'lower' | 'higher', fmt: (x: number | undefined) => string, title = ''): string {
  const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  const best = finite.length > 1 ? (better === 'lower' ? Math.min(...finite) : Math.max(...finite)) : undefined;
  const cells = values.map((v) => `<td class="num${v !== undefined && v === best ? ' best' : ''}">${fmt(v)}</td>`).join('');
  return `<tr><th scope="row"${title ? ` title="${esc(title)}"` : ''}>${esc(label)}</th>${cells}</tr>`;
}

/**
 * The self-contained report page: a comparison table of every run (rows: OOD set x metric; the best
 * value of a row in bold), then one column per run, side by side, with its config summary, metrics
 * table and figures (PNG data URIs, so the file can be mailed or attached as a CI artifact).
 */
export function reportHtml(runs: RunReport[], o: { score: string; generated: string; command?: string }): string {
  const sets: string[] = [];
  for (const r of runs) for (const m of r.metrics) if (!sets.includes(m.ood_set)) sets.push(m.ood_set);
  // the average last
  sets.sort((a, b) => (a === 'average' ? 1 : b === 'average' ? -1 : 0));
  const head = `<tr><th></th>${runs.map((r) => `<th scope="col" title="${esc(r.dir)}">${esc(r.label)}</th>`).join('')}</tr>`;
  const body: string[] = [];
  body.push(comparisonRow('ID accuracy (%)', runs.map((r) => r.idAccuracy), 'higher', pct));
  for (const set of sets) {
    body.push(`<tr class="group"><th colspan="${runs.length + 1}">${esc(set)}</th></tr>`);
    for (const m of METRICS) {
      body.push(comparisonRow(`${m.label} (%) ${m.better === 'lower' ? '↓' : '↑'}`, runs.map((r) => r.metrics.find((x) => x.ood_set === set)?.[m.key]), m.better, pct, `${set}: ${m.better} is better`));
    }
  }
  body.push(`<tr class="group"><th colspan="${runs.length + 1}">training</th></tr>`);
  body.push(comparisonRow('epochs', runs.map((r) => r.epochs), 'higher', (x) => (x === undefined ? '–' : String(x))));
  body.push(comparisonRow('train time (s)', runs.map((r) => r.trainSeconds), 'lower', (x) => (x === undefined ? '–' : x.toFixed(1))));

  const cards = runs.map((r) => {
    const cfg = r.config.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
    const metricRows = r.metrics
      .map((m) => `<tr><th scope="row">${esc(m.ood_set)}</th>${METRICS.map((k) => `<td class="num">${pct(m[k.key])}</td>`).join('')}</tr>`)
      .join('');
    const metricsTable = r.metrics.length
      ? `<table class="metrics"><caption>${esc(o.score)} score, % (FPR95 lower is better, the others higher)</caption><tr><th>OOD set</th>${METRICS.map((k) => `<th>${k.label}</th>`).join('')}</tr>${metricRows}</table>`
      : '<p class="note">no metrics (the run has not completed)</p>';
    const figs = r.figures
      .map((f) => `<figure><img alt="${esc(f.title)}" src="data:image/png;base64,${f.png.toString('base64')}"><figcaption>${esc(f.title)} <span class="file">${esc(f.file)}</span></figcaption></figure>`)
      .join('\n');
    const notes = r.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('');
    return `<section class="run"><h2>${esc(r.label)}</h2><p class="path">${esc(r.dir)} · status: <span class="status${r.status === 'completed' ? '' : ' bad'}">${esc(r.status)}</span></p>
<table class="config">${cfg}</table>
${metricsTable}
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
<div class="runs">
${cards.join('\n')}
</div>
</body></html>
`;
}
