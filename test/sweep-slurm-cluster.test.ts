/**
 * `grodd sweep --executor slurm` on a real Slurm cluster: munged, slurmctld and slurmd started on
 * 127.0.0.1 by test/slurm/local-cluster.sh for this file, everything under a temporary directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCsv } from '../src/io/csv';
import { CHILD_ENV, Result, tempDir, tinyConfig, until } from './cli-helpers';
import { pixelsNHWC, writeNpy } from './data-writers';

const CLUSTER = 'test/slurm/local-cluster.sh';

/** Why the cluster cannot run here, or undefined when it can. */
function skipReason(): string | undefined {
  const missing = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel'].filter((c) => spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin" command -v ${c}`]).status !== 0);
  if (missing.length) return `needs Slurm and munge (${missing.join(', ')} not found): apt-get install slurmctld slurmd slurm-client munge`;
  if (process.getuid?.() !== 0) return 'needs root: slurmd starts each job as its user';
  return undefined;
}
const skip = skipReason();

const tmp = tempDir('sweep-slurm-cluster');
let env: NodeJS.ProcessEnv = CHILD_ENV;

before(() => {
  if (skip) return;
  const dir = path.join(tmp, 'cluster');
  fs.mkdirSync(dir);
  const r = spawnSync('bash', [CLUSTER, 'up', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${CLUSTER} up failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^export SLURM_CONF=.*slurm\.conf\n$/);
  // One thread for either backend, in the jobs (sbatch passes the environment on) and the local runs alike.
  env = { ...CHILD_ENV, GRODD_THREADS: '1', SLURM_CONF: path.join(dir, 'slurm.conf') };
});

after(() => {
  if (skip) return;
  const r = spawnSync('bash', [CLUSTER, 'down', path.join(tmp, 'cluster')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.existsSync(path.join(tmp, 'cluster')), false);
});

function grodd(...args: string[]): Result {
  const r = spawnSync(process.execPath, ['bin/grodd.js', ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Sends `sig` to `pid` unless that process is gone. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** The state of a job as squeue reports it. */
function jobState(id: string): string {
  return spawnSync('squeue', ['-h', '-t', 'all', '-j', id, '-o', '%T'], { encoding: 'utf8', env }).stdout.trim();
}

/** Waits until the job `id` has ended; returns its final state. */
async function ended(id: string, timeoutMs = 120_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = jobState(id);
    if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(s)) return s;
    if (Date.now() > end) throw new Error(`job ${id} still ${s} after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

interface Submission {
  array: string;
  summary: string;
  tasks: Record<string, string>;
}
const submissions = (root: string): Submission[] => JSON.parse(fs.readFileSync(path.join(root, 'slurm', 'jobs.json'), 'utf8'));

/** Submits the sweep and checks what sbatch got; returns the submission. */
function submit(file: string, runs: string, tasks: string, ...flags: string[]): Submission {
  const r = grodd('sweep', '--config', file, '--runs', runs, '--executor', 'slurm', ...flags);
  assert.equal(r.code, 0, r.stderr);
  const m = /submitted job array (\d+) \((\d+) task\(s\): --array=([\d,-]+)\) and summary job (\d+) \(after the array\)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.equal(m[3], tasks);
  const root = path.join(runs, path.basename(file, '.yaml'));
  const last = submissions(root).at(-1)!;
  assert.deepEqual([last.array, last.summary], [m[1], m[4]]);
  return last;
}

/** summary.csv's rows, with the columns that hold results (from id_accuracy on: every metric). */
async function results(root: string): Promise<Record<string, string>[]> {
  const t = await readCsv(path.join(root, 'summary.csv'));
  const from = t.columns.indexOf('id_accuracy');
  assert.ok(from > 0 && t.columns.length > from + 10, t.columns.join());
  return t.rows.map((r) => Object.fromEntries([['trial', r.trial], ['status', r.status], ...t.columns.slice(from).map((c) => [c, r[c]])]));
}

const starts = (log: string): number => fs.readFileSync(log, 'utf8').match(/^# .* grodd train/gm)?.length ?? 0;

fs.writeFileSync(path.join(tmp, 'tiny.yaml'), tinyConfig({ name: 'tiny' }));

test('a 4-trial sweep on the cluster: one job array and a summary job; the summary equals the same sweep run locally', { skip }, async () => {
  const file = path.join(tmp, 'lam.yaml');
  fs.writeFileSync(file, 'name: lam\nbase: tiny.yaml\ngrid:\n  train.grad_reg.weight: [0, 1]\nseeds: [0, 1]\nslurm:\n  time: "0:10:00"\n');
  const runs = path.join(tmp, 'cluster-runs');
  const root = path.join(runs, 'lam');
  const ids = ['weight-0_seed-0', 'weight-0_seed-1', 'weight-1_seed-0', 'weight-1_seed-1'];

  const sub = submit(file, runs, '0-3', '--cpus-per-task', '1');
  assert.deepEqual(sub.tasks, { 0: ids[0], 1: ids[1], 2: ids[2], 3: ids[3] });
  const script = fs.readFileSync(path.join(root, 'slurm', 'trials.sbatch'), 'utf8');
  assert.match(script, /\n#SBATCH --array=0-3\n#SBATCH --requeue\n#SBATCH --time=0:10:00\n#SBATCH --cpus-per-task=1\n/);
  assert.match(script, new RegExp(`\\ntrials=\\(\\n  ${ids.join('\\n  ')}\\n\\)\\n`));

  // While it runs: every trial has its array task; the summary job waits for the array.
  const during = grodd('sweep', '--status', file, '--runs', runs);
  assert.equal(during.code, 0, during.stderr);
  assert.match(during.stdout, new RegExp(`job array ${sub.array} \\(4 task\\(s\\): .*\\), summary job ${sub.summary} PENDING`));
  ids.forEach((id, i) => assert.match(during.stdout, new RegExp(`\\n${id} +${sub.array}_${i} +(PENDING|RUNNING|COMPLETED) `)));

  assert.equal(await ended(sub.summary), 'COMPLETED');
  const done = grodd('sweep', '--status', file, '--runs', runs);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /: 4 completed\n/);
  ids.forEach((id, i) => assert.match(done.stdout, new RegExp(`\\n${id} +${sub.array}_${i} +COMPLETED +completed +\\d`)));
  // The summary job wrote the summaries; each task's output is in the trial's log.
  assert.match(fs.readFileSync(path.join(root, 'slurm', `summary-${sub.summary}.out`), 'utf8'), /\(4\/4 completed\)/);
  for (const id of ids) assert.equal(starts(path.join(root, 'logs', `${id}.log`)), 1, id);

  // The same sweep, same backend and seeds, with the local executor: identical metrics.
  const local = grodd('sweep', '--config', file, '--runs', path.join(tmp, 'local-runs'), '--jobs', '2');
  assert.equal(local.code, 0, local.stderr);
  const onCluster = await results(root);
  assert.deepEqual(onCluster.map((r) => [r.trial, r.status]), ids.map((id) => [id, 'completed']));
  assert.deepEqual(onCluster, await results(path.join(tmp, 'local-runs', 'lam')));

  // Submitting again: nothing left to do, no job.
  const again = grodd('sweep', '--config', file, '--runs', runs, '--executor', 'slurm');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /\(4 completed, 0 to resume, 0 new\)/);
  assert.match(again.stderr, /nothing to submit: all 4 trial\(s\) are completed/);
  assert.equal(submissions(root).length, 1);
});

test('a trial that fails shows FAILED in --status with its error; the rerun resubmits only it, with the same overrides', { skip }, async () => {
  const good = path.join(tmp, 'good.npy');
  const missing = path.join(tmp, 'missing.npy');
  writeNpy(good, '|u1', [48, 28, 28, 1], Buffer.from(pixelsNHWC(48, 28, 28, 1)));
  fs.writeFileSync(path.join(tmp, 'npy.yaml'), tinyConfig({ name: 'npy' }).replace('{ name: noise, format: synthetic, size: 48 }', `{ name: noise, format: npy, path: ${good} }`));
  const file = path.join(tmp, 'paths.yaml');
  fs.writeFileSync(file, `name: paths\nbase: npy.yaml\ngrid:\n  data.ood.1.path: [${good}, ${missing}]\n`);
  const runs = path.join(tmp, 'cluster-runs');
  const root = path.join(runs, 'paths');

  // A command-line override of the base reaches every task (and the rerun, the same command, repeats it).
  const first = submit(file, runs, '0-1', 'train.epochs=1');
  const [okId, badId] = [first.tasks[0], first.tasks[1]];
  assert.match(badId, /missing\.npy_seed-3$/);
  assert.equal(await ended(first.summary), 'COMPLETED');
  assert.equal(jobState(`${first.array}_1`), 'FAILED');
  const st = grodd('sweep', '--status', file, '--runs', runs);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, new RegExp(`\\n${okId} +${first.array}_0 +COMPLETED +completed `));
  assert.match(st.stdout, new RegExp(`\\n${badId} +${first.array}_1 +FAILED +not started `));
  assert.match(st.stdout, new RegExp(`\\n${badId}: Slurm job ${first.array}_1 FAILED; .*logs/${badId}\\.log ends: grodd: .*missing\\.npy`));
  assert.match(st.stdout, /resubmit the trial\(s\) that did not complete with the same command: grodd sweep --config .*paths\.yaml --runs .* --executor slurm train\.epochs=1\n/);

  // Fixed (the file is there now), the same command resubmits the failed trial alone.
  fs.copyFileSync(good, missing);
  const metricsTime = fs.statSync(path.join(root, okId, 'metrics.csv')).mtimeMs;
  const second = submit(file, runs, '1', 'train.epochs=1');
  assert.deepEqual(second.tasks, { 1: badId });
  assert.equal(await ended(second.summary), 'COMPLETED');
  assert.deepEqual((await results(root)).map((r) => r.status), ['completed', 'completed']);
  assert.deepEqual((await readCsv(path.join(root, 'summary.csv'))).rows.map((r) => r.epochs), ['1', '1']);
  assert.equal(fs.statSync(path.join(root, okId, 'metrics.csv')).mtimeMs, metricsTime, 'the completed trial was not rerun');
  assert.equal(starts(path.join(root, 'logs', `${okId}.log`)), 1);
});

test('a task cancelled mid-training saves a checkpoint; the rerun resumes it and ends where an uninterrupted run ends', { skip }, async () => {
  fs.writeFileSync(path.join(tmp, 'long.yaml'), tinyConfig({ name: 'long', epochs: 6, trainLimit: 384 }));
  const file = path.join(tmp, 'long-sweep.yaml');
  fs.writeFileSync(file, 'name: long-sweep\nbase: long.yaml\n');
  const runs = path.join(tmp, 'cluster-runs');
  const dir = path.join(runs, 'long-sweep', 'seed-3');

  const first = submit(file, runs, '0');
  await until('the first checkpoint', () => fs.existsSync(path.join(dir, 'checkpoints', 'epoch-0001.json')), 120_000, 100);
  // Paused, the trainer cannot finish the run (on native it takes about a second) before the cancel reaches it;
  // Slurm sends SIGCONT with its SIGTERM, and so does the test once the cancel is done.
  // (Twice on wasm the lock's process was gone by then, for a reason not found: then nothing is paused.)
  const trainer = JSON.parse(fs.readFileSync(path.join(dir, 'run.lock'), 'utf8')).pid as number;
  signal(trainer, 'SIGSTOP');
  const c = grodd('sweep', '--cancel', file, '--runs', runs);
  signal(trainer, 'SIGCONT');
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, new RegExp(`cancelled Slurm job\\(s\\) ${first.array} ${first.summary} of sweep long-sweep`));
  assert.equal(await ended(`${first.array}_0`), 'CANCELLED');
  const status = fs.readFileSync(path.join(dir, 'status'), 'utf8');
  assert.match(status, /^failed: interrupted by SIGTERM at epoch [1-6]/);
  const st = grodd('sweep', '--status', file, '--runs', runs);
  assert.match(st.stdout, new RegExp(`\\nseed-3 +${first.array}_0 +CANCELLED +failed: interrupted by SIGTERM`));
  const again = grodd('sweep', '--cancel', file, '--runs', runs);
  assert.match(again.stderr, /no job of sweep long-sweep is queued or running/);

  const second = submit(file, runs, '0');
  assert.equal(await ended(second.summary), 'COMPLETED');
  assert.equal(fs.readFileSync(path.join(dir, 'status'), 'utf8'), 'completed\n');
  const log = fs.readFileSync(path.join(runs, 'long-sweep', 'logs', 'seed-3.log'), 'utf8');
  assert.match(log, /SIGTERM: stopping after the current step to save a checkpoint/);
  assert.match(log, /\n# .* grodd train --resume .*seed-3\n/);
  assert.match(log, /\nresuming .*seed-3 (at|after) epoch [1-6].* \(epoch-000[1-6](-step-\d{4})?\)\n/);
  assert.deepEqual((await readCsv(path.join(dir, 'train_log.csv'))).rows.map((r) => r.epoch), ['1', '2', '3', '4', '5', '6']);

  // Resumed from its checkpoint, the run ends exactly where an uninterrupted one does.
  const plain = spawnSync(process.execPath, ['bin/grodd.js', 'train', '--config', path.join(tmp, 'long.yaml'), '--run-dir', path.join(tmp, 'plain')], { encoding: 'utf8', env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8'), fs.readFileSync(path.join(tmp, 'plain', 'metrics.csv'), 'utf8'));
});
