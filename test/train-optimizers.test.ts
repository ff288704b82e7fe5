import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, useBackend } from '../src/engine/backend';
import { Adam, Optimizer, Sgd } from '../src/train/optimizers';
import { learningRate } from '../src/train/schedule';
import { randArr, t } from './kernel-check';
import { nativeSkipReason } from './test-backend';

before(async () => {
  await initBackend('cpu');
});

/** cpu (the composite update) and native (its fused update kernels) where the addon loads. */
const BACKENDS = nativeSkipReason() ? (['cpu'] as const) : (['cpu', 'native'] as const);

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} != ${b}`);

for (const backend of BACKENDS) {
  test(`SGD with Nesterov momentum and weight decay follows PyTorch step by step (${backend})`, async () => {
    await useBackend(backend);
    const w = tf.variable(tf.tensor1d([1, -2]));
    const params = new Map([['w', w]]);
    const opt = new Sgd({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 0.1 });
    let ref = [1, -2];
    let buf = [0, 0];
    for (const g of [[0.5, 0.25], [-1, 2], [0.1, 0.1]]) {
      opt.step(params, { w: tf.tensor1d(g) }, 0.01);
      const gd = g.map((gi, i) => gi + 0.1 * ref[i]);
      buf = buf.map((b, i) => 0.9 * b + gd[i]);
      ref = ref.map((r, i) => r - 0.01 * (gd[i] + 0.9 * buf[i]));
      const got = w.dataSync();
      close(got[0], ref[0]);
      close(got[1], ref[1]);
    }
  });

  test(`Adam with bias correction follows the formulas, and its state round-trips (${backend})`, async () => {
    await useBackend(backend);
    const w = tf.variable(tf.tensor1d([0.5]));
    const params = new Map([['w', w]]);
    const opt = new Adam({ name: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 });
    let [m, v, ref] = [0, 0, 0.5];
    const grads = [0.3, -0.7, 0.2];
    grads.forEach((g, t) => {
      opt.step(params, { w: tf.tensor1d([g]) }, 0.1);
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      ref -= (0.1 * (m / (1 - 0.9 ** (t + 1)))) / (Math.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8);
      close(w.dataSync()[0], ref);
    });
    const copy = new Adam({ name: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 });
    copy.loadState(opt.state());
    const w2 = tf.variable(w.clone());
    opt.step(params, { w: tf.tensor1d([0.1]) }, 0.1);
    copy.step(new Map([['w', w2]]), { w: tf.tensor1d([0.1]) }, 0.1);
    close(w2.dataSync()[0], w.dataSync()[0]);
  });
}

test('the native fused updates equal the composite ones on cpu (SGD with and without momentum, Adam with weight decay)', { skip: nativeSkipReason() }, async () => {
  const make: [string, () => Optimizer][] = [
    ['sgd nesterov', () => new Sgd({ name: 'sgd', momentum: 0.9, nesterov: true, weight_decay: 5e-4 })],
    ['sgd momentum', () => new Sgd({ name: 'sgd', momentum: 0.9, nesterov: false, weight_decay: 0 })],
    ['sgd plain', () => new Sgd({ name: 'sgd', momentum: 0, nesterov: false, weight_decay: 1e-4 })],
    ['adam', () => new Adam({ name: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4 })],
  ];
  for (const [what, opt] of make) {
    const runOn = async (backend: 'cpu' | 'native'): Promise<Float32Array> => {
      await useBackend(backend);
      const w = tf.variable(t(randArr([3, 50], 5)));
      const o = opt();
      for (let i = 0; i < 4; i++) o.step(new Map([['w', w]]), { w: t(randArr([3, 50], 10 + i)) }, 0.05);
      return w.dataSync() as Float32Array;
    };
    const a = await runOn('cpu');
    const b = await runOn('native');
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * Math.max(1, Math.abs(a[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
});

test('cosine and multistep schedules', () => {
  close(learningRate(0.1, { name: 'cosine', min_lr: 0 }, 0, 100, 10), 0.1);
  close(learningRate(0.1, { name: 'cosine', min_lr: 0 }, 50, 100, 10), 0.05);
  close(learningRate(0.1, { name: 'cosine', min_lr: 0.01 }, 100, 100, 10), 0.01);
  const ms = { name: 'multistep' as const, milestones: [50], gamma: 0.1 };
  close(learningRate(0.1, ms, 49 * 10 + 9, 600, 10), 0.1);
  close(learningRate(0.1, ms, 50 * 10, 600, 10), 0.01);
  close(learningRate(0.1, { name: 'constant' }, 77, 100, 10), 0.1);
});
