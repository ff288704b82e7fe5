/**
 * trainStep with micro-batches: on a model without batch norm the summed,
 * reweighted slice gradients must give the same update and the same reported
 * losses as one pass over the whole batch; with batch norm, the running
 * statistics come from the merged moments of the whole batch.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { TEST_BACKEND } from './test-backend';
import { ForwardOptions, Model } from '../src/models/model';
import { conv2d, globalAvgPool, linear } from '../src/models/layers';
import { SmallCnn } from '../src/models/small-cnn';
import { makeOptimizer } from '../src/train/optimizers';
import { LossSettings, StepResult, trainStep } from '../src/train/step';
import { Rng } from '../src/util/rng';

before(async () => {
  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
});

/** conv3x3 (stride 2) - ReLU - global average pool - linear: no BN, so samples do not interact. */
function bnFreeNet(seed: number): Model {
  const rng = new Rng(seed);
  const init = (shape: number[], scale: number) => tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => (rng.next() - 0.5) * scale), shape));
  const params = new Map<string, tf.Variable>([
    ['conv.weight', init([3, 3, 1, 6], 1)],
    ['fc.weight', init([6, 3], 2)],
    ['fc.bias', init([3], 0.2)],
  ]);
  const w = { params, buffers: new Map<string, tf.Variable>() };
  return {
    arch: 'test-net',
    head: 'fc',
    numClasses: 3,
    inputShape: [8, 8, 1],
    params,
    buffers: w.buffers,
    forward(x: tf.Tensor4D, _opts: ForwardOptions) {
      const features = globalAvgPool(tf.relu(conv2d(w, 'conv', x, 2, 1)) as tf.Tensor4D);
      return { logits: linear(w, 'fc', features), features };
    },
  };
}

function batch(n: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * 64 }, () => rng.next()), [n, 8, 8, 1]);
}

const settings = (mode: LossSettings['gradRegMode']): LossSettings => ({
  energyWeight: 0.5, oeWeight: 0.3, gradRegWeight: 2, gradRegMode: mode, fdStep: 1e-3,
  // Margins around the untrained net's energies, so that every term is active.
  margins: { mIn: -1.2, mOut: -1.0 },
});

/** `shifted`: the second half of each batch is brighter, so that slices have different moments. */
function stepWith(model: Model, c: number, s: LossSettings, shifted = false): StepResult {
  const shift = (x: tf.Tensor4D) => {
    if (!shifted) return x;
    const n = x.shape[0] / 2;
    const y = tf.concat([tf.slice(x, 0, n), tf.add(tf.mul(tf.slice(x, n), 3), 1)]) as tf.Tensor4D;
    x.dispose();
    return y;
  };
  const xIn = shift(batch(8, 1));
  const xOut = shift(batch(16, 2));
  const yIn = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  const r = trainStep(model, makeOptimizer({ name: 'sgd', momentum: 0, nesterov: false, weight_decay: 0 }), 0.5, xIn, yIn, xOut, s, c);
  tf.dispose([xIn, xOut, yIn]);
  return r;
}

for (const mode of ['exact', 'finite-difference'] as const) {
  test(`${mode} GReg step in 4 micro-batches equals one full-batch step on a BN-free net`, () => {
    const full = bnFreeNet(3);
    const micro = bnFreeNet(3);
    const a = stepWith(full, 1, settings(mode));
    const b = stepWith(micro, 4, settings(mode));
    for (const k of ['ce', 'energy', 'oe', 'grad_reg', 'total'] as const) {
      assert.ok(a.losses[k] > 0, `${k} is active`);
      assert.ok(Math.abs(a.losses[k] - b.losses[k]) <= 1e-4 * Math.abs(a.losses[k]), `${k}: full ${a.losses[k]} vs micro ${b.losses[k]}`);
    }
    assert.equal(a.correct, b.correct);
    const init = bnFreeNet(3);
    for (const [name, v] of full.params) {
      const x = v.dataSync();
      const y = micro.params.get(name)!.dataSync();
      const x0 = init.params.get(name)!.dataSync();
      assert.ok(x.some((xi, i) => Math.abs(xi - x0[i]) > 1e-4), `${name} moved`);
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-5 + 1e-4 * Math.abs(x[i]), `${name}[${i}]: ${x[i]} vs ${y[i]}`);
    }
    tf.dispose([...full.params.values(), ...micro.params.values(), ...init.params.values()]);
  });
}

test('micro-batches update the BN running statistics from the moments of the whole batch', () => {
  const make = () => new SmallCnn([8, 8, 1], 3, { channels: [4, 6], strides: [2, 2] }, new Rng(5));
  const full = make();
  const micro = make();
  stepWith(full, 1, settings('exact'), true);
  stepWith(micro, 2, settings('exact'), true);
  // The first BN layer sees the same conv outputs either way (the weights move only after the step).
  const first = [...full.buffers.keys()].find((k) => k.endsWith('running_var'))!.replace(/running_var$/, '');
  for (const key of ['running_mean', 'running_var']) {
    const x = full.buffers.get(first + key)!.dataSync();
    const y = micro.buffers.get(first + key)!.dataSync();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-5, `${first}${key}[${i}]: ${x[i]} vs ${y[i]}`);
  }
  tf.dispose([...full.params.values(), ...full.buffers.values(), ...micro.params.values(), ...micro.buffers.values()]);
});

test('micro-batches that do not divide both batches are refused', () => {
  const m = bnFreeNet(1);
  assert.throws(() => stepWith(m, 3, settings('exact')), /micro-batches: 3 must be a positive integer dividing both the ID batch \(8\) and the outlier batch \(16\)/);
  tf.dispose([...m.params.values()]);
});
