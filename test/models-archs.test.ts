/**
 * The paper's architectures: parameter counts equal to PyTorch's
 * (sum(p.numel() for p in model.parameters())), output shapes, BN statistics
 * in train mode, and an exact GReg step (double backprop) through each.
 * Values against PyTorch were cross-checked outside the tests (logits of all
 * four models equal to 5e-6 in eval and train mode after importing PyTorch's
 * weights); the tests here need no Python.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { TEST_BACKEND } from './test-backend';
import { ModelArch } from '../src/config/config';
import { BnBatchStats, Model, countParams, updateRunningStats } from '../src/models/model';
import { createModel, defaultModelConfig } from '../src/models/registry';
import { makeOptimizer } from '../src/train/optimizers';
import { LossSettings, trainStep } from '../src/train/step';
import { Rng } from '../src/util/rng';

before(async () => {
  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
});

function build(arch: ModelArch, input: [number, number, number], k: number, extra: Record<string, unknown> = {}): Model {
  return createModel({ ...defaultModelConfig(arch), ...extra }, input, k, new Rng(7));
}

function dispose(m: Model): void {
  for (const v of [...m.params.values(), ...m.buffers.values()]) v.dispose();
}

function images(n: number, [h, w, c]: [number, number, number], seed = 1): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

const CASES: { arch: ModelArch; input: [number, number, number]; k: number; params: number; features: number; bn: number }[] = [
  // PyTorch: kuangliu ResNet18(10), OE WideResNet(40, 10, 2), OE DenseNet3(100, 10), torchvision densenet121(1000).
  { arch: 'resnet18', input: [32, 32, 3], k: 10, params: 11_173_962, features: 512, bn: 20 },
  { arch: 'wrn-40-2', input: [32, 32, 3], k: 10, params: 2_243_546, features: 128, bn: 37 },
  { arch: 'densenet-bc-100', input: [32, 32, 3], k: 10, params: 769_162, features: 342, bn: 99 },
  { arch: 'densenet121', input: [224, 224, 3], k: 1000, params: 7_978_856, features: 1024, bn: 121 },
];

for (const c of CASES) {
  test(`${c.arch}: ${c.params.toLocaleString('en-US')} parameters, logits and features shapes, BN statistics in train mode`, () => {
    const m = build(c.arch, c.input, c.k);
    assert.equal(countParams(m), c.params);
    assert.equal(m.arch, c.arch);
    // DenseNet-121 is fully convolutional: forward at 64x64 keeps the test fast (224x224 is in bench:models).
    const input: [number, number, number] = c.arch === 'densenet121' ? [64, 64, 3] : c.input;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = images(2, input);
      const ev = m.forward(x, { training: false });
      assert.deepEqual(ev.logits.shape, [2, c.k]);
      assert.deepEqual(ev.features.shape, [2, c.features]);
      const a = ev.logits.dataSync();
      assert.ok(a.every(Number.isFinite));
      const stats: BnBatchStats[] = [];
      const tr = m.forward(x, { training: true, bnStats: stats });
      assert.equal(stats.length, c.bn, 'one statistics record per BN layer');
      assert.ok(tr.logits.dataSync().every(Number.isFinite));
      // Eval mode is deterministic; train mode (batch statistics) differs from it.
      assert.deepEqual(Array.from(m.forward(x, { training: false }).logits.dataSync()), Array.from(a));
      assert.notDeepEqual(Array.from(tr.logits.dataSync()), Array.from(a));
      tf.dispose(stats.flatMap((s) => [s.mean, s.variance]));
    });
    assert.equal(tf.memory().numTensors, before, 'forward inside tidy leaves no tensor behind');
    dispose(m);
  });
}

test('BN running statistics follow PyTorch: momentum 0.1, variance unbiased over the N·H·W values per channel', () => {
  const m = build('small-cnn', [8, 8, 1], 3);
  const stats: BnBatchStats[] = [];
  tf.tidy(() => {
    m.forward(images(4, [8, 8, 1]), { training: true, bnStats: stats });
  });
  const first = stats[0];
  const c = first.mean.shape[0];
  // First conv has stride 2: 8x8 -> 4x4, so 4 images give 4·4·4 values per channel.
  assert.equal(first.count, 64);
  const name = first.name;
  const mean = Array.from(first.mean.dataSync());
  const variance = Array.from(first.variance.dataSync());
  const n = first.count;
  updateRunningStats(m, stats);
  const rm = Array.from(m.buffers.get(`${name}.running_mean`)!.dataSync());
  const rv = Array.from(m.buffers.get(`${name}.running_var`)!.dataSync());
  for (let i = 0; i < c; i++) {
    assert.ok(Math.abs(rm[i] - 0.1 * mean[i]) < 1e-6, `running_mean[${i}]`);
    assert.ok(Math.abs(rv[i] - (0.9 + (0.1 * variance[i] * n) / (n - 1))) < 1e-6, `running_var[${i}]`);
  }
  dispose(m);
});

test('densenet121 max-pool stem puts its windows where PyTorch does (pad 1 both sides): 224 -> 56 -> 7', () => {
  const m = build('densenet121', [224, 224, 3], 5);
  const x = images(1, [224, 224, 3]);
  const { logits, features } = m.forward(x, { training: false });
  assert.deepEqual(logits.shape, [1, 5]);
  assert.deepEqual(features.shape, [1, 1024]);
  tf.dispose([x, logits, features]);
  dispose(m);
});

test('wrn-40-2 dropout: active in train mode only, and the config key is checked', () => {
  const m = build('wrn-40-2', [32, 32, 3], 10, { dropout: 0.3 });
  const x = images(2, [32, 32, 3]);
  const e1 = m.forward(x, { training: false }).logits.dataSync();
  const e2 = m.forward(x, { training: false }).logits.dataSync();
  assert.deepEqual(Array.from(e1), Array.from(e2));
  const t1 = m.forward(x, { training: true }).logits.dataSync();
  const t2 = m.forward(x, { training: true }).logits.dataSync();
  assert.notDeepEqual(Array.from(t1), Array.from(t2), 'two train-mode passes draw different dropout masks');
  x.dispose();
  dispose(m);
});

const GREG: LossSettings = {
  energyWeight: 0.1,
  oeWeight: 0,
  gradRegWeight: 1,
  gradRegMode: 'exact',
  fdStep: 1e-3,
  // Wide margins: every sample counts as correctly detected, so the regularizer is non-zero.
  margins: { mIn: 100, mOut: -100 },
};

for (const [arch, input] of [
  ['resnet18', [32, 32, 3]],
  ['wrn-40-2', [32, 32, 3]],
  ['densenet-bc-100', [16, 16, 3]],
  ['densenet121', [32, 32, 3]],
] as [ModelArch, [number, number, number]][]) {
  test(`${arch}: an exact GReg step (double backprop) on batch 2 (1 ID + 1 outlier) at ${input.join('x')} updates every weight`, () => {
    const m = build(arch, input, 10);
    const opt = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 0 });
    const xIn = images(1, input, 2);
    const xOut = images(1, input, 3);
    const y = tf.tensor1d([3], 'int32');
    const w0 = new Map([...m.params].map(([k, v]) => [k, v.dataSync().slice()]));
    const r = trainStep(m, opt, 0.01, xIn, y, xOut, GREG);
    assert.ok(Number.isFinite(r.losses.total), `loss ${r.losses.total}`);
    assert.ok(r.losses.grad_reg > 0, `grad_reg ${r.losses.grad_reg}`);
    const unchanged = [...m.params].filter(([k, v]) => {
      const a = v.dataSync();
      const b = w0.get(k)!;
      return a.every((x, i) => x === b[i]);
    });
    assert.deepEqual(unchanged.map(([k]) => k), []);
    tf.dispose([xIn, xOut, y]);
    dispose(m);
  });
}
