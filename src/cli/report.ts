import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as YAML from 'yaml';
import { AVERAGE } from '../eval/evaluate';
import { oodMetrics, rocPoints } from '../eval/metrics';
import { writeFileAtomic } from '../io/atomic-write';
import { readCsv } from '../io/csv';
import { readStatus } from '../io/run-dir';
import { reportHtml, RunReport } from '../report/html';
import { writePng } from '../report/png';
import { fpr95Point, histogramSvg, RocCurveInput, rocSvg, trainingCurvesSvg, TrainLogRow } from '../report/svg';
import { UserError } from '../util/errors';
import { action } from './action';

interface ReportOpts {
  out: string;
  score: string;
}

const isRun = (dir: string): boolean => fs.existsSync(path.join(dir, 'config.yaml'));

/** The run directories named: a run itself, or a directory of runs (a sweep) standing for all of them. */
export function expandRunDirs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!fs.existsSync(a) || !fs.statSync(a).isDirectory()) throw new UserError(`run directory not found: ${a}`);
    if (isRun(a)) {
      out.push(a);
      continue;
    }
    const inner = fs.readdirSync(a).sort().map((d) => path.join(a, d)).filter((d) => fs.statSync(d).isDirectory() && isRun(d));
    if (!inner.length) throw new UserError(`${a} is not a grodd run directory (no config.yaml) and holds none`);
    out.push(...inner);
  }
  return [...new Set(out.map((d) => path.normalize(d)))];
}

/** Labels: each run's directory name, or more of its path where two names collide. */
function labels(dirs: string[]): string[] {
  const parts = dirs.map((d) => path.resolve(d).split(path.sep).filter(Boolean));
  for (let n = 1; ; n++) {
    const l = parts.map((p) => p.slice(-n).join('/'));
    if (new Set(l).size === l.length || n > Math.max(...parts.map((p) => p.length))) return l;
  }
}

const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_');
const num = (s: string | undefined): number => (s === undefined || s.trim() === '' ? NaN : Number(s));

function configSummary(cfg: Record<string, any>): [string, string][] {
  const out: [string, string][] = [];
  const add = (k: string, v: unknown): void => {
    if (v !== undefined && v !== null && v !== '') out.push([k, typeof v === 'string' ? v : JSON.stringify(v)]);
  };
  const ds = (d: Record<string, any> | undefined): string | undefined =>
    d ? `${d.name} (${d.format}${d.classes ? `, classes ${d.classes.join(',')}` : ''}${d.limit ? `, limit ${d.limit}` : ''})` : undefined;
  add('name', cfg.name);
  add('seed', cfg.seed);
  add('backend', cfg.backend);
  add('ID train', ds(cfg.data?.id?.train));
  add('ID test', ds(cfg.data?.id?.test));
  add('auxiliary', ds(cfg.data?.aux) ?? 'none');
  add('OOD sets', (cfg.data?.ood ?? []).map((d: Record<string, any>) => d.name).join(', '));
  add('model', cfg.model ? `${cfg.model.arch} channels [${(cfg.model.channels ?? []).join(', ')}]` : undefined);
  const t = cfg.train;
  if (t) {
    add('epochs / batch', `${t.epochs} / ${t.batch_size} (aux ${t.aux_batch_size})`);
    add('optimizer', `${t.optimizer?.name} lr ${t.lr}, ${t.schedule?.name} schedule${t.optimizer?.weight_decay ? `, weight decay ${t.optimizer.weight_decay}` : ''}`);
    add('λ_S (energy loss)', t.energy_loss?.weight);
    add('λ_∇S (grad reg)', t.grad_reg ? `${t.grad_reg.weight} (${t.grad_reg.mode}${t.grad_reg.mode === 'finite-difference' ? `, h ${t.grad_reg.fd_step}` : ''})` : undefined);
    const m = t.margins;
    if (m) add('margins', m.mode === 'fixed' ? `fixed m_in ${m.m_in}, m_out ${m.m_out}` : `percentile (ID ${m.id_percentile}th, aux ${m.aux_percentile}th) after ${m.warmup_epochs} warm-up epoch(s)`);
  }
  for (const [k, v] of Object.entries(cfg)) {
    if (!['name', 'seed', 'backend', 'data', 'model', 'train', 'eval'].includes(k)) add(k, v);
  }
  return out;
}

/** Reads a run, writes its figures into `<run>/figures/`, and returns what the HTML page shows. */
async function reportRun(dir: string, label: string, score: string): Promise<RunReport & { hasScore: boolean }> {
  const notes: string[] = [];
  const figures: RunReport['figures'] = [];
  const figDir = path.join(dir, 'figures');
  let cfg: Record<string, any> = {};
  try {
    cfg = (YAML.parse(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8')) ?? {}) as Record<string, any>;
  } catch (e) {
    notes.push(`config.yaml unreadable: ${(e as Error).message.split('\n')[0]}`);
  }
  const rep: RunReport & { hasScore: boolean } = { label, dir, status: readStatus(dir), config: configSummary(cfg), metrics: [], figures, notes, hasScore: false };
  const fig = async (name: string, title: string, svg: string): Promise<void> => {
    fs.mkdirSync(figDir, { recursive: true });
    const file = path.join(figDir, `${name}.png`);
    const png = await writePng(file, svg);
    await writeFileAtomic(path.join(figDir, `${name}.svg`), svg);
    figures.push({ title, png, file });
  };

  const logFile = path.join(dir, 'train_log.csv');
  if (fs.existsSync(logFile)) {
    const log = await readCsv(logFile);
    const rows: TrainLogRow[] = log.rows.map((r) => ({
      epoch: num(r.epoch), loss: num(r.loss), ce: num(r.ce), energy: num(r.energy), grad_reg: num(r.grad_reg), train_acc: num(r.train_acc), lr: r.lr === undefined ? undefined : num(r.lr),
    }));
    if (rows.length) {
      rep.epochs = rows.length;
      rep.trainSeconds = log.rows.reduce((s, r) => s + (num(r.seconds) || 0), 0);
      await fig('training', 'training curves (train_log.csv)', trainingCurvesSvg(rows, { title: `${label}: training` }));
    }
  } else notes.push('no train_log.csv');

  const metricsFile = path.join(dir, 'metrics.csv');
  if (fs.existsSync(metricsFile)) {
    const m = await readCsv(metricsFile);
    const rows = m.rows.filter((r) => r.score === score);
    rep.idAccuracy = m.rows.length ? num(m.rows[0].id_accuracy) : undefined;
    rep.metrics = rows.map((r) => ({ ood_set: r.ood_set, fpr95: num(r.fpr95), auroc: num(r.auroc), aupr_in: num(r.aupr_in), aupr_out: num(r.aupr_out) }));
    if (m.rows.length && !rows.length) notes.push(`metrics.csv has no ${score} rows (scores: ${[...new Set(m.rows.map((r) => r.score))].join(', ')})`);
  } else notes.push('no metrics.csv');

  const scoresFile = path.join(dir, 'scores.csv');
  if (fs.existsSync(scoresFile)) {
    const s = await readCsv(scoresFile);
    if (!s.columns.includes(score)) {
      notes.push(`scores.csv has no ${score} column (it has ${s.columns.filter((c) => c !== 'dataset' && c !== 'role').join(', ')})`);
    } else {
      rep.hasScore = true;
      const id: number[] = [];
      let idName = 'ID';
      const ood = new Map<string, number[]>();
      for (const r of s.rows) {
        const v = num(r[score]);
        if (r.role === 'id') {
          id.push(v);
          idName = r.dataset;
        } else {
          if (!ood.has(r.dataset)) ood.set(r.dataset, []);
          ood.get(r.dataset)!.push(v);
        }
      }
      const curves: RocCurveInput[] = [];
      for (const [name, scores] of ood) {
        if (!id.length || !scores.length) continue;
        const roc = rocPoints(id, scores);
        const point = fpr95Point(id, scores, roc);
        curves.push({ name, roc, auroc: oodMetrics(id, scores).auroc, fpr95: point });
        await fig(`hist-${safeName(score)}-${safeName(name)}`, `${score} score histogram: ${idName} vs ${name}, FPR95 threshold dashed`, histogramSvg({ score, id: { name: idName, scores: id }, ood: { name, scores }, threshold: point, title: `${label}: ${score}, ID vs ${name}` }));
      }
      if (curves.length) await fig(`roc-${safeName(score)}`, `ROC curves, ${score} score (circles: the FPR95 points)`, rocSvg(curves, { score, title: `${label}: ROC, ${score}` }));
    }
  } else notes.push('no scores.csv (per-sample scores): no histograms or ROC curves');
  // keep the average row last in the run's own table
  rep.metrics.sort((a, b) => (a.ood_set === AVERAGE ? 1 : b.ood_set === AVERAGE ? -1 : 0));
  return rep;
}

async function runReport(dirs: string[], o: ReportOpts): Promise<void> {
  const runs = expandRunDirs(dirs);
  const names = labels(runs);
  const reports: (RunReport & { hasScore: boolean })[] = [];
  for (const [i, d] of runs.entries()) {
    process.stderr.write(`report: ${d}\n`);
    reports.push(await reportRun(d, names[i], o.score));
  }
  if (!reports.some((r) => r.hasScore || r.metrics.length)) {
    throw new UserError(`no run has ${o.score} scores; choose --score among the columns of the runs' scores.csv (e.g. energy, msp, maxlogit)`);
  }
  const html = reportHtml(reports, { score: o.score, generated: new Date().toISOString(), command: `grodd report ${dirs.join(' ')} --score ${o.score}` });
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  await writeFileAtomic(o.out, html);
  const nFig = reports.reduce((s, r) => s + r.figures.length, 0);
  process.stderr.write(`wrote ${o.out} (${runs.length} run(s), ${nFig} figure(s); PNG and SVG files in each run's figures/)\n`);
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('figures (score histograms with the FPR95 threshold, ROC curves, training curves) and a self-contained HTML report of runs')
    .argument('<runs...>', 'run directories (a sweep directory stands for all its runs)')
    .option('-o, --out <file>', 'the HTML report to write', 'report.html')
    .option('--score <name>', 'score for histograms, ROC curves and metrics tables', 'energy')
    .action(action((dirs: string[], o: ReportOpts) => runReport(dirs, o)));
}
