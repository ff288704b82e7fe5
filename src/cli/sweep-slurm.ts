import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatOverride } from '../config/overrides';
import { ensureDir, writeFileAtomic } from '../io/atomic-write';
import { PlannedTrial, SlurmJob } from '../sweep/plan';
import { isActive, latestJobs, parseJobStates, ScriptContext, shellWord, SlurmOptions, Submission, summaryScript, trialsScript } from '../sweep/slurm';
import { UserError } from '../util/errors';
import { GRODD_BIN, SweepDir, writeTrialConfig } from './sweep-dir';

/**
 * The Slurm executor of `grodd sweep` (`--executor slurm`), `--status` and `--cancel`: writes the job
 * scripts into `<sweep dir>/slurm/`, submits them with sbatch, keeps the job ids in
 * `slurm/jobs.json`, and reads the jobs' states back with squeue (every job still queued or running,
 * and those ended within the last minutes) and sacct (every job, where accounting is set up).
 */

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Slurm client command; undefined when it is not installed. */
function run(cmd: string, args: string[]): Output | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw r.error;
  }
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Like `run`, for a command the executor cannot do without. */
function need(cmd: string, args: string[]): Output {
  const r = run(cmd, args);
  if (!r) throw new UserError(`${cmd} not found: --executor slurm needs the Slurm client commands (sbatch, squeue, scancel) on PATH, as on a cluster's login node (Debian: apt-get install slurm-client)`);
  return r;
}

/** Fails, saying what is missing, unless sbatch can be run (before anything is written). */
export function requireSbatch(): void {
  need('sbatch', ['--version']);
}

const firstLine = (o: Output): string => (o.stderr.trim() || o.stdout.trim()).split('\n')[0];

const slurmDir = (s: SweepDir): string => path.join(s.root, 'slurm');
const jobsFile = (s: SweepDir): string => path.join(slurmDir(s), 'jobs.json');

/** The sweep's submissions, oldest first (none for a sweep never submitted). */
export function readSubmissions(s: SweepDir): Submission[] {
  let text: string;
  try {
    text = fs.readFileSync(jobsFile(s), 'utf8');
  } catch {
    return [];
  }
  try {
    const subs = JSON.parse(text) as Submission[];
    if (Array.isArray(subs) && subs.every((x) => typeof x.array === 'string' && typeof x.tasks === 'object')) return subs;
  } catch {
    // reported below
  }
  throw new UserError(`${jobsFile(s)}: not a list of Slurm submissions as grodd writes it; delete it to forget the sweep's jobs (its trials' run directories are kept)`);
}

/** What Slurm says about a sweep's jobs. */
export interface SlurmView {
  subs: Submission[];
  /** Job id (`123`, `123_4`) -> state. */
  states: Map<string, string>;
  /** Trial id -> its latest job and that job's state. */
  jobs: Map<string, SlurmJob>;
  /** Why the states could not be read (squeue missing or failing), when they could not. */
  problem?: string;
}

/** The jobs of every submission of the sweep and their states. */
export function slurmView(s: SweepDir): SlurmView {
  const subs = readSubmissions(s);
  const states = new Map<string, string>();
  let problem: string | undefined;
  const ids = subs.flatMap((x) => [x.array, ...(x.summary ? [x.summary] : [])]);
  if (ids.length > 0) {
    const q = run('squeue', ['-h', '-r', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T']);
    if (!q) problem = 'squeue not found (not on a Slurm cluster?)';
    // squeue fails with "Invalid job id" when it knows none of the jobs any more
    else if (q.code !== 0 && !/invalid job id/i.test(q.stderr)) problem = `squeue: ${firstLine(q)}`;
    else for (const [id, st] of parseJobStates(q.stdout)) states.set(id, st);
    // sacct knows the jobs squeue has forgotten, where accounting is set up (it fails where it is not)
    const a = run('sacct', ['-n', '-P', '-X', '-j', ids.join(','), '-o', 'JobID,State']);
    if (a && a.code === 0) for (const [id, st] of parseJobStates(a.stdout)) if (!states.has(id)) states.set(id, st);
  }
  const jobs = new Map<string, SlurmJob>();
  for (const [trial, id] of latestJobs(subs)) jobs.set(trial, { id, state: states.get(id) ?? 'unknown' });
  return { subs, states, jobs, problem };
}

/** Each job of the sweep that is still queued or running: array ids (with a task still to run) and summary ids. */
export function activeJobs(v: SlurmView): string[] {
  const out: string[] = [];
  for (const x of v.subs) {
    if (Object.keys(x.tasks).some((i) => isActive(v.states.get(`${x.array}_${i}`) ?? 'unknown'))) out.push(x.array);
    if (x.summary && isActive(v.states.get(x.summary) ?? 'unknown')) out.push(x.summary);
  }
  return out;
}

function scriptContext(s: SweepDir, options: SlurmOptions, backend?: string): ScriptContext {
  return {
    sweep: s.sweep.name,
    sweepFile: path.resolve(s.file),
    runs: path.resolve(s.runs),
    overrides: s.overrides.map(formatOverride),
    root: path.resolve(s.root),
    cwd: process.cwd(),
    grodd: [process.execPath, GRODD_BIN],
    backend,
    options,
  };
}

export interface SlurmScripts {
  trials: { file: string; text: string };
  summary: { file: string; text: string };
}

/** The two job scripts for the trials of `todo` (planned `new` or `resume`). */
export function slurmScripts(s: SweepDir, todo: readonly PlannedTrial[], options: SlurmOptions, backend?: string): SlurmScripts {
  const c = scriptContext(s, options, backend);
  const all = s.sweep.trials;
  return {
    trials: { file: path.join(slurmDir(s), 'trials.sbatch'), text: trialsScript(c, all.map((t) => t.id), todo.map((p) => all.indexOf(p.trial))) },
    summary: { file: path.join(slurmDir(s), 'summary.sbatch'), text: summaryScript(c) },
  };
}

/** sbatch --parsable's job id (`123`, or `123;cluster`). */
function sbatch(args: string[]): string {
  const r = need('sbatch', ['--parsable', ...args]);
  const id = r.stdout.trim().split(';')[0];
  if (r.code !== 0 || !/^\d+$/.test(id)) throw new UserError(`sbatch ${args.join(' ')} failed: ${firstLine(r)}`, 1);
  return id;
}

/**
 * Writes the scripts (and the configs of the new trials) and submits the job array of `todo` and the
 * summary job after it. The submission is recorded in jobs.json as soon as the array is queued, so that
 * a failing summary submission never hides the trials' jobs.
 */
export async function submitSweep(s: SweepDir, todo: readonly PlannedTrial[], scripts: SlurmScripts): Promise<Submission> {
  for (const d of [slurmDir(s), path.join(s.root, 'logs'), path.join(s.root, 'trials')]) ensureDir(d);
  for (const p of todo) if (p.action === 'new') await writeTrialConfig(s, p.trial);
  await writeFileAtomic(scripts.trials.file, scripts.trials.text);
  await writeFileAtomic(scripts.summary.file, scripts.summary.text);
  const subs = readSubmissions(s);
  const array = sbatch([scripts.trials.file]);
  const command = ['grodd', ...process.argv.slice(2)].map(shellWord).join(' ');
  const sub: Submission = { submitted: new Date().toISOString(), command, array, tasks: Object.fromEntries(todo.map((p) => [String(s.sweep.trials.indexOf(p.trial)), p.trial.id])) };
  const record = (): Promise<void> => writeFileAtomic(jobsFile(s), `${JSON.stringify([...subs, sub], null, 2)}\n`);
  await record();
  sub.summary = sbatch([`--dependency=afterany:${array}`, scripts.summary.file]);
  await record();
  return sub;
}

/** Cancels every job of the sweep still queued or running; returns their ids. */
export function cancelSweep(v: SlurmView): string[] {
  const ids = activeJobs(v);
  if (ids.length === 0) return [];
  const r = need('scancel', ids);
  if (r.code !== 0) throw new UserError(`scancel ${ids.join(' ')} failed: ${firstLine(r)}`, 1);
  return ids;
}
