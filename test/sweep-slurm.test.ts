import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSweep, Trial } from '../src/sweep/grid';
import { planTrials, TrialObservation } from '../src/sweep/plan';
import { arraySpec, isActive, latestJobs, parseJobStates, ScriptContext, summaryScript, trialsScript } from '../src/sweep/slurm';
import { CHILD_ENV, grodd, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('sweep-slurm');

const BASE = {
  name: 'base',
  data: { id: { train: { format: 'synthetic', size: 64, classes: [0, 1] }, test: { format: 'synthetic', size: 32, classes: [0, 1] } } },
  model: { channels: [4] },
};
const slurmOf = (slurm: unknown) => parseSweep({ name: 'sw', base: BASE, slurm }, 'sw.yaml').slurm;

test('job array specs: ranges of consecutive trials, the running limit after %', () => {
  assert.equal(arraySpec([0, 1, 2, 5]), '0-2,5');
  assert.equal(arraySpec([5, 0, 2, 1, 2], 4), '0-2,5%4');
  assert.equal(arraySpec([3]), '3');
  assert.equal(arraySpec([1, 3, 5, 6]), '1,3,5-6');
});

test('job states from squeue and sacct: array tasks, a pending range, "CANCELLED by uid"', () => {
  const s = parseJobStates('12_0|COMPLETED\n12_1|RUNNING\n12_[2-4%2]|PENDING\n13|PENDING\n14_0|CANCELLED by 0\n\n');
  assert.deepEqual([...s], [['12_0', 'COMPLETED'], ['12_1', 'RUNNING'], ['12_2', 'PENDING'], ['12_3', 'PENDING'], ['12_4', 'PENDING'], ['13', 'PENDING'], ['14_0', 'CANCELLED']]);
  assert.deepEqual([...parseJobStates('20_[1,3]|PENDING')], [['20_1', 'PENDING'], ['20_3', 'PENDING']]);
  for (const st of ['PENDING', 'RUNNING', 'REQUEUED', 'SUSPENDED', 'COMPLETING']) assert.equal(isActive(st), true, st);
  for (const st of ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'PREEMPTED', 'unknown']) assert.equal(isActive(st), false, st);
  // A trial's job is that of its latest submission.
  const jobs = latestJobs([
    { submitted: '', command: '', array: '12', tasks: { 0: 'a', 1: 'b' } },
    { submitted: '', command: '', array: '15', tasks: { 1: 'b' } },
  ]);
  assert.deepEqual([...jobs], [['a', '12_0'], ['b', '15_1']]);
});

test('the sweep file\'s slurm section: every option checked, with the key at fault', () => {
  assert.deepEqual(slurmOf(undefined), { partition: undefined, time: undefined, cpusPerTask: undefined, mem: undefined, gres: undefined, arrayLimit: undefined, sbatchArgs: [] });
  assert.deepEqual(slurmOf({ partition: 'gpu', time: '1-00:00:00', cpus_per_task: 8, mem: '32G', gres: 'gpu:1', array_limit: 16, sbatch_args: ['--account=lab', '--qos=long'] }), {
    partition: 'gpu',
    time: '1-00:00:00',
    cpusPerTask: 8,
    mem: '32G',
    gres: 'gpu:1',
    arrayLimit: 16,
    sbatchArgs: ['--account=lab', '--qos=long'],
  });
  assert.equal(slurmOf({ time: 90 }).time, '90', 'a bare number is minutes');
  const bad: [unknown, RegExp][] = [
    [{ time: '4h' }, /sw\.yaml: slurm\.time: expected a Slurm time limit such as 4:00:00/],
    [{ time: 1.5 }, /sw\.yaml: slurm\.time: expected a Slurm time limit/],
    [{ mem: '32 GB' }, /sw\.yaml: slurm\.mem: expected a memory size such as 32G/],
    [{ cpus_per_task: 0 }, /sw\.yaml: slurm\.cpus_per_task: expected an integer >= 1, got 0/],
    [{ partition: 'a b' }, /sw\.yaml: slurm\.partition: expected a partition name without spaces/],
    [{ sbatch_args: '--account=lab' }, /sw\.yaml: slurm\.sbatch_args: expected a list of sbatch options/],
    [{ sbatch_args: ['--array=0-3'] }, /sw\.yaml: slurm\.sbatch_args: item 0: --array is set by grodd for every job of the sweep/],
    [{ sbatch_args: ['account=lab'] }, /sw\.yaml: slurm\.sbatch_args: item 0: expected an sbatch option such as --account=lab/],
    [{ gpus: 1 }, /sw\.yaml: slurm\.gpus: unknown key/],
    ['gpu', /sw\.yaml: slurm: expected a mapping/],
  ];
  for (const [v, re] of bad) assert.throws(() => slurmOf(v), re, JSON.stringify(v));
});

const ctx: ScriptContext = {
  sweep: 'lam',
  sweepFile: '/home/u/sweeps/lam.yaml',
  runs: '/home/u/my runs',
  overrides: ['train.epochs=2', 'model.channels=[8,16]'],
  root: '/home/u/my runs/lam',
  cwd: '/home/u',
  grodd: ['/usr/bin/node', '/opt/grodd/bin/grodd.js'],
  backend: 'wasm',
  options: { partition: 'gpu', time: '4:00:00', cpusPerTask: 8, mem: '32G', gres: 'gpu:1', arrayLimit: 2, sbatchArgs: ['--account=lab'] },
};

test('the job array script: every option as an #SBATCH line, task N runs trial N with the sweep\'s overrides, paths with spaces quoted', () => {
  const s = trialsScript(ctx, ['w-0_seed-0', 'w-0_seed-1', 'w-1_seed-0'], [0, 2]);
  const sbatch = s.split('\n').filter((l) => l.startsWith('#SBATCH'));
  assert.deepEqual(sbatch, [
    '#SBATCH --job-name=grodd-lam',
    '#SBATCH --chdir=/home/u',
    '#SBATCH --output="/home/u/my runs/lam/slurm/%A_%a.out"',
    '#SBATCH --partition=gpu',
    '#SBATCH --array=0,2%2',
    '#SBATCH --requeue',
    '#SBATCH --time=4:00:00',
    '#SBATCH --cpus-per-task=8',
    '#SBATCH --mem=32G',
    '#SBATCH --gres=gpu:1',
    '#SBATCH --account=lab',
  ]);
  assert.match(s, /^#!\/bin\/bash\n/);
  assert.match(s, /\ntrials=\(\n {2}w-0_seed-0\n {2}w-0_seed-1\n {2}w-1_seed-0\n\)\ntrial=\$\{trials\[\$SLURM_ARRAY_TASK_ID\]\}\n/);
  assert.match(s, /\nexec >>'\/home\/u\/my runs\/lam\/logs\/'"\$trial\.log" 2>&1\n/);
  assert.match(s, /\nexec \/usr\/bin\/node \/opt\/grodd\/bin\/grodd\.js sweep --config \/home\/u\/sweeps\/lam\.yaml --runs '\/home\/u\/my runs' train\.epochs=2 'model\.channels=\[8,16\]' --backend wasm --run-trial "\$trial"\n$/);
  // The script runs under bash as written: it passes `bash -n`.
  const file = path.join(tmp, 'trials.sbatch');
  fs.writeFileSync(file, s);
  assert.equal(spawnSync('bash', ['-n', file]).status, 0);

  const sum = summaryScript(ctx);
  assert.deepEqual(sum.split('\n').filter((l) => l.startsWith('#SBATCH')), [
    '#SBATCH --job-name=grodd-lam-summary',
    '#SBATCH --chdir=/home/u',
    '#SBATCH --output="/home/u/my runs/lam/slurm/summary-%j.out"',
    '#SBATCH --partition=gpu',
    '#SBATCH --cpus-per-task=1',
    '#SBATCH --account=lab',
  ]);
  assert.match(sum, /\nexec \/usr\/bin\/node \/opt\/grodd\/bin\/grodd\.js sweep --config \/home\/u\/sweeps\/lam\.yaml --runs '\/home\/u\/my runs' train\.epochs=2 'model\.channels=\[8,16\]' --summary\n$/);
});

test('the plan: a trial whose Slurm job is pending or running is queued, never submitted twice', () => {
  const trial = { id: 'seed-0', configId: '', seed: 0, overrides: [], config: undefined } as unknown as Trial;
  const free: TrialObservation = { status: 'unknown', lock: { state: 'free' } };
  const action = (job?: { id: string; state: string }): string => planTrials([trial], [{ ...free, job }])[0].action;
  assert.equal(action(), 'new');
  assert.equal(action({ id: '12_0', state: 'PENDING' }), 'queued');
  assert.equal(action({ id: '12_0', state: 'RUNNING' }), 'queued');
  assert.equal(action({ id: '12_0', state: 'FAILED' }), 'new');
  assert.equal(action({ id: '12_0', state: 'unknown' }), 'new', 'a job Slurm no longer knows has ended');
});

test('grodd sweep: Slurm options need --executor slurm; without sbatch on PATH the message says what is missing', () => {
  fs.writeFileSync(path.join(tmp, 'tiny.yaml'), tinyConfig({ name: 'tiny' }));
  const file = path.join(tmp, 'one.yaml');
  fs.writeFileSync(file, 'name: one\nbase: tiny.yaml\n');
  const runs = path.join(tmp, 'runs');
  const a = grodd('sweep', '--config', file, '--runs', runs, '--time', '1:00:00', '--sbatch-arg=--account=lab');
  assert.equal(a.code, 2);
  assert.match(a.stderr, /^grodd: --time, --sbatch-arg: Slurm options; add --executor slurm\n$/);
  const j = grodd('sweep', '--config', file, '--runs', runs, '--executor', 'slurm', '--jobs', '2');
  assert.equal(j.code, 2);
  assert.match(j.stderr, /--jobs is for the local executor; on Slurm, --array-limit caps/);
  const t = grodd('sweep', '--config', file, '--runs', runs, '--executor', 'slurm', '--time', '4 hours');
  assert.equal(t.code, 2);
  assert.match(t.stderr, /--time.*expected a Slurm time limit such as 4:00:00/);
  const e = grodd('sweep', '--config', file, '--runs', runs, '--executor', 'pbs');
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--executor.*Allowed choices are local, slurm/);

  const r = spawnSync(process.execPath, ['bin/grodd.js', 'sweep', '--config', file, '--runs', runs, '--executor', 'slurm'], { encoding: 'utf8', env: { ...CHILD_ENV, PATH: '/nonexistent' } });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /grodd: sbatch not found: --executor slurm needs the Slurm client commands \(sbatch, squeue, scancel\) on PATH/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(fs.existsSync(path.join(runs, 'one')), false, 'nothing is written');

  // --dry-run prints the scripts it would submit and writes nothing.
  const d = grodd('sweep', '--config', file, '--runs', path.join(tmp, 'dry'), '--executor', 'slurm', '--dry-run', '--gres', 'gpu:1');
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /seed-3 +new/);
  assert.match(d.stdout, /# .*dry\/one\/slurm\/trials\.sbatch\n#!\/bin\/bash\n/);
  assert.match(d.stdout, /#SBATCH --array=0\n/);
  assert.match(d.stdout, /#SBATCH --gres=gpu:1\n/);
  assert.match(d.stdout, /--summary\n$/);
  assert.equal(fs.existsSync(path.join(tmp, 'dry')), false);
});
