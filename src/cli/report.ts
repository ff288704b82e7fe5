import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as YAML from 'yaml';
import { AVERAGE, SCORE_ROW_COLUMNS } from '../eval/evaluate';
import { oodMetrics, rocPoints } from '../eval/metrics';
import { ensureDir, writeFileAtomic } from '../io/atomic-write';
import { readCsv } from '../io/csv';
import { readStatus } from '../io/run-dir';
import { reportHtml, RunReport, SeedGroup } from '../report/html';
import { writePng } from '../report/png';
import { fpr95Point, histogramSvg, RobustCurve, robustCurvesSvg, RocCurveInput, rocSvg, trainingCurvesSvg, TrainLogRow, TrainStepRow } from '../report/svg';
import { canonical } from '../sweep/grid';
import { defaultAuxBatchSize } from '../train/energy-sampling';
import { UserError } from '../util/errors';
import { action } from './action';
import { GRADIENT_NORMS_FILE, GRADIENT_STATS_FILE, ROBUST_FILE } from './report-eval';

interface ReportOpts {
  out: string;
  score: string;
}

/** A run directory (config.yaml), or a later evaluation of one (`<run>/evals/<name>/`, with eval.yaml). */
const isRun = (dir: string): boolean => fs.existsSync(path.join(dir, 'config.yaml')) || fs.existsSync(path.join(dir, 'eval.yaml'));

/** The run a directory belongs to: itself, or for an evaluation the run two levels up (its config, status and training log). */
const runOf = (dir: string): string => (fs.existsSync(path.join(dir, 'config.yaml')) ? dir : path.join(dir, '..', '..'));

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
    if (!inner.length) throw new UserError(`${a} is not a grodd run directory (no config.yaml) or evaluation (no eval.yaml) and holds none`);
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
  add('method', cfg.train?.method);
  add('seed', cfg.seed);
  add('backend', cfg.backend);
  add('ID train', ds(cfg.data?.id?.train));
  add('ID test', ds(cfg.data?.id?.test));
  add('auxiliary', ds(cfg.data?.aux) ?? 'none');
  add('OOD sets', (cfg.data?.ood ?? []).map((d: Record<string, any>) => d.name).join(', '));
  add('model', cfg.model ? `${cfg.model.arch}${cfg.model.channels ? ` channels [${cfg.model.channels.join(', ')}]` : ''}` : undefined);
  const t = cfg.train;
  if (t) {
    const sm = t.sampling ?? {};
    const aux = sm.aux_batch_size ?? (t.batch_size === undefined ? undefined : defaultAuxBatchSize(t.batch_size, sm.method === 'energy' && sm.two_way !== false));
    add('epochs / batch', `${t.epochs} / ${t.batch_size}${cfg.data?.aux && aux !== undefined ? ` (+ ${aux} outliers, ${sm.method ?? 'random'} sampling)` : ''}`);
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

/** What the report keeps of a run besides its page: whether it has the score, and its ROC curves per OOD set. */
interface ReadRun extends RunReport {
  hasScore: boolean;
  roc: Map<string, RocCurveInput>;
  /** The config without name and seed (canonical JSON): runs that differ only in seed share it. */
  seedless?: string;
}

/** Margins in force at the end of training (the last train_log.csv row that has them). */
function finalMargins(rows: TrainLogRow[]): { mIn: number; mOut: number } | undefined {
  const r = [...rows].reverse().find((x) => Number.isFinite(x.m_in) && Number.isFinite(x.m_out));
  return r ? { mIn: r.m_in!, mOut: r.m_out! } : undefined;
}

/** Reads a run, writes its figures into `<run>/figures/`, and returns what the HTML page shows. */
async function reportRun(dir: string, label: string, score: string): Promise<ReadRun> {
  const notes: string[] = [];
  const figures: RunReport['figures'] = [];
  const figDir = path.join(dir, 'figures');
  let cfg: Record<string, any> = {};
  try {
    cfg = (YAML.parse(fs.readFileSync(path.join(runOf(dir), 'config.yaml'), 'utf8')) ?? {}) as Record<string, any>;
  } catch (e) {
    notes.push(`config.yaml unreadable: ${(e as Error).message.split('\n')[0]}`);
  }
  const { name: _name, seed, ...rest } = cfg;
  const rep: ReadRun = {
    label, dir, status: readStatus(runOf(dir)), config: configSummary(cfg), metrics: [], figures, notes, hasScore: false, roc: new Map(),
    method: cfg.train?.method, seed: typeof seed === 'number' ? seed : undefined, seedless: cfg.train ? canonical(rest) : undefined,
  };
  const fig = async (name: string, title: string, svg: string): Promise<void> => {
    ensureDir(figDir);
    const file = path.join(figDir, `${name}.png`);
    const png = await writePng(file, svg);
    await writeFileAtomic(path.join(figDir, `${name}.svg`), svg);
    figures.push({ title, png, file });
  };

  let logRows: TrainLogRow[] = [];
  const logFile = path.join(runOf(dir), 'train_log.csv');
  if (fs.existsSync(logFile)) {
    const log = await readCsv(logFile);
    logRows = log.rows.map((r) => ({
      epoch: num(r.epoch), loss: num(r.loss), ce: num(r.ce), energy: num(r.energy), grad_reg: num(r.grad_reg), oe: num(r.oe), train_acc: num(r.train_acc),
      lr: num(r.lr), m_in: r.m_in === undefined ? undefined : num(r.m_in), m_out: num(r.m_out), val_auroc: num(r.val_auroc),
    }));
    if (logRows.length) {
      rep.epochs = logRows.length;
      rep.trainSeconds = log.rows.reduce((t, r) => t + (num(r.seconds) || 0), 0);
      const stepsFile = path.join(runOf(dir), 'train_steps.csv');
      const steps: TrainStepRow[] = [];
      if (fs.existsSync(stepsFile)) {
        const perEpoch = new Map<number, number>();
        const t = await readCsv(stepsFile);
        for (const r of t.rows) perEpoch.set(num(r.epoch), Math.max(perEpoch.get(num(r.epoch)) ?? 0, num(r.step)));
        const full = Math.max(...perEpoch.values());
        for (const r of t.rows) {
          steps.push({ x: num(r.epoch) - 1 + num(r.step) / full, values: { loss: num(r.loss), ce: num(r.ce), energy: num(r.energy), grad_reg: num(r.grad_reg), oe: num(r.oe), lr: num(r.lr) } });
        }
      }
      const what = steps.length ? 'per step (light), moving average, and epoch means (dots) from train_steps.csv and train_log.csv' : 'epoch means from train_log.csv';
      await fig('training', `training curves: ${what}; warm-up epochs shaded`, trainingCurvesSvg(logRows, { title: `${label}: training`, steps }));
    }
  } else notes.push('no train_log.csv');

  const metricsFile = path.join(dir, 'metrics.csv');
  if (fs.existsSync(metricsFile)) {
    const m = await readCsv(metricsFile);
    const rows = m.rows.filter((r) => r.score === score);
    rep.idAccuracy = m.rows.length ? num(m.rows[0].id_accuracy) : undefined;
    rep.metrics = rows.map((r) => ({ ood_set: r.ood_set, fpr95: num(r.fpr95), auroc: num(r.auroc), aupr_in: num(r.aupr_in), aupr_out: num(r.aupr_out) }));
    rep.allMetrics = m.rows.map((r) => ({ score: r.score, ood_set: r.ood_set, fpr95: num(r.fpr95), auroc: num(r.auroc), aupr_in: num(r.aupr_in), aupr_out: num(r.aupr_out) }));
    if (m.rows.length && !rows.length) notes.push(`metrics.csv has no ${score} rows (scores: ${[...new Set(m.rows.map((r) => r.score))].join(', ')})`);
  } else notes.push('no metrics.csv');

  // The margins shape the energy score only, and only when the energy loss or the regularizer trained with them.
  const t = cfg.train ?? {};
  const margins = score === 'energy' && (t.energy_loss?.weight > 0 || t.grad_reg?.weight > 0) ? finalMargins(logRows) : undefined;
  const scoresFile = path.join(dir, 'scores.csv');
  if (fs.existsSync(scoresFile)) {
    const s = await readCsv(scoresFile);
    if (!s.columns.includes(score)) {
      const meta = new Set<string>(SCORE_ROW_COLUMNS);
      notes.push(`scores.csv has no ${score} column (it has ${s.columns.filter((c) => !meta.has(c)).join(', ')})`);
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
        const curve = { name, roc, auroc: oodMetrics(id, scores).auroc, fpr95: point };
        curves.push(curve);
        rep.roc.set(name, curve);
        const marginNote = margins ? ', training margins dotted' : '';
        await fig(`hist-${safeName(score)}-${safeName(name)}`, `${score} score histogram: ${idName} vs ${name}, FPR95 threshold dashed${marginNote}`, histogramSvg({ score, id: { name: idName, scores: id }, ood: { name, scores }, threshold: point, margins, title: `${label}: ${score}, ID vs ${name}` }));
      }
      if (curves.length) await fig(`roc-${safeName(score)}`, `ROC curves, ${score} score (circles: the FPR95 points)`, rocSvg(curves, { score, title: `${label}: ROC, ${score}` }));
    }
  } else notes.push('no scores.csv (per-sample scores): no histograms or ROC curves');
  const robustFile = path.join(dir, ROBUST_FILE);
  if (fs.existsSync(robustFile)) {
    rep.robust = (await readCsv(robustFile)).rows.map((r) => ({ score: r.score, ood_set: r.ood_set, epsilon: num(r.epsilon), fpr95: num(r.fpr95), auroc: num(r.auroc) }));
  }
  const gradStats = path.join(dir, GRADIENT_STATS_FILE);
  if (fs.existsSync(gradStats)) {
    rep.gradient = (await readCsv(gradStats)).rows.map((r) => ({ dataset: r.dataset, role: r.role, mean: num(r.grad_l2_mean), median: num(r.grad_l2_median), p95: num(r.grad_l2_p95), epsilon: num(r.epsilon), kept: num(r.kept) }));
  }
  const gradNorms = path.join(dir, GRADIENT_NORMS_FILE);
  if (fs.existsSync(gradNorms)) {
    const bySet = new Map<string, { role: string; l2: number[] }>();
    for (const r of (await readCsv(gradNorms)).rows) {
      if (!bySet.has(r.dataset)) bySet.set(r.dataset, { role: r.role, l2: [] });
      bySet.get(r.dataset)!.l2.push(num(r.grad_l2));
    }
    const [idName, id] = [...bySet].find(([, v]) => v.role === 'id') ?? [];
    for (const [name, v] of bySet) {
      if (!id || v.role !== 'ood') continue;
      await fig(`hist-grad-${safeName(name)}`, `‖∇ₓS‖₂ of the energy score (pixels): ${idName} vs ${name}`, histogramSvg({ score: 'gradient norm', id: { name: idName!, scores: id.l2 }, ood: { name, scores: v.l2 }, title: `${label}: ‖∇ₓS‖₂, ID vs ${name}`, xlabel: '‖∇ₓS(x)‖₂ of the energy score, [0,1] pixels (lower = flatter)' }));
    }
  }
  // keep the average row last in the run's own table
  rep.metrics.sort((a, b) => (a.ood_set === AVERAGE ? 1 : b.ood_set === AVERAGE ? -1 : 0));
  return rep;
}

/** Runs whose configs differ only in seed (at least two), each group in the order of its first run. */
export function seedGroups(runs: { seedless?: string; seed?: number }[]): number[][] {
  const by = new Map<string, number[]>();
  runs.forEach((r, i) => {
    if (r.seedless === undefined) return;
    if (!by.has(r.seedless)) by.set(r.seedless, []);
    by.get(r.seedless)!.push(i);
  });
  return [...by.values()].filter((g) => g.length > 1 && new Set(g.map((i) => runs[i].seed)).size === g.length);
}

/** A group's name: its runs' labels without their seed part when that makes them equal, else the first label and a count. */
function groupLabel(labels: string[]): string {
  const stripped = labels.map((l) => l.replace(/[._-]?seed-?\d+/, ''));
  return stripped.every((l) => l === stripped[0]) && stripped[0] ? stripped[0] : `${labels[0]} +${labels.length - 1}`;
}

/**
 * The robust curves, one figure per attacked score: AUROC and FPR95 against ε of the average over
 * the OOD sets (or of the only set), one line per run; written beside the report (<name>-figures/, `dir`).
 */
async function robustFiguresOf(reports: RunReport[], dir: string): Promise<RunReport['figures']> {
  const figures: RunReport['figures'] = [];
  const scores = [...new Set(reports.flatMap((r) => (r.robust ?? []).map((x) => x.score)))];
  for (const score of scores) {
    const curves: RobustCurve[] = [];
    let set = AVERAGE;
    for (const r of reports) {
      const rows = (r.robust ?? []).filter((x) => x.score === score);
      if (!rows.length) continue;
      set = rows.some((x) => x.ood_set === AVERAGE) ? AVERAGE : rows[0].ood_set;
      const shown = rows.filter((x) => x.ood_set === set).sort((a, b) => a.epsilon - b.epsilon);
      curves.push({ name: r.label, epsilons: shown.map((x) => x.epsilon), auroc: shown.map((x) => x.auroc), fpr95: shown.map((x) => x.fpr95) });
    }
    ensureDir(dir);
    const file = path.join(dir, `robust-${safeName(score)}.png`);
    const svg = robustCurvesSvg(curves, { score, set });
    const png = await writePng(file, svg);
    await writeFileAtomic(file.replace(/\.png$/, '.svg'), svg);
    figures.push({ title: `${score} under attack: AUROC and FPR95 against ε (${set}), one line per run`, png, file });
  }
  return figures;
}

async function runReport(dirs: string[], o: ReportOpts): Promise<void> {
  const runs = expandRunDirs(dirs);
  const names = labels(runs);
  const reports: ReadRun[] = [];
  for (const [i, d] of runs.entries()) {
    process.stderr.write(`report: ${d}\n`);
    reports.push(await reportRun(d, names[i], o.score));
  }
  if (!reports.some((r) => r.hasScore || r.metrics.length)) {
    throw new UserError(`no run has ${o.score} scores; choose --score among the columns of the runs' scores.csv (e.g. energy, msp, maxlogit)`);
  }
  const groups: SeedGroup[] = seedGroups(reports).map((members) => ({ label: groupLabel(members.map((i) => reports[i].label)), members }));

  // One figure per OOD set with every run's ROC curve, when several runs have that set.
  const overlays: RunReport['figures'] = [];
  const figDir = o.out.replace(/\.html?$/i, '') + '-figures';
  const sets = [...new Set(reports.flatMap((r) => [...r.roc.keys()]))];
  for (const set of sets) {
    const withSet = reports.filter((r) => r.roc.has(set));
    if (withSet.length < 2) continue;
    const curves = withSet.map((r) => ({ ...r.roc.get(set)!, name: r.label }));
    const svg = rocSvg(curves, { score: o.score, title: `ROC of ${withSet.length} runs: ${o.score} score, ID vs ${set}` });
    ensureDir(figDir);
    const file = path.join(figDir, `roc-${safeName(o.score)}-${safeName(set)}.png`);
    const png = await writePng(file, svg);
    await writeFileAtomic(file.replace(/\.png$/, '.svg'), svg);
    overlays.push({ title: `ROC curves of the runs on ${set} (${o.score} score; circles: FPR95 points)`, png, file });
  }

  const robustFigures = await robustFiguresOf(reports, figDir);
  const html = reportHtml(reports, { score: o.score, generated: new Date().toISOString(), command: `grodd report ${dirs.join(' ')} --score ${o.score}`, groups, figures: overlays, robustFigures });
  ensureDir(path.dirname(path.resolve(o.out)));
  await writeFileAtomic(o.out, html);
  const nFig = reports.reduce((s, r) => s + r.figures.length, 0) + overlays.length + robustFigures.length;
  const where = overlays.length + robustFigures.length ? `; run comparisons in ${figDir}/` : '';
  process.stderr.write(`wrote ${o.out} (${runs.length} run(s), ${groups.length} seed group(s), ${nFig} figure(s); PNG and SVG files in each run's figures/${where})\n`);
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
