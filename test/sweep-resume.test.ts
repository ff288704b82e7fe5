import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSweep } from '../src/cli/sweep-dir';
import { CHILD_ENV, grodd, repositorySweeps, tempDir, tinyConfig, until } from './cli-helpers';

const tmp = tempDir('sweep-resume');

function start(...args: string[]): { child: ChildProcess; closed: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['bin/grodd.js', ...args], { env: CHILD_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, closed: new Promise((res) => child.on('close', (c) => res(c))), stderr: () => err };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const lockPid = (dir: string): number => JSON.parse(fs.readFileSync(path.join(dir, 'run.lock'), 'utf8')).pid;

for (const file of repositorySweeps()) {
  test(`${file}: interrupted in its first trial, the same command resumes it`, async (t) => {
    if (file.includes('fmnist') && !fs.existsSync('/usr/share/datasets/fashion-mnist')) return t.skip('needs the Debian package dataset-fashion-mnist');
    const sweep = loadSweep(file);
    const runs = path.join(tmp, path.basename(file, '.yaml'));
    const first = path.join(runs, sweep.name, sweep.trials[0].id);
    const s = start('sweep', '--config', file, '--runs', runs);
    await until(`${first} to start`, () => fs.existsSync(path.join(first, 'status')));
    s.child.kill('SIGINT');
    assert.equal(await s.closed, 130, s.stderr());
    const r = grodd('sweep', '--config', file, '--runs', runs, '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${sweep.trials.length} trial\\(s\\) in .* \\(0 completed, 1 to resume, ${sweep.trials.length - 1} new\\)`));
    assert.match(r.stdout, new RegExp(`${sweep.trials[0].id}\\s+failed: interrupted`));
  });
}

test('a sweep killed with SIGKILL takes its training with it; a live trainer is never doubled; the rerun completes the trial', async () => {
  fs.writeFileSync(path.join(tmp, 'long.yaml'), tinyConfig({ name: 'long', epochs: 30, trainLimit: 96 }));
  const file = path.join(tmp, 'killed.yaml');
  fs.writeFileSync(file, 'name: killed\nbase: long.yaml\n');
  const runs = path.join(tmp, 'runs');
  const dir = path.join(runs, 'killed', 'seed-3');

  const s = start('sweep', '--config', file, '--runs', runs);
  await until('the first checkpoint', () => fs.existsSync(path.join(dir, 'checkpoints', 'epoch-0001.json')));
  const trainer = lockPid(dir);
  assert.notEqual(trainer, s.child.pid);
  s.child.kill('SIGKILL');
  await s.closed;
  await until('the trainer to exit after its sweep', () => !alive(trainer), 20_000);
  assert.match(fs.readFileSync(path.join(dir, 'status'), 'utf8'), /^failed: interrupted by the exit of the sweep/);
  assert.equal(fs.existsSync(path.join(dir, 'run.lock')), false, 'the trainer released its lock');
  assert.equal(fs.existsSync(path.join(runs, 'killed', 'sweep.lock')), true, 'SIGKILL left the sweep lock');

  // A trainer of the run that is alive (here a manual resume): neither a sweep nor a second resume touches the run.
  const manual = start('train', '--resume', dir);
  await until('the manual trainer to resume', () => /resuming/.test(manual.stderr()));
  // Paused, it stays alive and holds the lock without finishing the run while the two attempts below start.
  manual.child.kill('SIGSTOP');
  assert.equal(lockPid(dir), manual.child.pid);
  const twice = grodd('train', '--resume', dir);
  assert.equal(twice.code, 2, twice.stderr);
  assert.match(twice.stderr, new RegExp(`run .* is locked by process ${manual.child.pid} on host .*grodd train --resume`));
  const busy = grodd('sweep', '--config', file, '--runs', runs);
  assert.equal(busy.code, 1, busy.stderr);
  assert.match(busy.stderr, /removed a stale lock of process \d+ .*grodd sweep/);
  assert.match(busy.stderr, /\(0 completed, 0 to resume, 0 new, 1 busy\)/);
  assert.match(busy.stderr, new RegExp(`seed-3: skipped: .* is being trained by process ${manual.child.pid} on host`));
  assert.equal(lockPid(dir), manual.child.pid);
  manual.child.kill('SIGTERM');
  manual.child.kill('SIGCONT');
  assert.equal(await manual.closed, 130, manual.stderr());

  const r = grodd('sweep', '--config', file, '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\(0 completed, 1 to resume, 0 new\)/);
  assert.equal(fs.readFileSync(path.join(dir, 'status'), 'utf8').trim(), 'completed');
  const log = fs.readFileSync(path.join(runs, 'killed', 'logs', 'seed-3.log'), 'utf8');
  assert.equal(log.match(/^# .* grodd train/gm)?.length, 2, 'one start, one resume by the sweep');
});
