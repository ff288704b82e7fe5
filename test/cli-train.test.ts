import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCsv } from '../src/io/csv';
import { readSafetensors } from '../src/io/safetensors';
import { CHILD_ENV, grodd, tempDir, tinyConfig, until } from './cli-helpers';
import { parseEventFile } from './tfevents-reader';

const tmp = tempDir('train');
const runs = path.join(tmp, 'runs');

function writeConfig(name: string, train = '', epochs = 2): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, tinyConfig({ name, epochs, train }));
  return file;
}

function runDirs(name: string): string[] {
  return fs.existsSync(runs) ? fs.readdirSync(runs).filter((d) => d.startsWith(`${name}-`)).map((d) => path.join(runs, d)) : [];
}

test('train writes a complete run directory and prints the metrics; eval reproduces them', async () => {
  const r = grodd('train', '--config', writeConfig('tiny'), '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  const [dir] = runDirs('tiny');
  assert.equal(fs.readFileSync(path.join(dir, 'status'), 'utf8').trim(), 'completed');
  assert.match(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8'), /grad_reg:\n\s+weight: 1\n\s+mode: exact/);

  const log = await readCsv(path.join(dir, 'train_log.csv'));
  assert.deepEqual(log.columns, ['epoch', 'loss', 'ce', 'energy', 'oe', 'grad_reg', 'train_acc', 'lr', 'm_in', 'm_out', 'picked_energy', 'pool_energy', 'sampling_share', 'seconds']);
  assert.equal(log.rows[0].m_in, '', 'no margins during warm-up');
  assert.equal(log.rows.length, 2);
  assert.equal(Number(log.rows[0].grad_reg), 0, 'warm-up epoch is plain cross-entropy');
  assert.ok(Number(log.rows[1].grad_reg) > 0, 'the regularizer is active after warm-up');
  assert.ok(Number(log.rows[1].m_in) < Number(log.rows[1].m_out));

  const ckpt = path.join(dir, 'checkpoints', 'epoch-0002');
  const info = JSON.parse(fs.readFileSync(`${ckpt}.json`, 'utf8'));
  assert.equal(info.arch, 'small-cnn');
  assert.equal(info.num_classes, 3);

  const metrics = await readCsv(path.join(dir, 'metrics.csv'));
  assert.equal(metrics.rows.length, 9, '3 scores x (2 OOD sets + average)');
  assert.deepEqual([...new Set(metrics.rows.map((m) => m.ood_set))], ['eights', 'noise', 'average']);
  for (const m of metrics.rows) {
    for (const k of ['fpr95', 'auroc', 'aupr_in', 'aupr_out', 'id_accuracy']) assert.ok(Number(m[k]) >= 0 && Number(m[k]) <= 1 + 1e-9, `${k}=${m[k]}`);
  }
  assert.match(r.stdout, /ID test accuracy: [\d.]+% \(96 samples\)/);
  assert.match(r.stdout, /energy\s+average/);

  // scores.csv joins back to the data: source index, true label and predicted class per sample.
  const scores = await readCsv(path.join(dir, 'scores.csv'));
  assert.deepEqual(scores.columns, ['dataset', 'role', 'index', 'label', 'pred', 'energy', 'msp', 'maxlogit']);
  assert.equal(scores.rows.length, 96 + 64 + 48);
  const idRows = scores.rows.filter((x) => x.role === 'id');
  const acc = idRows.filter((x) => x.label === x.pred).length / idRows.length;
  assert.equal(acc.toFixed(12), Number(metrics.rows[0].id_accuracy).toFixed(12), 'labels and predictions give the reported accuracy');
  assert.ok(idRows.every((x) => ['0', '1', '2'].includes(x.label)));
  assert.ok(scores.rows.filter((x) => x.dataset === 'noise').every((x) => x.label === '' && Number(x.index) < 48));
  assert.equal(new Set(idRows.map((x) => x.index)).size, 96, 'each ID sample has its own source index');

  // grodd metrics recomputes metrics.csv exactly from scores.csv.
  const recomputed = path.join(tmp, 'recomputed.csv');
  const gm = grodd('metrics', '--scores', path.join(dir, 'scores.csv'), '--out', recomputed);
  assert.equal(gm.code, 0, gm.stderr);
  assert.equal(fs.readFileSync(recomputed, 'utf8'), fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8'));
  assert.equal(gm.stdout, r.stdout.slice(r.stdout.indexOf('ID test accuracy')), 'the same table as training printed');

  // eval never overwrites the training-time results unless told to.
  const own = Object.fromEntries(['metrics.csv', 'scores.csv', 'threshold.json'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const named = grodd('eval', '--run', dir, '--name', 'again');
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stderr, /the run's own results are unchanged/);
  const again = path.join(dir, 'evals', 'again');
  for (const f of Object.keys(own)) assert.equal(fs.readFileSync(path.join(again, f), 'utf8'), own[f], `evals/again/${f} reproduces the run's ${f}`);
  assert.match(fs.readFileSync(path.join(again, 'eval.yaml'), 'utf8'), /^# evaluation of .*epoch-0002 \(epoch 2\) of /);
  const twice = grodd('eval', '--run', dir, '--name', 'again');
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /--name: .*again already holds files; choose another --name/);

  // With overrides and no name: a new evals/<checkpoint>-<timestamp>/; the run's files are untouched.
  const auto = grodd('eval', '--run', dir, 'eval.scores=[energy]', 'data.ood[0].limit=32');
  assert.equal(auto.code, 0, auto.stderr);
  const made = fs.readdirSync(path.join(dir, 'evals')).filter((d) => d.startsWith('epoch-0002-'));
  assert.equal(made.length, 1);
  const m2 = await readCsv(path.join(dir, 'evals', made[0], 'metrics.csv'));
  assert.deepEqual(m2.rows.map((x) => `${x.score}/${x.ood_set}/${x.n_ood}`), ['energy/eights/32', 'energy/noise/48', 'energy/average/80']);
  assert.match(fs.readFileSync(path.join(dir, 'evals', made[0], 'eval.yaml'), 'utf8'), /with command-line overrides.*\n#   eval\.scores=\["energy"\]\n#   data\.ood\[0\]\.limit=32\n/);
  for (const f of Object.keys(own)) assert.equal(fs.readFileSync(path.join(dir, f), 'utf8'), own[f], f);

  // --replace rewrites the run's own results (here: one score only, so the change shows).
  assert.equal(grodd('eval', '--run', dir, '--name', 'x', '--replace').code, 2);
  const rep = grodd('eval', '--run', dir, '--replace', 'eval.scores=[msp]');
  assert.equal(rep.code, 0, rep.stderr);
  assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'threshold.json'), 'utf8')).thresholds), ['msp']);
});

test('key=value overrides after the config: applied, recorded in config.yaml, checked like the file', async () => {
  const r = grodd('train', '--config', writeConfig('over'), 'train.epochs=1', 'seed=5', 'data.ood[1].size=20', 'model.channels=[4, 8]', '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  const [dir] = runDirs('over');
  const cfg = fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8');
  assert.match(cfg, /^# resolved config of .*over\.yaml with command-line overrides \(every default filled in\)\n#   train\.epochs=1\n#   seed=5\n#   data\.ood\[1\]\.size=20\n#   model\.channels=\[4,8\]\n/);
  assert.match(cfg, /^seed: 5$/m);
  assert.equal((await readCsv(path.join(dir, 'train_log.csv'))).rows.length, 1);
  const m = await readCsv(path.join(dir, 'metrics.csv'));
  assert.equal(m.rows.find((x) => x.ood_set === 'noise')!.n_ood, '20');

  const bad = grodd('train', '--config', writeConfig('over-bad'), 'train.lrr=0.1', '--runs', runs);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^grodd: .*over-bad\.yaml: override train\.lrr=0\.1: train\.lrr: unknown key \(did you mean "lr"\?\)/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.equal(runDirs('over-bad').length, 0);
  const resume = grodd('train', '--resume', dir, 'train.epochs=3');
  assert.equal(resume.code, 2);
  assert.match(resume.stderr, /overrides apply to a new run \(--config\)/);
});

test('the same seed on the same backend gives the same weights', async () => {
  const cfg = writeConfig('again');
  for (let i = 0; i < 2; i++) assert.equal(grodd('train', '--config', cfg, '--runs', runs).code, 0);
  const [a, b] = runDirs('again');
  const wa = await readSafetensors(path.join(a, 'checkpoints', 'epoch-0002.safetensors'));
  const wb = await readSafetensors(path.join(b, 'checkpoints', 'epoch-0002.safetensors'));
  for (const k of Object.keys(wa.tensors)) assert.deepEqual(wb.tensors[k].data, wa.tensors[k].data, k);
});

test('GReg+ picks outliers by energy: picked candidates are lower-energy (more ID-like) than the pool on average', async () => {
  const r = grodd('train', '--config', writeConfig('plus', '  method: greg+\n  sampling: { clusters: 8, pool_size: 96 }\neval:\n  every_epoch: { limit: 40 }\n'), '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  const [dir] = runDirs('plus');
  const log = await readCsv(path.join(dir, 'train_log.csv'));
  const last = log.rows[1];
  assert.ok(Number(last.sampling_share) > 0 && Number(last.sampling_share) < 1);
  assert.ok(Number.isFinite(Number(last.picked_energy)) && Number.isFinite(Number(last.pool_energy)));
  assert.match(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8'), /sampling:\n\s+method: energy\n\s+clusters: 8/);

  // Per-step log: 6 steps per epoch (192 / 32), the epoch means of train_log.csv are the means of its rows.
  const steps = await readCsv(path.join(dir, 'train_steps.csv'));
  assert.deepEqual(steps.columns, ['epoch', 'step', 'global_step', 'loss', 'ce', 'energy', 'oe', 'grad_reg', 'lr', 'picked_energy', 'pool_energy', 'step_seconds']);
  assert.deepEqual(steps.rows.map((x) => Number(x.global_step)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  for (const e of [1, 2]) {
    const rows = steps.rows.filter((x) => Number(x.epoch) === e);
    for (const k of ['loss', 'grad_reg', 'picked_energy']) {
      const mean = rows.reduce((t, x) => t + Number(x[k]), 0) / rows.length;
      assert.ok(Math.abs(mean - Number(log.rows[e - 1][k])) < 1e-9 * Math.max(1, Math.abs(mean)), `epoch ${e} ${k}`);
    }
  }
  assert.ok(steps.rows.every((x) => Number(x.step_seconds) > 0 && Number(x.lr) > 0));

  // Validation after each epoch, on 40-sample subsets (eights: 40 of 64; noise: 40 of 48).
  for (const row of log.rows) assert.ok(Number(row.val_auroc) >= 0 && Number(row.val_auroc) <= 1 && Number(row.val_fpr95) >= 0, JSON.stringify(row));
  assert.match(r.stderr, /epoch 2\/2 done in .*validation AUROC [\d.]+%/);

  // TensorBoard: the event file holds every step's loss terms and the epoch scalars (read by an independent parser).
  const [file] = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  const events = parseEventFile(path.join(dir, file));
  assert.equal(events[0].fileVersion, 'brain.Event:2');
  const at = (tag: string): [number, number][] => events.filter((e) => e.scalars.has(tag)).map((e) => [e.step!, e.scalars.get(tag)!]);
  assert.deepEqual(at('train/loss'), steps.rows.map((x) => [Number(x.global_step), Math.fround(Number(x.loss))]));
  assert.deepEqual(at('train/L_gradS').map(([st]) => st), [7, 8, 9, 10, 11, 12], 'the regularizer is logged once active (after warm-up)');
  assert.deepEqual(at('sampling/picked_energy').length, 12);
  assert.deepEqual(at('epoch/train_acc').map(([st]) => st), [6, 12]);
  assert.deepEqual(at('val/energy_auroc/average'), log.rows.map((x, i) => [6 * (i + 1), Math.fround(Number(x.val_auroc))]));
  assert.equal(at('val/energy_auroc/eights').length, 2);
});

test('method presets: ce trains without outliers, oe uses the OE loss only', async () => {
  for (const method of ['ce', 'oe']) {
    const r = grodd('train', '--config', writeConfig(method, `  method: ${method}\n`, 1), '--runs', runs);
    assert.equal(r.code, 0, r.stderr);
    const row = (await readCsv(path.join(runDirs(method)[0], 'train_log.csv'))).rows[0];
    assert.equal(Number(row.grad_reg), 0);
    assert.equal(Number(row.energy), 0);
    assert.equal(Number(row.oe) > 0, method === 'oe');
  }
});

test('a run killed with SIGKILL mid-epoch and resumed ends with the same weights as an uninterrupted one', async () => {
  const cfg = writeConfig('resume', '  method: greg+\n  sampling: { clusters: 8, pool_size: 96 }\n', 3);
  const full = path.join(tmp, 'full');
  assert.equal(grodd('train', '--config', cfg, '--run-dir', full).code, 0);
  const cut = path.join(tmp, 'cut');
  const child = spawn(process.execPath, ['bin/grodd.js', 'train', '--config', cfg, '--run-dir', cut], { env: CHILD_ENV, stdio: 'ignore' });
  const exited = new Promise((res) => child.on('exit', res));
  // Killed as soon as the second step of epoch 2 is logged (rows are written as they happen): a fixed delay after the
  // first checkpoint let the native backend finish the whole run first.
  const stepsCsv = path.join(cut, 'train_steps.csv');
  const inEpoch2 = (): boolean => fs.existsSync(stepsCsv) && /^2,2,/m.test(fs.readFileSync(stepsCsv, 'utf8'));
  await until('step 2 of epoch 2 to be logged', inEpoch2, 60_000, 5);
  child.kill('SIGKILL');
  await exited;
  assert.ok(!fs.existsSync(path.join(cut, 'checkpoints', 'epoch-0003.json')), 'killed before the end');
  assert.equal(fs.readFileSync(path.join(cut, 'status'), 'utf8').trim(), 'running');
  const r = grodd('train', '--resume', cut);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming .* after epoch [12]/);
  const a = await readSafetensors(path.join(full, 'checkpoints', 'epoch-0003.safetensors'));
  const b = await readSafetensors(path.join(cut, 'checkpoints', 'epoch-0003.safetensors'));
  for (const k of Object.keys(a.tensors)) assert.deepEqual(b.tensors[k].data, a.tensors[k].data, k);
  assert.equal((await readCsv(path.join(cut, 'train_log.csv'))).rows.length, 3);
  assert.equal(fs.readFileSync(path.join(cut, 'metrics.csv'), 'utf8'), fs.readFileSync(path.join(full, 'metrics.csv'), 'utf8'));
  // The step logs of the resumed run are the uninterrupted run's (but for timings): the retrained steps once.
  const stepsOf = async (d: string) => (await readCsv(path.join(d, 'train_steps.csv'))).rows.map(({ step_seconds, ...rest }) => (assert.ok(Number(step_seconds) > 0), rest));
  assert.deepEqual(await stepsOf(cut), await stepsOf(full));
  const lossEvents = (d: string) => parseEventFile(path.join(d, fs.readdirSync(d).find((f) => f.startsWith('events.out.tfevents.'))!)).filter((e) => e.scalars.has('train/loss')).map((e) => [e.step, e.scalars.get('train/loss')]);
  assert.deepEqual(lossEvents(cut), lossEvents(full));
  const again = grodd('train', '--resume', cut);
  assert.equal(again.code, 0);
  assert.match(again.stderr, /already complete/);
});

test('finite-difference mode trains too', async () => {
  const r = grodd('train', '--config', writeConfig('fd', '  grad_reg: { mode: finite-difference }\n'), '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  const log = await readCsv(path.join(runDirs('fd')[0], 'train_log.csv'));
  assert.ok(Number(log.rows[1].grad_reg) > 0);
});

test('micro-batches train too; an outlier batch they do not divide is refused with both settings named', async () => {
  const r = grodd('train', '--config', writeConfig('micro', '  micro_batches: 4\n'), '--runs', runs);
  assert.equal(r.code, 0, r.stderr);
  const log = await readCsv(path.join(runDirs('micro')[0], 'train_log.csv'));
  assert.ok(Number(log.rows[1].grad_reg) > 0);
  const bad = grodd('train', '--config', writeConfig('microbad', '  micro_batches: 4\n  sampling: { aux_batch_size: 30 }\n'), '--runs', runs);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /train\.micro_batches \(4 on \w+\) must divide the outlier batch size \(30\)/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});

test('a bad config exits 2 with the field path, no stack trace, and no run directory', () => {
  const r = grodd('train', '--config', writeConfig('bad', '  grad_reg: { weight: one }\n'), '--runs', runs);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml: train\.grad_reg\.weight: expected a number >= 0, got "one"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.deepEqual(runDirs('bad'), []);
  const missing = grodd('train', '--config', path.join(tmp, 'nope.yaml'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /config file not found: .*nope\.yaml/);
});

test('a loss that becomes NaN or infinite stops the run with the step, a failed status, and the last good checkpoint kept', () => {
  const cfg = path.join(tmp, 'blowup.yaml');
  // Epoch 1 is well-behaved; epoch 2 (after the warm-up) uses a learning rate that overflows the weights.
  fs.writeFileSync(cfg, tinyConfig({ name: 'blowup', epochs: 2, train: '  lr: 0.1\n  schedule: { name: multistep, milestones: [1], gamma: 1.0e+31 }\n' }));
  const dir = path.join(tmp, 'blowup-run');
  const r = grodd('train', '--config', cfg, '--run-dir', dir);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /loss became (NaN|Infinity|-Infinity) at epoch 2, step \d+ .*\. The run has 1 checkpoint\(s\) on disk, the latest epoch-0001 \(epoch 1\)/);
  assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'epoch-0001.json')), 'the last good checkpoint is kept');
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(fs.readFileSync(path.join(dir, 'status'), 'utf8'), /^failed: loss became/);
  assert.ok(!fs.existsSync(path.join(dir, 'metrics.csv')), 'a failed run is not evaluated');
});

test('eval of a directory that is not a run says so', () => {
  const r = grodd('eval', '--run', tmp);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is not a grodd run directory \(no config\.yaml\)/);
});
