import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCsv } from '../src/io/csv';
import { CHILD_ENV, grodd, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('sweep');
const runs = path.join(tmp, 'runs');
const env = CHILD_ENV;

fs.writeFileSync(path.join(tmp, 'tiny.yaml'), tinyConfig({ name: 'tiny' }));

function writeSweep(name: string, body: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}\nbase: tiny.yaml\n${body}`);
  return file;
}


test('a sweep interrupted after 2 of 4 trials resumes: completed trials are not rerun, the summary has 4 rows', async () => {
  const file = writeSweep('lam', 'grid:\n  train.grad_reg.weight: [0, 1]\nseeds: [0, 1]\n');
  const ids = ['weight-0_seed-0', 'weight-0_seed-1', 'weight-1_seed-0', 'weight-1_seed-1'];
  const root = path.join(runs, 'lam');

  // First run: SIGINT to the sweep process as soon as its 2nd trial has completed.
  const child = spawn(process.execPath, ['bin/grodd.js', 'sweep', '--config', file, '--runs', runs], { env });
  let stderr = '';
  let interrupted = false;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (!interrupted && /\[2\/4\] weight-0_seed-1: completed/.test(stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.ok(interrupted, stderr);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted; resume with the same command: grodd sweep --config .*lam\.yaml --runs /);
  const status = (id: string): string => (fs.existsSync(path.join(root, id, 'status')) ? fs.readFileSync(path.join(root, id, 'status'), 'utf8').trim() : 'none');
  assert.equal(status(ids[0]), 'completed');
  assert.equal(status(ids[1]), 'completed');
  assert.notEqual(status(ids[2]), 'completed');
  assert.equal(fs.existsSync(path.join(root, ids[3])), false, 'the 4th trial never started');
  const partial = await readCsv(path.join(root, 'summary.csv'));
  assert.equal(partial.rows.length, 4, 'the summary lists every trial, done or not');
  assert.deepEqual(partial.rows.map((r) => r.status === 'completed'), [true, true, false, false]);
  assert.equal(fs.existsSync(path.join(root, 'sweep.lock')), false, 'the lock is released');

  const stamp = (id: string): number[] => ['train_log.csv', 'metrics.csv', 'status'].map((f) => fs.statSync(path.join(root, id, f)).mtimeMs);
  const before = [stamp(ids[0]), stamp(ids[1])];

  // Rerun: the same command.
  const r = grodd('sweep', '--config', file, '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /4 trial\(s\) in .* \(2 completed, [01] to resume, [12] new\)/);
  assert.deepEqual([stamp(ids[0]), stamp(ids[1])], before, 'completed trials are not rerun');
  for (const id of ids) assert.equal(status(id), 'completed', id);
  // the completed trials' logs hold a single `grodd train` invocation
  assert.equal(fs.readFileSync(path.join(root, 'logs', `${ids[0]}.log`), 'utf8').match(/^# .* grodd train/gm)?.length, 1);

  const s = await readCsv(path.join(root, 'summary.csv'));
  assert.equal(s.rows.length, 4);
  assert.deepEqual(s.rows.map((x) => x.trial), ids);
  for (const c of ['trial', 'config', 'seed', 'train.grad_reg.weight', 'status', 'run_dir', 'epochs', 'train_seconds', 'id_accuracy', 'energy/average/fpr95', 'energy/eights/auroc', 'msp/noise/aupr_out']) {
    assert.ok(s.columns.includes(c), `summary.csv has ${c}`);
  }
  for (const row of s.rows) {
    assert.equal(row.status, 'completed');
    assert.equal(row.epochs, '2');
    assert.ok(Number(row.train_seconds) > 0);
    const v = Number(row['energy/average/auroc']);
    assert.ok(v >= 0 && v <= 1, row['energy/average/auroc']);
  }
  assert.deepEqual(s.rows.map((x) => x['train.grad_reg.weight']), ['0', '0', '1', '1']);
  const g = await readCsv(path.join(root, 'summary_by_config.csv'));
  assert.deepEqual(g.rows.map((x) => [x.config, x.seeds, x.seed_list]), [['weight-0', '2', '0 1'], ['weight-1', '2', '0 1']]);
  assert.ok(Number(g.rows[0]['energy/average/fpr95/std']) >= 0);
  assert.match(r.stdout, /weight-1_seed-1\s+completed/);

  // A third run has nothing to do.
  const again = grodd('sweep', '--config', file, '--runs', runs);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /\(4 completed, 0 to resume, 0 new\)/);
  assert.deepEqual([stamp(ids[0]), stamp(ids[1])], before);

  // Changing the base under completed trials is refused rather than mixing two configs in one sweep.
  const changed = path.join(tmp, 'lam-changed.yaml');
  fs.writeFileSync(changed, fs.readFileSync(file, 'utf8').replace('base: tiny.yaml', 'base: tiny2.yaml'));
  fs.writeFileSync(path.join(tmp, 'tiny2.yaml'), fs.readFileSync(path.join(tmp, 'tiny.yaml'), 'utf8').replace('epochs: 2', 'epochs: 3'));
  const c = grodd('sweep', '--config', changed, '--runs', runs, '--dry-run');
  assert.equal(c.code, 2);
  assert.match(c.stderr, /trial weight-0_seed-0 already ran in .* with a different config \(train\.epochs differs/);
});

test('a sweep file error names the file and the key, exits 2 and runs nothing', () => {
  const r = grodd('sweep', '--config', writeSweep('bad', 'grid:\n  train.grad_reg.wieght: [0, 1]\n'), '--runs', runs);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml: grid\.train\.grad_reg\.wieght\[0\] = 0: in the config: train\.grad_reg\.wieght: unknown key \(did you mean "weight"\?\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(fs.existsSync(path.join(runs, 'bad')), false);
  const m = grodd('sweep', '--config', path.join(tmp, 'missing.yaml'));
  assert.equal(m.code, 2);
  assert.match(m.stderr, /sweep file not found: .*missing\.yaml/);
  const j = grodd('sweep', '--config', writeSweep('jobs', 'seeds: [0]\n'), '--jobs', '0');
  assert.equal(j.code, 2);
  assert.match(j.stderr, /--jobs.*expected a whole number >= 1/);
});
