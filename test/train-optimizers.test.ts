import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend';
import { Adam, Sgd } from '../src/train/optimizers';
import { learningRate } from '../src/train/schedule';

before(async () => {
  await initBackend('cpu');
});

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} != ${b}`);

test('SGD with Nesterov momentum and weight decay follows PyTorch step by step', () => {
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

test('Adam with bias correction follows the formulas, and its state round-trips', () => {
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

test('cosine and multistep schedules', () => {
  close(learningRate(0.1, { name: 'cosine', min_lr: 0 }, 0, 100, 10), 0.1);
  close(learningRate(0.1, { name: 'cosine', min_lr: 0 }, 50, 100, 10), 0.05);
  close(learningRate(0.1, { name: 'cosine', min_lr: 0.01 }, 100, 100, 10), 0.01);
  const ms = { name: 'multistep' as const, milestones: [50], gamma: 0.1 };
  close(learningRate(0.1, ms, 49 * 10 + 9, 600, 10), 0.1);
  close(learningRate(0.1, ms, 50 * 10, 600, 10), 0.01);
  close(learningRate(0.1, { name: 'constant' }, 77, 100, 10), 0.1);
});
