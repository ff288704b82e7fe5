import * as path from 'node:path';
import { configToYaml, parseConfig } from '../config/config';
import { applyOverrides, formatOverride, Overrides } from '../config/overrides';
import { readYamlFile } from '../config/reader';
import { writeFileAtomic } from '../io/atomic-write';
import { writeCsv } from '../io/csv';
import { ExpandedSweep, expandSweep, parseSweep, Trial } from '../sweep/grid';
import { observeTrial } from '../sweep/observe';
import { PlannedTrial, planTrials, SlurmJob } from '../sweep/plan';
import { summarize, TrialResult } from '../sweep/summary';
import { UserError } from '../util/errors';
import { formatTable } from './table';

/**
 * A sweep's directory `<runs>/<name>/` and what both executors (local child processes, Slurm jobs),
 * `--status` and `--summary` do the same way: plan the trials, write their configs, the summaries and
 * the results table.
 *
 *   <trial id>/            the trial's run directory
 *   trials/<trial id>.yaml the config `grodd train` gets for a new trial
 *   logs/<trial id>.log    the trial's output (every start and resume appended)
 *   slurm/                 the job scripts, job ids (jobs.json) and Slurm's own output of a Slurm sweep
 *   summary.csv, summary_by_config.csv, sweep.lock
 */
/** bin/grodd.js, which the trials' processes and jobs run. */
export const GRODD_BIN = path.resolve(__dirname, '..', '..', 'bin', 'grodd.js');

export interface SweepDir {
  /** The sweep file, as given. */
  file: string;
  /** Command-line overrides of its base config (`train.epochs=2`). */
  overrides: Overrides;
  runs: string;
  sweep: ExpandedSweep;
  root: string;
  dirOf(t: Trial): string;
  cfgOf(t: Trial): string;
  logOf(t: Trial): string;
}

/** Reads a sweep file and its base config, applies command-line `overrides` to the base, and expands the trials (every config checked). */
export function loadSweep(file: string, overrides: Overrides = []): ExpandedSweep {
  const spec = parseSweep(readYamlFile(file, 'sweep file'), file);
  for (const [k] of overrides) {
    if (k === 'name' || k.startsWith('name.')) throw new UserError(`override ${k}: the sweep names each trial's run; it cannot be overridden`);
    if (k === 'seed' && spec.seeds) throw new UserError(`override seed: ${file} sets seeds: [${spec.seeds.join(', ')}]; edit that list instead`);
  }
  const expand = (raw: unknown, label: string): ExpandedSweep => expandSweep(spec, applyOverrides(raw, label, overrides, parseConfig), label);
  if ('file' in spec.base) {
    const baseFile = path.resolve(path.dirname(file), spec.base.file);
    return expand(readYamlFile(baseFile, `base config (${file}: base)`), path.relative(process.cwd(), baseFile) || baseFile);
  }
  return expand(spec.base.inline, `${file}: base`);
}

export function openSweep(file: string, runs: string, overrides: Overrides = []): SweepDir {
  const sweep = loadSweep(file, overrides);
  const root = path.join(runs, sweep.name);
  return {
    file,
    overrides,
    runs,
    sweep,
    root,
    dirOf: (t) => path.join(root, t.id),
    cfgOf: (t) => path.join(root, 'trials', `${t.id}.yaml`),
    logOf: (t) => path.join(root, 'logs', `${t.id}.log`),
  };
}

/**
 * Plans `trials` (default: all) from what is on disk and, for a Slurm sweep, from their jobs. A trial
 * that already ran must have run with the config the sweep file gives now.
 */
export function planSweep(s: SweepDir, jobs?: ReadonlyMap<string, SlurmJob>, trials: readonly Trial[] = s.sweep.trials): PlannedTrial[] {
  const plan = planTrials(trials, trials.map((t) => ({ ...observeTrial(s.dirOf(t)), job: jobs?.get(t.id) })));
  const conflict = plan.find((p) => p.action === 'conflict');
  if (conflict) {
    const t = conflict.trial;
    throw new UserError(
      `${s.file}: trial ${t.id} already ran in ${s.dirOf(t)} with a different config (${conflict.diff} differs from ${path.join(s.dirOf(t), 'config.yaml')}); ` +
        `give the sweep another name, or use --runs for a fresh root, or delete ${s.dirOf(t)} to rerun it`,
    );
  }
  return plan;
}

/** The `grodd` arguments that carry out a planned trial: a resume of its run, or a new run of its config. */
export function trainArgs(s: SweepDir, p: PlannedTrial, backend?: string): string[] {
  const dir = s.dirOf(p.trial);
  const args = p.action === 'resume' ? ['train', '--resume', dir] : ['train', '--config', s.cfgOf(p.trial), '--run-dir', dir];
  return backend ? [...args, '--backend', backend] : args;
}

/** The line that opens each start of a trial in its log. */
export const logHeader = (args: string[]): string => `\n# ${new Date().toISOString()} grodd ${args.join(' ')}\n`;

/** (Re)writes the config file of a trial not yet started, so that a trial never runs a stale one. */
export async function writeTrialConfig(s: SweepDir, t: Trial): Promise<void> {
  const o = s.overrides;
  await writeFileAtomic(s.cfgOf(t), `# trial ${t.id} of sweep ${s.sweep.name} (${s.file})${o.length ? ', its base with command-line overrides' : ''}\n${o.map((x) => `#   ${formatOverride(x)}\n`).join('')}${configToYaml(t.config)}`);
}

export async function writeSummary(s: SweepDir, results: TrialResult[]): Promise<void> {
  const t = summarize(s.sweep.trials, s.sweep.keys, results, s.dirOf);
  await writeCsv(path.join(s.root, 'summary.csv'), t.rows, t.columns);
  await writeCsv(path.join(s.root, 'summary_by_config.csv'), t.byConfig, t.byConfigColumns);
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : (100 * x).toFixed(2));

/** A trial's energy-score metric: over the OOD sets' average, or of its single OOD set. */
const energy = (r: TrialResult, k: string): number | undefined =>
  r.metrics.get(`energy/average/${k}`) ?? [...r.metrics.entries()].find(([c]) => c.startsWith('energy/') && c.endsWith(`/${k}`))?.[1];

export function resultLine(r: TrialResult): string {
  return `energy FPR95 ${pct(energy(r, 'fpr95'))}%, AUROC ${pct(energy(r, 'auroc'))}%, ID acc ${pct(r.id_accuracy)}%`;
}

/** One row per trial: its status and results, with its Slurm job and state when `jobs` is given. */
export function resultsTable(s: SweepDir, results: TrialResult[], jobs?: ReadonlyMap<string, SlurmJob>): string {
  const rows = s.sweep.trials.map((t, i) => {
    const r = results[i];
    const job = jobs?.get(t.id);
    return [
      t.id,
      ...(jobs ? [job?.id ?? '-', job?.state ?? '-'] : []),
      r.status.length > 40 ? `${r.status.slice(0, 37)}...` : r.status,
      pct(r.id_accuracy),
      pct(energy(r, 'fpr95')),
      pct(energy(r, 'auroc')),
      r.train_seconds === undefined ? '-' : r.train_seconds.toFixed(1),
    ];
  });
  return formatTable(['trial', ...(jobs ? ['job', 'slurm'] : []), 'status', 'id_acc%', 'energy_fpr95%', 'energy_auroc%', 'train_s'], rows);
}
