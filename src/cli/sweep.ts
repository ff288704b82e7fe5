import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatOverride, Overrides, parseOverrideArgs } from '../config/overrides';
import { ensureDir } from '../io/atomic-write';
import { acquireLock, describeHolder, Lock } from '../io/run-lock';
import { PlannedTrial, SlurmJob, TrialAction } from '../sweep/plan';
import { arraySpec, isActive, slurmValueProblem, SlurmOptions } from '../sweep/slurm';
import { readTrialResult, TrialResult } from '../sweep/summary';
import { UserError } from '../util/errors';
import { action } from './action';
import { GRODD_BIN, logHeader, openSweep, planSweep, resultLine, resultsTable, SweepDir, trainArgs, writeSummary, writeTrialConfig } from './sweep-dir';
import { cancelSweep, requireSbatch, slurmScripts, SlurmView, slurmView, submitSweep } from './sweep-slurm';
import { formatTable } from './table';
import { BACKEND_OPTION, registerTrain } from './train';

/**
 * `grodd sweep`: runs a sweep's trials with one of two executors that share the planning of
 * src/cli/sweep-dir.ts: `local` (child processes of this one, `--jobs` at a time) or `slurm` (one job
 * array, see src/cli/sweep-slurm.ts); and the sweep's `--status`, `--cancel`, `--summary`, and
 * `--run-trial`, which is what each Slurm array task runs.
 */

/** The flags; the Slurm ones are named as SlurmOptions' fields (commander's camelCase of --cpus-per-task). */
interface SweepOpts extends Omit<SlurmOptions, 'sbatchArgs'> {
  config?: string;
  runs: string;
  jobs: number;
  backend?: string;
  dryRun?: boolean;
  executor: 'local' | 'slurm';
  status?: string | true;
  cancel?: string | true;
  summary?: boolean;
  runTrial?: string;
  sbatchArg: string[];
}

const SLURM_FLAGS: [keyof SweepOpts, string][] = [
  ['partition', '--partition'],
  ['time', '--time'],
  ['cpusPerTask', '--cpus-per-task'],
  ['mem', '--mem'],
  ['gres', '--gres'],
  ['arrayLimit', '--array-limit'],
];

const count = (plan: PlannedTrial[], a: TrialAction): number => plan.filter((p) => p.action === a).length;

/** The plan's first line and the trials it leaves alone, on stderr. */
function describePlan(s: SweepDir, plan: PlannedTrial[], how: string): void {
  const skipped = [count(plan, 'queued') && `${count(plan, 'queued')} queued in Slurm`, count(plan, 'busy') && `${count(plan, 'busy')} busy`].filter(Boolean);
  process.stderr.write(
    `sweep ${s.sweep.name}: ${s.sweep.trials.length} trial(s) in ${s.root}/ (${count(plan, 'completed')} completed, ${count(plan, 'resume')} to resume, ${count(plan, 'new')} new` +
      `${skipped.map((x) => `, ${x}`).join('')}), ${how}\n`,
  );
  for (const p of plan) {
    if (p.action === 'busy') process.stderr.write(`${p.trial.id}: skipped: ${s.dirOf(p.trial)} is being trained by ${describeHolder(p.holder!)}\n`);
    if (p.action === 'queued') process.stderr.write(`${p.trial.id}: skipped: Slurm job ${p.job!.id} is ${p.job!.state}\n`);
  }
}

function planTable(plan: PlannedTrial[]): string {
  const state = (p: PlannedTrial): string => (p.action === 'new' ? 'new' : p.action === 'busy' ? `busy: ${p.status}` : p.action === 'queued' ? `queued: Slurm job ${p.job!.id} ${p.job!.state}` : p.status);
  return formatTable(['trial', 'state', 'overrides'], plan.map((p) => [p.trial.id, state(p), p.trial.overrides.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || '(base)']));
}

/** The results table on stdout, and where the summaries are, on stderr. */
function printResults(s: SweepDir, results: TrialResult[]): void {
  const done = results.filter((r) => r.status === 'completed').length;
  process.stdout.write(`${resultsTable(s, results)}\n`);
  process.stderr.write(`summary: ${path.join(s.root, 'summary.csv')}, ${path.join(s.root, 'summary_by_config.csv')} (${done}/${s.sweep.trials.length} completed)\n`);
}

const readResults = (s: SweepDir): Promise<TrialResult[]> => Promise.all(s.sweep.trials.map((t) => readTrialResult(s.dirOf(t))));

/** The trials' Slurm jobs, for planning: none for a sweep never submitted; a warning where Slurm cannot be asked. */
function slurmJobsForPlan(s: SweepDir): Map<string, SlurmJob> | undefined {
  const v = slurmView(s);
  if (v.subs.length === 0) return undefined;
  if (v.problem) process.stderr.write(`grodd: warning: the sweep was submitted to Slurm, but its jobs' states cannot be read (${v.problem}); its run locks still keep two trainers off one trial\n`);
  return v.jobs;
}

async function runLocal(o: SweepOpts, s: SweepDir): Promise<void> {
  const resumeCmd = ['grodd sweep --config', s.file, ...(o.runs !== 'runs' ? ['--runs', o.runs] : []), ...(o.jobs !== 1 ? ['--jobs', String(o.jobs)] : []), ...(o.backend ? ['--backend', o.backend] : []), ...s.overrides.map(formatOverride)].join(' ');
  let sweepLock: Lock | undefined;
  if (!o.dryRun) {
    ensureDir(path.join(s.root, 'trials'));
    ensureDir(path.join(s.root, 'logs'));
    sweepLock = acquireLock(path.join(s.root, 'sweep.lock'), `sweep ${s.root}`);
  }
  const plan = planSweep(s, slurmJobsForPlan(s));
  const todo = plan.filter((p) => p.action === 'resume' || p.action === 'new');
  const skipped = plan.filter((p) => p.action === 'busy' || p.action === 'queued');
  describePlan(s, plan, `${o.jobs} at a time`);
  if (o.dryRun) {
    process.stdout.write(`${planTable(plan)}\n`);
    return;
  }

  const trials = s.sweep.trials;
  const results = await readResults(s);
  const env = { ...process.env };
  if (o.jobs > 1) {
    // Parallel trainers share the cores: each backend's threads (wasm, native) split them, unless set.
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    const share = String(Math.max(1, Math.floor(cpus / o.jobs)));
    env.GRODD_WASM_THREADS ||= share;
    env.GRODD_THREADS ||= share;
  }

  const running = new Map<ChildProcess, PlannedTrial>();
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
      const i = trials.indexOf(t);
      const args = trainArgs(s, p, o.backend);
      const log = fs.openSync(s.logOf(t), 'a');
      fs.writeSync(log, logHeader(args));
      const started = Date.now();
      // Its own process group (the sweep forwards signals itself), and an IPC channel whose end tells the
      // trainer that the sweep is gone, however it died: a trainer never outlives its sweep.
      const child = spawn(process.execPath, [GRODD_BIN, ...args], { stdio: ['ignore', log, log, 'ipc'], env, detached: true });
      fs.closeSync(log);
      running.set(child, p);
      process.stderr.write(`[${k}/${todo.length}] ${t.id}: ${p.action === 'resume' ? `resuming (${p.status})` : 'started'}\n`);
      child.on('error', (e) => process.stderr.write(`[${k}/${todo.length}] ${t.id}: cannot start: ${e.message}\n`));
      child.on('close', async (code, signal) => {
        running.delete(child);
        results[i] = await readTrialResult(s.dirOf(t));
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const r = results[i];
        if (code === 0 && r.status === 'completed') {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: completed in ${secs} s: ${resultLine(r)}\n`);
        } else if (stopping) {
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: stopped after ${secs} s (${r.status})\n`);
        } else {
          failed++;
          const tail = fs.readFileSync(s.logOf(t), 'utf8').trimEnd().split('\n').slice(-3).join('\n    ');
          process.stderr.write(`[${k}/${todo.length}] ${t.id}: FAILED (${signal ? `killed by ${signal}` : `exit ${code}`}; ${r.status}); log ${s.logOf(t)}:\n    ${tail}\n`);
        }
        try {
          await writeSummary(s, results);
        } catch (e) {
          process.stderr.write(`cannot write the summary: ${(e as Error).message}\n`);
        }
        resolve();
      });
    });

  try {
    for (const p of todo) if (p.action === 'new') await writeTrialConfig(s, p.trial);
    await writeSummary(s, results);
    const active = new Set<Promise<void>>();
    let k = 0;
    for (const t of todo) {
      while (active.size >= o.jobs && !stopping) await Promise.race(active);
      if (stopping) break;
      const p = runOne(t, ++k).then(() => void active.delete(p));
      active.add(p);
    }
    await Promise.all(active);
    await writeSummary(s, results);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    sweepLock?.release();
  }

  printResults(s, results);
  if (stopping) {
    process.stderr.write(`interrupted; resume with the same command: ${resumeCmd}\n`);
    process.exitCode = 130;
  } else if (failed > 0) {
    process.stderr.write(`${failed} trial(s) failed; see ${path.join(s.root, 'logs')}/. Rerunning the same command resumes them: ${resumeCmd}\n`);
    process.exitCode = 1;
  } else if (skipped.length > 0) {
    process.stderr.write(`${skipped.length} trial(s) skipped while another process or a Slurm job trains them; rerun the same command once it has finished: ${resumeCmd}\n`);
    process.exitCode = 1;
  }
}

/** The Slurm options: the sweep file's `slurm:`, each overridden by its flag; --sbatch-arg adds to the file's. */
function slurmOptions(o: SweepOpts, s: SweepDir): SlurmOptions {
  const f = s.sweep.slurm;
  return {
    partition: o.partition ?? f.partition,
    time: o.time ?? f.time,
    cpusPerTask: o.cpusPerTask ?? f.cpusPerTask,
    mem: o.mem ?? f.mem,
    gres: o.gres ?? f.gres,
    arrayLimit: o.arrayLimit ?? f.arrayLimit,
    sbatchArgs: [...f.sbatchArgs, ...o.sbatchArg],
  };
}

async function runSlurm(o: SweepOpts, s: SweepDir, file: string): Promise<void> {
  const again = `grodd sweep --config ${file}${o.runs !== 'runs' ? ` --runs ${o.runs}` : ''}`;
  let sweepLock: Lock | undefined;
  if (!o.dryRun) {
    requireSbatch();
    ensureDir(s.root);
    sweepLock = acquireLock(path.join(s.root, 'sweep.lock'), `sweep ${s.root}`);
  }
  try {
    const v = slurmView(s);
    // Without the states, a trial still queued would be queued twice.
    if (v.problem && v.subs.length > 0) throw new UserError(`cannot read the state of the sweep's earlier Slurm jobs (${v.problem}); submit again once squeue answers`, 1);
    const plan = planSweep(s, v.jobs);
    const todo = plan.filter((p) => p.action === 'resume' || p.action === 'new');
    describePlan(s, plan, 'on Slurm');
    const scripts = slurmScripts(s, todo, slurmOptions(o, s), o.backend);
    if (o.dryRun) {
      process.stdout.write(`${planTable(plan)}\n`);
      if (todo.length > 0) process.stdout.write(`\n# ${scripts.trials.file}\n${scripts.trials.text}\n# ${scripts.summary.file}\n${scripts.summary.text}`);
      return;
    }
    if (todo.length === 0) {
      await writeSummary(s, await readResults(s));
      const left = count(plan, 'queued') + count(plan, 'busy');
      process.stderr.write(
        left ? `nothing to submit: ${left} trial(s) queued or running, the rest completed; follow with: ${again} --status\n` : `nothing to submit: all ${plan.length} trial(s) are completed; summary: ${path.join(s.root, 'summary.csv')}\n`,
      );
      return;
    }
    const sub = await submitSweep(s, todo, scripts);
    await writeSummary(s, await readResults(s));
    process.stderr.write(
      `submitted job array ${sub.array} (${todo.length} task(s): --array=${arraySpec(Object.keys(sub.tasks).map(Number), slurmOptions(o, s).arrayLimit)}) and summary job ${sub.summary} (after the array); scripts in ${path.dirname(scripts.trials.file)}/\n` +
        `follow with: ${again} --status; cancel with: ${again} --cancel; once it has ended, the same command resubmits what did not complete\n`,
    );
  } finally {
    sweepLock?.release();
  }
}

function slurmSummaryLine(v: SlurmView): string {
  return v.subs
    .map((x) => {
      const states = new Map<string, number>();
      for (const i of Object.keys(x.tasks)) {
        const st = v.states.get(`${x.array}_${i}`) ?? 'unknown';
        states.set(st, (states.get(st) ?? 0) + 1);
      }
      const tasks = [...states].map(([st, n]) => `${n} ${st}`).join(', ');
      return `job array ${x.array} (${Object.keys(x.tasks).length} task(s): ${tasks})${x.summary ? `, summary job ${x.summary} ${v.states.get(x.summary) ?? 'unknown'}` : ''}`;
    })
    .join('\n');
}

async function showStatus(s: SweepDir): Promise<void> {
  const v = slurmView(s);
  const results = await readResults(s);
  const by = new Map<string, number>();
  for (const r of results) {
    const k = r.status.split(':')[0];
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  process.stdout.write(`sweep ${s.sweep.name}: ${s.sweep.trials.length} trial(s) in ${s.root}/: ${[...by].map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
  if (v.subs.length) process.stdout.write(`${slurmSummaryLine(v)}\n`);
  if (v.problem) process.stderr.write(`grodd: warning: the Slurm states cannot be read: ${v.problem}\n`);
  process.stdout.write(`${resultsTable(s, results, v.subs.length ? v.jobs : undefined)}\n`);
  if (!v.problem && [...v.jobs.values()].some((j) => j.state === 'unknown')) {
    process.stdout.write('unknown: Slurm has no record of the job any more (squeue lists ended jobs for MinJobAge, 300 s by default; sacct needs accounting, slurmdbd); the status column is grodd\'s own\n');
  }
  // Why each job that ended without its trial completing ended, as its log says last.
  const ended = s.sweep.trials.filter((t, i) => {
    const job = v.jobs.get(t.id);
    return job && job.state !== 'unknown' && !isActive(job.state) && results[i].status !== 'completed';
  });
  for (const t of ended) {
    let last = '';
    try {
      last = fs.readFileSync(s.logOf(t), 'utf8').trimEnd().split('\n').pop() ?? '';
    } catch {
      last = '(no log)';
    }
    process.stdout.write(`${t.id}: Slurm job ${v.jobs.get(t.id)!.id} ${v.jobs.get(t.id)!.state}; ${s.logOf(t)} ends: ${last}\n`);
  }
  if (ended.length) process.stdout.write(`resubmit the trial(s) that did not complete with the same command: ${v.subs[v.subs.length - 1].command}\n`);
}

function cancel(s: SweepDir, file: string): void {
  const v = slurmView(s);
  if (v.subs.length === 0) throw new UserError(`sweep ${s.sweep.name} (${file}) has no Slurm jobs: it was never submitted with --executor slurm (a local sweep stops with Ctrl-C)`);
  if (v.problem) throw new UserError(`cannot read the state of the sweep's Slurm jobs: ${v.problem}`, 1);
  const ids = cancelSweep(v);
  if (ids.length === 0) {
    process.stderr.write(`no job of sweep ${s.sweep.name} is queued or running\n`);
    return;
  }
  process.stderr.write(`cancelled Slurm job(s) ${ids.join(' ')} of sweep ${s.sweep.name}; running trials save a checkpoint as they stop. Submitting the sweep again resumes them\n`);
}

async function summaryOnly(s: SweepDir): Promise<void> {
  const results = await readResults(s);
  await writeSummary(s, results);
  printResults(s, results);
}

/** One trial, as the local executor would run it, in this process (a Slurm array task). */
async function runTrial(o: SweepOpts, s: SweepDir, id: string): Promise<void> {
  const t = s.sweep.trials.find((x) => x.id === id);
  if (!t) throw new UserError(`${s.file}: has no trial ${id} (its trials: ${s.sweep.trials.slice(0, 5).map((x) => x.id).join(', ')}${s.sweep.trials.length > 5 ? ', ...' : ''}); was the sweep file changed after it was submitted?`);
  const [p] = planSweep(s, undefined, [t]);
  if (p.action === 'completed') {
    process.stderr.write(`${t.id}: ${s.dirOf(t)} is already complete; nothing to do\n`);
    return;
  }
  if (p.action === 'busy') throw new UserError(`${t.id}: ${s.dirOf(t)} is being trained by ${describeHolder(p.holder!)}; leaving it alone`, 1);
  if (p.action === 'new') await writeTrialConfig(s, t);
  const args = trainArgs(s, p, o.backend);
  process.stdout.write(logHeader(args));
  // `grodd train` itself, with the arguments a local sweep gives its child process.
  const cli = new Command('grodd').exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
  registerTrain(cli);
  await cli.parseAsync(args, { from: 'user' });
}

async function runSweep(o: SweepOpts, overrides: Overrides, cmd: Command): Promise<void> {
  const modes = (['status', 'cancel', 'summary', 'runTrial'] as const).filter((m) => o[m] !== undefined);
  const flag = (m: string): string => `--${m.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (modes.length > 1) throw new UserError(`give one of ${modes.map(flag).join(', ')}`);
  const named = [o.status, o.cancel].find((x): x is string => typeof x === 'string');
  if (named !== undefined && o.config !== undefined && named !== o.config) throw new UserError(`two sweep files: --config ${o.config} and ${named}; give one`);
  const file = o.config ?? named;
  if (file === undefined) throw new UserError('give the sweep file: grodd sweep --config SWEEP.yaml (or grodd sweep --status SWEEP.yaml)');
  const given = (k: string): boolean => cmd.getOptionValueSource(k) === 'cli';
  const slurmFlags = [...SLURM_FLAGS, ['sbatchArg', '--sbatch-arg'] as [keyof SweepOpts, string]].filter(([k]) => (k === 'sbatchArg' ? o.sbatchArg.length > 0 : given(k)));
  if (o.executor !== 'slurm' && slurmFlags.length > 0) throw new UserError(`${slurmFlags.map(([, f]) => f).join(', ')}: Slurm options; add --executor slurm`);
  if (o.executor === 'slurm' && given('jobs')) throw new UserError('--jobs is for the local executor; on Slurm, --array-limit caps how many trials run at once');

  const s = openSweep(file, o.runs, overrides);
  if (o.status !== undefined) return showStatus(s);
  if (o.cancel !== undefined) return cancel(s, file);
  if (o.summary) return summaryOnly(s);
  if (o.runTrial !== undefined) return runTrial(o, s, o.runTrial);
  return o.executor === 'slurm' ? runSlurm(o, s, file) : runLocal(o, s);
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

/** A commander parser that checks a Slurm option's value. */
const slurmValue =
  (key: Parameters<typeof slurmValueProblem>[0]) =>
  (v: string): string => {
    const p = slurmValueProblem(key, v);
    if (p) throw new InvalidArgumentError(p);
    return v;
  };

export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description('train and evaluate every trial of a sweep file (grid x trials x seeds), locally or on Slurm; rerunning resumes it')
    .argument('[overrides...]', "overrides KEY=VALUE of the sweep's base config, e.g. train.epochs=2")
    .option('-c, --config <file>', 'sweep YAML (name, base, grid, trials, seeds, slurm)')
    .option('--runs <dir>', 'root of the sweep directory <runs>/<sweep name>/', 'runs')
    .addOption(new Option('--executor <name>', 'local: child processes of this one; slurm: one sbatch job array and a summary job').choices(['local', 'slurm']).default('local'))
    .option('-j, --jobs <n>', 'local: trials trained at the same time (child processes)', positiveInt, 1)
    .addOption(BACKEND_OPTION)
    .option('--dry-run', 'list the trials and their state (and, with --executor slurm, print the job scripts); run nothing')
    .option('--partition <name>', 'slurm: the partition of the trials\' jobs', slurmValue('partition'))
    .option('--time <limit>', 'slurm: time limit of each trial, e.g. 4:00:00 (a trial killed at it resumes when resubmitted)', slurmValue('time'))
    .option('--cpus-per-task <n>', 'slurm: CPUs per trial (also its wasm threads)', positiveInt)
    .option('--mem <size>', 'slurm: memory per trial, e.g. 32G', slurmValue('mem'))
    .option('--gres <spec>', 'slurm: generic resources per trial, e.g. gpu:1', slurmValue('gres'))
    .option('--array-limit <n>', 'slurm: at most this many trials run at once', positiveInt)
    .option('--sbatch-arg <option>', 'slurm: a further sbatch option for every job, e.g. --sbatch-arg=--account=lab (repeatable)', (v: string, all: string[]) => [...all, slurmValue('sbatch_arg')(v)], [] as string[])
    .option('--status [sweep]', 'the trials\' status, results and Slurm jobs and states; runs nothing')
    .option('--cancel [sweep]', 'cancel the sweep\'s queued and running Slurm jobs (running trials save a checkpoint)')
    .option('--summary', 'only (re)write summary.csv and summary_by_config.csv (what the Slurm summary job runs)')
    .option('--run-trial <id>', 'run one trial as the sweep would: resume it, start it, or nothing when complete (what a Slurm array task runs)')
    .action(action((args: string[], o: SweepOpts, cmd: Command) => runSweep(o, parseOverrideArgs(args), cmd)));
}
