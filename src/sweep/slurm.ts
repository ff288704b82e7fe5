import { ConfigReader, describe } from '../config/reader';

/**
 * A sweep on Slurm (pure: text in, text out; src/cli/sweep-slurm.ts runs sbatch, squeue and scancel).
 *
 * A submission is one job array, task N running trial N of the sweep (`grodd sweep --run-trial ID`,
 * which plans that one trial as the local executor does: nothing when complete, `train --resume`
 * when started, `train` when new), and one job that depends on the array (`afterany`) and writes the
 * summaries. Both scripts are files in `<sweep dir>/slurm/`, complete with their #SBATCH lines, so
 * that a user can read them or resubmit them with plain `sbatch`. The job ids of every submission are
 * kept in `<sweep dir>/slurm/jobs.json`, which `--status` and `--cancel` read.
 */

/** Resources and scheduling of the trials' jobs (the sweep file's `slurm:` section, or flags). */
export interface SlurmOptions {
  partition?: string;
  /** Time limit, in a form sbatch takes: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. */
  time?: string;
  cpusPerTask?: number;
  /** Memory per node: a number with an optional K/M/G/T suffix. */
  mem?: string;
  /** Generic resources, e.g. `gpu:1`. */
  gres?: string;
  /** At most this many of the array's tasks run at once (`--array=...%N`). */
  arrayLimit?: number;
  /** Further sbatch options for every job of the sweep, e.g. `--account=lab`. */
  sbatchArgs: string[];
}

const TIME = /^(\d+-\d+(:\d+(:\d+)?)?|\d+(:\d+(:\d+)?)?)$/;
const MEM = /^\d+[KMGT]?$/i;
const WORD = /^[^\s"'\\]+$/;

/** Why `v` is not a valid value of the option `key` (e.g. `time`), or undefined when it is. */
export function slurmValueProblem(key: 'partition' | 'time' | 'mem' | 'gres' | 'sbatch_arg', v: string): string | undefined {
  switch (key) {
    case 'time':
      return TIME.test(v) ? undefined : `expected a Slurm time limit such as 4:00:00, 90 (minutes) or 1-12:00:00, got ${JSON.stringify(v)}`;
    case 'mem':
      return MEM.test(v) ? undefined : `expected a memory size such as 32G or 8000M, got ${JSON.stringify(v)}`;
    case 'sbatch_arg':
      if (!v.startsWith('-')) return `expected an sbatch option such as --account=lab, got ${JSON.stringify(v)}`;
      if (/^--?(array|a|dependency|d|output|o|error|e|chdir|D|job-name|J)(=|$)/.test(v)) return `${v.split('=')[0]} is set by grodd for every job of the sweep; leave it out`;
      return WORD.test(v) ? undefined : `expected one sbatch option without spaces or quotes, got ${JSON.stringify(v)}`;
    default:
      return WORD.test(v) && v !== '' ? undefined : `expected a ${key} name without spaces or quotes, got ${JSON.stringify(v)}`;
  }
}

/** Reads a sweep file's `slurm:` mapping (absent: no options). */
export function readSlurmSection(r: ConfigReader): SlurmOptions {
  const s = r.object('slurm');
  const str = (key: 'partition' | 'mem' | 'gres'): string | undefined => {
    const v = s.optionalString(key);
    const p = v === undefined ? undefined : slurmValueProblem(key, v);
    return p ? s.fail(key, p) : v;
  };
  let time: string | undefined;
  const rawTime = s.value('time');
  if (rawTime !== undefined && rawTime !== null) {
    // `time: 90` is read by YAML as a number: Slurm's minutes.
    time = typeof rawTime === 'number' && Number.isInteger(rawTime) && rawTime > 0 ? String(rawTime) : typeof rawTime === 'string' ? rawTime : s.fail('time', `expected a Slurm time limit such as "4:00:00", got ${describe(rawTime)}`);
    const p = slurmValueProblem('time', time);
    if (p) s.fail('time', p);
  }
  const opts: SlurmOptions = {
    partition: str('partition'),
    time,
    cpusPerTask: s.optionalNumber('cpus_per_task', { integer: true, min: 1 }),
    mem: str('mem'),
    gres: str('gres'),
    arrayLimit: s.optionalNumber('array_limit', { integer: true, min: 1 }),
    sbatchArgs: [],
  };
  const v = s.value('sbatch_args');
  if (v !== undefined && v !== null) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) s.fail('sbatch_args', `expected a list of sbatch options such as [--account=lab], got ${describe(v)}`);
    (v as string[]).forEach((a, i) => {
      const p = slurmValueProblem('sbatch_arg', a);
      if (p) s.fail('sbatch_args', `item ${i}: ${p}`);
    });
    opts.sbatchArgs = v as string[];
  }
  s.done();
  return opts;
}

/** Trial indices as a job array spec: [0, 1, 2, 5] with limit 4 -> `0-2,5%4`. */
export function arraySpec(indices: readonly number[], limit?: number): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') + (limit ? `%${limit}` : '');
}

/** A word for a shell command line: as is when it is plain, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** An `#SBATCH` line; sbatch reads a double-quoted value as one (paths with spaces). */
function sbatchLine(option: string, value?: string): string {
  if (value === undefined) return `#SBATCH ${option}`;
  return `#SBATCH ${option}=${/^[^\s"]+$/.test(value) ? value : `"${value}"`}`;
}

/** What both scripts of a submission need to know. */
export interface ScriptContext {
  /** The sweep's name (job names `grodd-<name>`, `grodd-<name>-summary`). */
  sweep: string;
  /** The sweep file, absolute, as given to `grodd sweep --config`. */
  sweepFile: string;
  /** `--runs`, absolute. */
  runs: string;
  /** The command-line overrides of the sweep's base (`train.epochs=2`), which every job passes on. */
  overrides: string[];
  /** The sweep directory, absolute (`<runs>/<name>`). */
  root: string;
  /** The working directory of the jobs (relative paths of the configs are relative to it). */
  cwd: string;
  /** The command that runs grodd: node and bin/grodd.js, absolute. */
  grodd: string[];
  /** `--backend`, passed on to each trial. */
  backend?: string;
  options: SlurmOptions;
}

const grodd = (c: ScriptContext, ...args: string[]): string =>
  [...c.grodd, 'sweep', '--config', c.sweepFile, '--runs', c.runs, ...c.overrides, ...(c.backend ? ['--backend', c.backend] : []), ...args].map(shellWord).join(' ');

/** Lines every job of the sweep shares. */
function commonLines(c: ScriptContext, name: string, output: string): string[] {
  return [
    sbatchLine('--job-name', name),
    sbatchLine('--chdir', c.cwd),
    sbatchLine('--output', output),
    ...(c.options.partition ? [sbatchLine('--partition', c.options.partition)] : []),
  ];
}

/**
 * The job array script: task N runs trial N of `trials` (every trial of the sweep, in order, so that
 * any subset can be (re)submitted with `--array`); `indices` are those this submission runs.
 */
export function trialsScript(c: ScriptContext, trials: readonly string[], indices: readonly number[]): string {
  const o = c.options;
  const array = arraySpec(indices, o.arrayLimit);
  return [
    '#!/bin/bash',
    `# grodd sweep ${c.sweep}: one Slurm array task per trial; task N runs trial N of the list below.`,
    `# Written by grodd sweep --config ${shellWord(c.sweepFile)} --executor slurm, which submits it with a summary job`,
    `# after it. A task resumes its trial when it was started before (a requeue, a resubmission) and does nothing`,
    `# when it is complete; resubmit some tasks by hand with e.g. sbatch --array=0,2 ${shellWord(`${c.root}/slurm/trials.sbatch`)}`,
    ...commonLines(c, `grodd-${c.sweep}`, `${c.root}/slurm/%A_%a.out`),
    sbatchLine('--array', array),
    sbatchLine('--requeue'),
    ...(o.time ? [sbatchLine('--time', o.time)] : []),
    ...(o.cpusPerTask ? [sbatchLine('--cpus-per-task', String(o.cpusPerTask))] : []),
    ...(o.mem ? [sbatchLine('--mem', o.mem)] : []),
    ...(o.gres ? [sbatchLine('--gres', o.gres)] : []),
    ...o.sbatchArgs.map((a) => `#SBATCH ${a}`),
    'set -euo pipefail',
    'trials=(',
    ...trials.map((t) => `  ${t}`),
    ')',
    'trial=${trials[$SLURM_ARRAY_TASK_ID]}',
    '# One thread per CPU of the allocation (wasm backend; native backend), not one per core of the node.',
    'export GRODD_WASM_THREADS=${GRODD_WASM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}',
    'export GRODD_THREADS=${GRODD_THREADS:-${SLURM_CPUS_PER_TASK:-1}}',
    '# The trial\'s output goes to the same log as with the local executor (appended on a rerun).',
    `exec >>${shellWord(`${c.root}/logs/`)}"$trial.log" 2>&1`,
    `exec ${grodd(c, '--run-trial')} "$trial"`,
    '',
  ].join('\n');
}

/** The summary job's script (submitted with `--dependency=afterany:<array job>`). */
export function summaryScript(c: ScriptContext): string {
  return [
    '#!/bin/bash',
    `# grodd sweep ${c.sweep}: writes summary.csv and summary_by_config.csv once the trials' job array has ended.`,
    ...commonLines(c, `grodd-${c.sweep}-summary`, `${c.root}/slurm/summary-%j.out`),
    sbatchLine('--cpus-per-task', '1'),
    ...c.options.sbatchArgs.map((a) => `#SBATCH ${a}`),
    `exec ${grodd({ ...c, backend: undefined }, '--summary')}`,
    '',
  ].join('\n');
}

/** One submission of a sweep, as kept in `slurm/jobs.json`. */
export interface Submission {
  /** ISO time of the submission. */
  submitted: string;
  /** The grodd command line that submitted it (the command that resubmits what did not complete). */
  command: string;
  /** The job array's id. */
  array: string;
  /** The summary job's id (absent when its submission failed). */
  summary?: string;
  /** Array task index -> trial id, for the tasks of this submission. */
  tasks: Record<string, string>;
}

/** The Slurm job of each trial: that of its latest submission (`<array>_<index>`). */
export function latestJobs(subs: readonly Submission[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of subs) for (const [i, t] of Object.entries(s.tasks)) out.set(t, `${s.array}_${i}`);
  return out;
}

/** Job states after which Slurm runs nothing more of a job (anything else: queued or running). */
const ENDED = new Set(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'REVOKED']);

/**
 * Whether a job in `state` may still run (pending, running, requeued, suspended, ...). A job that
 * neither squeue nor sacct knows (`unknown`) has ended: squeue lists every job that has not.
 */
export function isActive(state: string): boolean {
  return state !== 'unknown' && !ENDED.has(state);
}

/**
 * Job states from `squeue -h -r -t all -o '%i|%T'` or `sacct -n -P -X -o JobID,State` output: job id
 * (`123` or `123_4`) -> state (`CANCELLED by 0` -> `CANCELLED`). A pending array's unsplit range
 * (`123_[4-7%2]`) gives each of its tasks.
 */
export function parseJobStates(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [id, state] = line.trim().split('|');
    if (!id || !state) continue;
    const s = state.split(' ')[0];
    const range = /^(\d+)_\[([\d,-]+)(%\d+)?\]$/.exec(id);
    if (!range) {
      out.set(id, s);
      continue;
    }
    for (const part of range[2].split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let i = a; i <= (b ?? a); i++) out.set(`${range[1]}_${i}`, s);
    }
  }
  return out;
}
