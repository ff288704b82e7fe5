import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend';
import { crossEntropy } from '../src/train/ce-loss';
import { energy } from '../src/train/energy';
import { energyMarginLoss } from '../src/train/energy-loss';
import { detectionTerm, exactGradPenalty, finiteDifferencePenalty, perSampleNorm, unitDirections } from '../src/train/greg-loss';

before(async () => {
  await initBackend('cpu');
});

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('energy is minus logsumexp of the logits', () => {
  const e = energy(tf.tensor2d([[1, 2, 3], [0, 0, 0]])).arraySync();
  close(e[0], -Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
  close(e[1], -Math.log(3));
});

test('cross-entropy matches the hand formula', () => {
  const ce = crossEntropy(tf.tensor2d([[2, 0], [0, 1]]), tf.tensor1d([0, 0], 'int32')).arraySync();
  close(ce, ((Math.log(Math.exp(2) + 1) - 2) + (Math.log(1 + Math.E) - 0)) / 2);
});

test('energy margin loss penalises ID above m_in and outliers below m_out, squared', () => {
  // ID energies -10 (fine), -4 (1 above m_in = -5); outliers -8 (2 below m_out = -6), -1 (fine).
  const l = energyMarginLoss(tf.tensor1d([-10, -4, -8, -1]), 2, { mIn: -5, mOut: -6 }).arraySync();
  close(l, (0 + 1) / 2 + (4 + 0) / 2);
});

test('detection term counts only correctly detected samples', () => {
  // ID -10 is detected (m_in - E = 5), ID -4 is not; outlier -1 is detected (E - m_out = 5), -8 is not.
  const d = detectionTerm(tf.tensor1d([-10, -4, -8, -1]), 2, { mIn: -5, mOut: -6 }).arraySync();
  close(d, -5 / 2 + 5 / 2);
  close(detectionTerm(tf.tensor1d([-10, -4, -8, -1]), 2, { mIn: -20, mOut: 0 }).arraySync(), 0);
});

test('exact penalty: per-sample input-gradient norms of D, averaged over the batch', () => {
  // f(x) = logits = x·W with one pixel per sample; energies and D are then analytic.
  const w = tf.tensor2d([[1, -1]]);
  const x = tf.tensor4d([0.5, -2, 3], [3, 1, 1, 1]);
  const m = { mIn: 0, mOut: -100 };
  const dOfX = (xx: tf.Tensor4D): tf.Scalar => detectionTerm(energy(tf.matMul(tf.reshape(xx, [3, 1]), w)), 2, m);
  const got = exactGradPenalty(dOfX, x).arraySync();
  // Per sample E = -log(e^x + e^-x); dE/dx = -tanh(x). ID (first 2): D_in = -mean(relu(0 - E)), E < 0 always,
  // so dD/dx_i = -(1/2)·(-dE/dx_i)·(-1)... computed directly: d/dx[-(1/2)·(-E)] = (1/2)·dE/dx = -(1/2)tanh(x).
  // Outlier (1 of them): D_out = relu(E - m_out) = E + 100, dD/dx = dE/dx = -tanh(x).
  const want = (Math.abs(0.5 * Math.tanh(0.5)) + Math.abs(0.5 * Math.tanh(-2)) + Math.abs(Math.tanh(3))) / 3;
  close(got, want, 1e-5);
});

test('per-sample norm and unit directions', () => {
  const g = tf.tensor4d([3, 4, 0, 0], [2, 2, 1, 1]);
  const n = perSampleNorm(g).arraySync();
  close(n[0], 5);
  assert.ok(n[1] < 1e-5);
  assert.deepEqual(Array.from(unitDirections(g).dataSync()).map((v) => +v.toFixed(6)), [0.6, 0.8, 0, 0]);
});

test('the finite-difference penalty approaches the exact one as h shrinks', () => {
  const w = tf.tensor2d([[0.7, -1.3, 0.2], [0.4, 0.9, -0.5]]);
  const x = tf.tensor4d([0.3, -0.8, 1.1, 0.2, -0.4, 0.9, 0.5, 0.5], [4, 2, 1, 1]);
  const m = { mIn: -0.5, mOut: -2 };
  const dOfX = (xx: tf.Tensor4D): tf.Scalar => detectionTerm(energy(tf.matMul(tf.reshape(xx, [4, 2]), w)), 2, m);
  const exact = exactGradPenalty(dOfX, x).arraySync();
  const u = unitDirections(tf.grad((xx) => dOfX(xx as tf.Tensor4D))(x) as tf.Tensor4D);
  const h = 1e-3;
  const fd = finiteDifferencePenalty(dOfX(x), dOfX(tf.add(x, tf.mul(u, h)) as tf.Tensor4D), h, 4).arraySync();
  assert.ok(exact > 0.01);
  close(fd, exact, 2e-2);
});
