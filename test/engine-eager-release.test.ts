/**
 * Eager release of tape buffers in the outermost backward pass: gradients
 * (first and second order) are unchanged, no tensor leaks, and the peak
 * memory of a double-backprop step is lower than tfjs-core's keep-all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { TEST_BACKEND } from './test-backend';
import { disableEagerRelease, enableEagerRelease } from '../src/engine/eager-release';
import { SmallCnn } from '../src/models/small-cnn';
import { detectionTerm, exactGradPenalty } from '../src/train/greg-loss';
import { energy } from '../src/train/energy';
import { Rng } from '../src/util/rng';

before(async () => {
  await useBackend(TEST_BACKEND, { wasmThreads: 1 });
});

after(() => enableEagerRelease());

/** Weight gradients of L_gradS (double backprop through a conv-BN-ReLU net), with the peak tensor bytes of the computation. */
async function gregGradients(): Promise<{ grads: Map<string, Float32Array>; peak: number; leaked: number }> {
  const model = new SmallCnn([12, 12, 1], 3, { channels: [6, 8], strides: [1, 2] }, new Rng(4));
  const rng = new Rng(9);
  const x = tf.tensor4d(Float32Array.from({ length: 8 * 144 }, () => rng.next()), [8, 12, 12, 1]);
  const before = tf.memory().numTensors;
  let grads = new Map<string, Float32Array>();
  const profile = await tf.profile(() => {
    const r = tf.variableGrads(() => exactGradPenalty((xx) => detectionTerm(energy(model.forward(xx, { training: true }).logits), 4, { mIn: 0, mOut: -5 }), x), [...model.params.values()]);
    grads = new Map([...model.params].map(([name, v]) => [name, r.grads[v.name].dataSync() as Float32Array]));
    tf.dispose([r.value, ...Object.values(r.grads)]);
  });
  const leaked = tf.memory().numTensors - before;
  tf.dispose([x, ...model.params.values(), ...model.buffers.values()]);
  return { grads, peak: profile.peakBytes, leaked };
}

test('gradients are bit-identical with and without eager release; the peak memory is lower with it; nothing leaks', async () => {
  disableEagerRelease();
  const keepAll = await gregGradients();
  enableEagerRelease();
  const eager = await gregGradients();
  assert.equal(eager.leaked, 0);
  assert.equal(keepAll.leaked, 0);
  for (const [name, g] of keepAll.grads) {
    assert.ok(g.some((v) => v !== 0), `${name} has a gradient`);
    assert.deepEqual(eager.grads.get(name), g, name);
  }
  assert.ok(eager.peak < 0.8 * keepAll.peak, `peak ${eager.peak} vs ${keepAll.peak} bytes`);
});

test('a tensor passed through as its own input gradient survives the release', () => {
  enableEagerRelease();
  const x = tf.tensor1d([1, 2, 3]);
  // identity-like chain: y = x * 1 + x; dy/dx = 2 everywhere, through an Identity whose gradient passes dy on.
  const g = tf.grad((a) => tf.sum(tf.add(tf.mul(tf.clone(a), 1), a)))(x);
  assert.deepEqual(Array.from(g.dataSync()), [2, 2, 2]);
  tf.dispose([x, g]);
});
