import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { configToYaml, parseConfig } from '../config/config';
import { applyOverrides, formatOverride, Overrides, parseOverrideArgs } from '../config/overrides';
import { readYamlFile } from '../config/reader';
import { ensureDir, writeFileAtomic } from '../io/atomic-write';
import { writeCsv } from '../io/csv';
import { acquireLock, describeHolder, Lock } from '../io/run-lock';
import { ExpandedSweep, expandSweep, parseSweep, Trial } from '../sweep/grid';
import { observeTrial } from '../sweep/observe';
import { PlannedTrial, planTrials, TrialAction } from '../sweep/plan';
import { readTrialResult, summarize, TrialResult } from '../sweep/summary';
import { UserError } from '../util/errors';
import { action } from './action';
import { formatTable } from './table';
import { BACKEND_OPTION } from './train';

interface SweepOpts {
  config: string;
  runs: string;
  jobs: number;
  backend?: string;
  dryRun?: boolean;
}

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'grodd.js');

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

const pct = (x: number | undefined): string => (x === undefined ? '-' : (100 * x).toFixed(2));

function resultLine(r: TrialResult): string {
  const m = (k: string): number | undefined => r.metrics.get(`energy/average/${k}`) ?? [...r.metrics.entries()].find(([c]) => c.startsWith('energy/') && c.endsWith(`/${k}`))?.[1];
  return `energy FPR95 ${pct(m('fpr95'))}%, AUROC ${pct(m('auroc'))}%, ID acc ${pct(r.id_accuracy)}%`;
}

async function runSweep(o: SweepOpts, overrides: Overrides): Promise<void> {
  const sweep = loadSweep(o.config, overrides);
  const root = path.join(o.runs, sweep.name);
  const dirOf = (t: Trial): string => path.join(root, t.id);
  const cfgOf = (t: Trial): string => path.join(root, 'trials', `${t.id}.yaml`);
  const logOf = (t: Trial): string => path.join(root, 'logs', `${t.id}.log`);
  const resumeCmd = ['grodd sweep --config', o.config, ...(o.runs !== 'runs' ? ['--runs', o.runs] : []), ...(o.jobs !== 1 ? ['--jobs', String(o.jobs)] : []), ...(o.backend ? ['--backend', o.backend] : []), ...overrides.map(formatOverride)].join(' ');

  let sweepLock: Lock | undefined;
  if (!o.dryRun) {
    ensureDir(path.join(root, 'trials'));
    ensureDir(path.join(root, 'logs'));
    sweepLock = acquireLock(path.join(root, 'sweep.lock'), `sweep ${root}`);
  }
  // A trial that already ran must have run with the config the sweep file gives now.
  const plan = planTrials(sweep.trials, sweep.trials.map((t) => observeTrial(dirOf(t))));
  const conflict = plan.find((p) => p.action === 'conflict');
  if (conflict) {
    const t = conflict.trial;
    throw new UserError(
      `${o.config}: trial ${t.id} already ran in ${dirOf(t)} with a different config (${conflict.diff} differs from ${path.join(dirOf(t), 'config.yaml')}); ` +
        `give the sweep another name, or use --runs for a fresh root, or delete ${dirOf(t)} to rerun it`,
    );
  }
  const count = (a: TrialAction): number => plan.filter((p) => p.action === a).length;
  const todo = plan.filter((p) => p.action === 'resume' || p.action === 'new');
  const busy = plan.filter((p) => p.action === 'busy');
  process.stderr.write(
    `sweep ${sweep.name}: ${sweep.trials.length} trial(s) in ${root}/ (${count('completed')} completed, ${count('resume')} to resume, ${count('new')} new` +
      `${busy.length ? `, ${busy.length} busy` : ''}), ${o.jobs} at a time\n`,
  );
  for (const p of busy) {
    process.stderr.write(`${p.trial.id}: skipped: ${dirOf(p.trial)} is being trained by ${describeHolder(p.holder!)}\n`);
  }
  if (o.dryRun) {
    process.stdout.write(`${formatTable(['trial', 'state', 'overrides'], plan.map((p) => [p.trial.id, p.action === 'new' ? 'new' : p.action === 'busy' ? `busy: ${p.status}` : p.status, p.trial.overrides.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(base)']))}\n`);
    return;
  }

  const results: TrialResult[] = await Promise.all(sweep.trials.map((t) => readTrialResult(dirOf(t))));
  const writeSummary = async (): Promise<void> => {
    const s = summarize(sweep.trials, sweep.keys, results, dirOf);
    await writeCsv(path.join(root, 'summary.csv'), s.rows, s.columns);
    await writeCsv(path.join(root, 'summary_by_config.csv'), s.byConfig, s.byConfigColumns);
  };

  const env = { ...process.env };
  if (o.jobs > 1 && !env.GRODD_WASM_THREADS) {
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    env.GRODD_WASM_THREADS = String(Math.max(1, Math.floor(cpus / o.jobs)));
  }

  const running = new Map<ChildProcess, Trial>();
  let stopping = false;
  let failed = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`\n${sig} again: stopping ${running.size} trial(s) at once\n`);
      for (const c of running.keys()) c.kill('SIGTERM'); // a second signal: a trainer exits at once
      process.stderr.write(`resume with: ${resumeCmd}\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${sig}: stopping; waiting for ${running.size} running trial(s) to save their state (${sig} again to stop them at once)\n`);
    // The trainers run in their own process group, so only this process hears the terminal's Ctrl-C.
    for (const c of running.keys()) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);

  const runOne = (p: PlannedTrial, k: number): Promise<void> =>
    new Promise((resolve) => {
      const t = p.trial;
      const i = sweep.trials.indexOf(t);
      const dir = dirOf(t);
      const resume = p.action === 'resume';
      const args = resume ? ['train', '--resume', dir] : ['train', '--config', cfgOf(t), '--run-dir', dir];
      if (o.backend) args.push('--backend', o.backend);
      const log = fs.openSync(logOf(t), 'a');
      fs.writeSync(log, `\n# ${new Date().toISOString()} grodd ${args.join(' ')}\n`);
      const started = Date.now();
      // Its own process group (the sweep forwards signals itself), and an IPC channel whose end tells the
      // trainer that the sweep is gone, however it died: a trainer never outlives its sweep.
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', log, log, 'ipc'], env, detached: true });
      fs.closeSync(log);
      running.set(child, t);
      process.stderr.write(`[${k}/${todo.length}] ${t.id}: ${resume ? `resuming (${p.status})` : 'started'}\n`);
      child.on('error', (e) => process.stderr.write(`[${k}/${todo.length}] ${t.id}: cannot start: ${e.message}\n`));
      child.on('close', async (code, signal) => {
        running.delete(child);
        results[i] = await readTrialResult(dir);
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const r = results[i];
        if (code === 0 && r.status === 'completed') {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: completed in ${secs} s: ${resultLine(r)}\n`);
        } else if (stopping) {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: stopped after ${secs} s (${r.status})\n`);
        } else {
          failed++;
          const tail = fs.readFileSync(logOf(t), 'utf8').trimEnd().split('\n').slice(-3).join('\n    ');
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: FAILED (${signal ? `killed by ${signal}` : `exit ${code}`}; ${r.status}); log ${logOf(t)}:\n    ${tail}\n`);
        }
        try {
          await writeSummary();
        } catch (e) {
          process.stderr.write(`cannot write the summary: ${(e as Error).message}\n`);
        }
        resolve();
      });
    });

  try {
    // (Re)written for every trial not yet started, so that a trial never runs a stale config file.
    for (const p of todo) if (p.action === 'new') await writeFileAtomic(cfgOf(p.trial), `# trial ${p.trial.id} of sweep ${sweep.name} (${o.config})${overrides.length ? ', its base with command-line overrides' : ''}\n${overrides.map((x) => `#   ${formatOverride(x)}\n`).join('')}${configToYaml(p.trial.config)}`);
    await writeSummary();
    const active = new Set<Promise<void>>();
    let k = 0;
    for (const t of todo) {
      while (active.size >= o.jobs && !stopping) await Promise.race(active);
      if (stopping) break;
      const p = runOne(t, ++k).then(() => void active.delete(p));
      active.add(p);
    }
    await Promise.all(active);
    await writeSummary();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    sweepLock?.release();
  }

  const done = results.filter((r) => r.status === 'completed').length;
  const table = sweep.trials.map((t, i) => {
    const r = results[i];
    const m = (k: string): string => pct(r.metrics.get(`energy/average/${k}`) ?? [...r.metrics.entries()].find(([c]) => c.startsWith('energy/') && c.endsWith(`/${k}`))?.[1]);
    return [t.id, r.status.length > 40 ? `${r.status.slice(0, 37)}...` : r.status, pct(r.id_accuracy), m('fpr95'), m('auroc'), r.train_seconds === undefined ? '-' : r.train_seconds.toFixed(1)];
  });
  process.stdout.write(`${formatTable(['trial', 'status', 'id_acc%', 'energy_fpr95%', 'energy_auroc%', 'train_s'], table)}\n`);
  process.stderr.write(`summary: ${path.join(root, 'summary.csv')}, ${path.join(root, 'summary_by_config.csv')} (${done}/${sweep.trials.length} completed)\n`);
  if (stopping) {
    process.stderr.write(`interrupted; resume with the same command: ${resumeCmd}\n`);
    process.exitCode = 130;
  } else if (failed > 0) {
    process.stderr.write(`${failed} trial(s) failed; see ${path.join(root, 'logs')}/. Rerunning the same command resumes them: ${resumeCmd}\n`);
    process.exitCode = 1;
  } else if (busy.length > 0) {
    process.stderr.write(`${busy.length} trial(s) skipped while another process trains them; rerun the same command once it has finished: ${resumeCmd}\n`);
    process.exitCode = 1;
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description('train and evaluate every trial of a sweep file (grid x trials x seeds); rerunning resumes it')
    .argument('[overrides...]', "overrides KEY=VALUE of the sweep's base config, e.g. train.epochs=2")
    .requiredOption('-c, --config <file>', 'sweep YAML (name, base, grid, trials, seeds)')
    .option('--runs <dir>', 'root of the sweep directory <runs>/<sweep name>/', 'runs')
    .option('-j, --jobs <n>', 'trials trained at the same time (child processes)', positiveInt, 1)
    .addOption(BACKEND_OPTION)
    .option('--dry-run', 'list the trials and their state, run nothing')
    .action(action((args: string[], o: SweepOpts) => runSweep(o, parseOverrideArgs(args))));
}
