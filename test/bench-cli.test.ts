import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCsv } from '../src/io/csv';
import { grodd, tempDir, tinyConfig } from './cli-helpers';
import { TEST_BACKEND } from './test-backend';

const tmp = tempDir('bench');
const config = path.join(tmp, 'bench.yaml');
fs.writeFileSync(config, tinyConfig({ name: 'bench-tiny', seed: 1, trainLimit: 160 }));
const baseline = path.join(tmp, 'baseline.json');
const out = path.join(tmp, 'out');

test('bench: writes a baseline, passes against it, fails (exit 1) against a stricter one; report of the bench run', async () => {
  const missing = grodd('bench', '--config', config, '--baseline', baseline, '--out', out);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /baseline not found: .*baseline\.json; create it with --update-baseline/);

  const w = grodd('bench', '--config', config, '--baseline', baseline, '--out', out, '--update-baseline');
  assert.equal(w.code, 0, w.stderr);
  const b = JSON.parse(fs.readFileSync(baseline, 'utf8'));
  assert.equal(b.schema, 1);
  assert.equal(b.environment.backend, TEST_BACKEND);
  assert.deepEqual(b.metrics['energy/average/fpr95'].better, 'lower');
  assert.deepEqual(b.metrics['energy/average/auroc'].better, 'higher');
  assert.ok(b.metrics.wall_seconds.value > 0 && b.metrics.wall_seconds.rel_tol > 0);
  const result = JSON.parse(fs.readFileSync(path.join(out, 'bench-result.json'), 'utf8'));
  assert.equal(result.environment.backend, TEST_BACKEND);
  assert.equal(result.environment.wasm_threads, 1);
  assert.match(result.environment.node, /^v\d+/);
  assert.deepEqual(Object.keys(result.metrics).sort(), Object.keys(b.metrics).sort());
  const csv = await readCsv(path.join(out, 'bench-result.csv'));
  assert.equal(csv.rows.length, 1);
  for (const c of ['backend', 'node', 'tfjs_core', 'wall_seconds', 'id_accuracy', 'energy/eights/auroc']) assert.ok(csv.columns.includes(c), c);

  // The same benchmark again passes (training is deterministic; time gets a wide margin here, the test machine may be busy).
  b.metrics.wall_seconds.rel_tol = 20;
  fs.writeFileSync(baseline, JSON.stringify(b));
  // (With an override that leaves the results as they are: it reaches the training and is recorded.)
  const p = grodd('bench', '--config', config, '--baseline', baseline, '--out', out, 'train.checkpoint_every=2');
  assert.equal(p.code, 0, p.stderr + p.stdout);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'bench-result.json'), 'utf8')).overrides, ['train.checkpoint_every=2']);
  assert.match(fs.readFileSync(path.join(out, 'run', 'config.yaml'), 'utf8'), /^  checkpoint_every: 2$/m);
  assert.match(p.stdout, /energy\/average\/auroc\s+higher\s+[\d.]+\s+[\d.]+\s+\+0\.0000 .* pass/);
  assert.match(p.stderr, /\d+ passed, 0 failed/);

  // A baseline stricter than reality: AUROC expected far higher, FPR95 far lower.
  b.metrics['energy/average/auroc'].value = Math.min(1, b.metrics['energy/average/auroc'].value + 0.2);
  b.metrics['energy/eights/fpr95'].value = Math.max(0, b.metrics['energy/eights/fpr95'].value - 0.2);
  fs.writeFileSync(baseline, JSON.stringify(b));
  const f = grodd('bench', '--config', config, '--baseline', baseline, '--out', out);
  assert.equal(f.code, 1, f.stderr);
  assert.match(f.stdout, /energy\/average\/auroc .*FAIL \(regression\)/);
  assert.match(f.stdout, /energy\/eights\/fpr95 .*FAIL \(regression\)/);
  assert.match(f.stderr, /2 failed/);
  assert.match(f.stderr, /REGRESSION/);

  // The bench run is a normal run directory: `grodd report` draws it.
  const html = path.join(tmp, 'bench-report.html');
  const r = grodd('report', path.join(out, 'run'), '--out', html);
  assert.equal(r.code, 0, r.stderr);
  const meta = await sharp(path.join(out, 'run', 'figures', 'roc-energy.png')).metadata();
  assert.equal(meta.format, 'png');
  assert.match(fs.readFileSync(html, 'utf8'), /<img alt="ROC curves/);
});
