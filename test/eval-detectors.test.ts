/**
 * Every detector against an independent computation on fixed features and logits: plain loops in
 * float64 here (the numpy / scikit-learn side-by-side is bench/detectors.ts --reference).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { FITTED_SCORES, SCORE_NAMES, ScoreName, canAttack, createDetector, headOf, isScoreName } from '../src/eval/detectors';
import { Detector, FitInput, Outputs } from '../src/eval/detectors/detector';
import { DetectorParams, parseDetectorParams } from '../src/eval/detectors/params';
import { ConfigReader } from '../src/config/reader';
import { linear } from '../src/models/layers';
import { Model } from '../src/models/model';
import { UserError } from '../src/util/errors';
import { Rng } from '../src/util/rng';

before(async () => {
  await useBackend('wasm', { wasmThreads: 1 });
});

const D = 6;
const K = 3;
const params = (over: Partial<DetectorParams> = {}): DetectorParams => ({ ...parseDetectorParams(ConfigReader.root({}, 'test')), ...over });

/**
 * A linear classifier on flattened 1x3x2 images: features z = x (d = 6), logits = z·W + b. Its
 * gradients are known in closed form, which the ODIN reference below uses.
 */
function linearModel(seed: number): Model {
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>([
    ['fc.weight', tf.variable(tf.tensor2d(Float32Array.from({ length: D * K }, () => rng.normal()), [D, K]))],
    ['fc.bias', tf.variable(tf.tensor1d(Float32Array.from({ length: K }, () => rng.normal())))],
  ]);
  const w = { params, buffers: new Map<string, tf.Variable>() };
  return {
    arch: 'linear',
    head: 'fc',
    numClasses: K,
    inputShape: [1, 3, 2],
    params,
    buffers: w.buffers,
    forward(x: tf.Tensor4D) {
      const features = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
      return { logits: linear(w, 'fc', features), features };
    },
  };
}

/** Outputs of the linear model for features drawn around per-class centres. */
function outputsOf(model: Model, n: number, seed: number, labelled = true): FitInput {
  const rng = new Rng(seed);
  const centres = Array.from({ length: K }, () => Array.from({ length: D }, () => 2 * rng.normal()));
  const labels = Int32Array.from({ length: n }, (_, i) => i % K);
  const features = new Float32Array(n * D);
  for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) features[i * D + j] = (labelled ? centres[labels[i]][j] : 0) + rng.normal();
  return { n, k: K, d: D, features, logits: logitsOf(model, features, n), labels };
}

function logitsOf(model: Model, features: Float32Array, n: number): Float32Array {
  const h = headOf(model);
  const out = new Float32Array(n * K);
  for (let i = 0; i < n; i++) for (let c = 0; c < K; c++) {
    let s = h.bias[c];
    for (let j = 0; j < D; j++) s += features[i * D + j] * h.weight[j * K + c];
    out[i * K + c] = s;
  }
  return out;
}

const row = (a: ArrayLike<number>, i: number, w: number): number[] => Array.from({ length: w }, (_, j) => a[i * w + j]);
const lse = (f: number[]): number => {
  const m = Math.max(...f);
  return m + Math.log(f.reduce((s, v) => s + Math.exp(v - m), 0));
};
const softmax = (f: number[]): number[] => f.map((v) => Math.exp(v - lse(f)));

/** Gauss-Jordan inverse of a small n x n matrix (no pivoting needed for the SPD matrices used here). */
function inverse(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let i = 0; i < n; i++) {
    const p = m[i][i];
    for (let j = 0; j < 2 * n; j++) m[i][j] /= p;
    for (let r = 0; r < n; r++) if (r !== i) {
      const f = m[r][i];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[i][j];
    }
  }
  return m.map((r) => r.slice(n));
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    assert.ok(err <= tol, `${what} [${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

function fitted(name: ScoreName, model: Model, train: FitInput, p = params()): Detector {
  const det = createDetector(name, { model, head: headOf(model) }, p);
  det.fit?.(train);
  return det;
}

test('registry: nine detectors, the fitted ones and the ones that can be attacked', () => {
  assert.deepEqual([...SCORE_NAMES], ['energy', 'msp', 'maxlogit', 'odin', 'mahalanobis', 'knn', 'vim', 'react', 'gradnorm']);
  assert.ok(isScoreName('vim') && !isScoreName('toString') && !isScoreName('mds'));
  const model = linearModel(1);
  const dets = SCORE_NAMES.map((n) => createDetector(n, { model, head: headOf(model) }, params()));
  assert.deepEqual(dets.filter((d) => d.fit).map((d) => d.name), [...FITTED_SCORES]);
  assert.deepEqual(dets.filter((d) => !canAttack(d)).map((d) => d.name), ['gradnorm']);
});

test('energy, msp, maxlogit: hand-computed, and large logits neither overflow nor underflow', () => {
  const model = linearModel(1);
  const score = (name: ScoreName, logits: number[], k: number): Float64Array =>
    createDetector(name, { model, head: headOf(model) }, params()).scoreOutputs!({ n: logits.length / k, k, d: 0, logits: Float32Array.from(logits), features: new Float32Array(0) });
  close(score('energy', [0, 0, 0, 1, 2, 3], 3), [Math.log(3), Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3))], 1e-12, 'energy');
  close(score('msp', [0, 0, 0, 1, 2, 3], 3), [1 / 3, Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))], 1e-12, 'msp');
  assert.deepEqual(Array.from(score('maxlogit', [0, 0, 0, 1, 2, 3], 3)), [0, 3]);
  close(score('energy', [1000, 1000, -1000, -1000], 2), [1000 + Math.log(2), -1000 + Math.log(2)], 1e-12, 'large energy');
  const sure = score('msp', [30, 0], 2)[0];
  assert.ok(sure < 1 && sure > 1 - 1e-12, 'a near-certain row stays below 1 in float64');
  assert.throws(() => score('energy', [0, NaN], 2), (e: unknown) => e instanceof UserError && /logit \[0, 1\] is NaN/.test(e.message));
});

test('mahalanobis: class means, shared covariance, inverse, max over classes (full-rank case)', () => {
  const model = linearModel(2);
  const train = outputsOf(model, 90, 3);
  const test = outputsOf(model, 20, 4, false);
  const mu = Array.from({ length: K }, (_, c) => {
    const rows = Array.from({ length: train.n }, (_, i) => i).filter((i) => train.labels[i] === c);
    return Array.from({ length: D }, (_, j) => rows.reduce((s, i) => s + train.features[i * D + j], 0) / rows.length);
  });
  const cov = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  for (let i = 0; i < train.n; i++) {
    const r = row(train.features, i, D).map((v, j) => v - mu[train.labels[i]][j]);
    for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) cov[a][b] += (r[a] * r[b]) / train.n;
  }
  const p = inverse(cov);
  const expected = Array.from({ length: test.n }, (_, i) => {
    const z = row(test.features, i, D);
    return Math.max(...mu.map((m) => {
      const r = z.map((v, j) => v - m[j]);
      let q = 0;
      for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) q += r[a] * p[a][b] * r[b];
      return -q;
    }));
  });
  close(fitted('mahalanobis', model, train).scoreOutputs!(test), expected, 1e-9, 'mahalanobis');
});

test('mahalanobis: a class without training samples is a clear error', () => {
  const model = linearModel(2);
  const train = outputsOf(model, 30, 3);
  train.labels.fill(0);
  assert.throws(() => fitted('mahalanobis', model, train), (e: unknown) => e instanceof UserError && /class 1 has no ID training sample/.test(e.message));
});

test('knn: minus the distance to the k-th nearest normalised training feature, by brute force', () => {
  const model = linearModel(3);
  const train = outputsOf(model, 70, 5);
  const test = outputsOf(model, 15, 6, false);
  const unit = (v: number[]): number[] => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) + 1e-10;
    return v.map((x) => x / n);
  };
  const bank = Array.from({ length: train.n }, (_, i) => unit(row(train.features, i, D)));
  for (const k of [1, 7, 70]) {
    const expected = Array.from({ length: test.n }, (_, i) => {
      const q = unit(row(test.features, i, D));
      const dist = bank.map((b) => Math.sqrt(b.reduce((s, x, j) => s + (x - q[j]) ** 2, 0))).sort((a, b) => a - b);
      return -dist[k - 1];
    });
    close(fitted('knn', model, train, params({ knn: { k } })).scoreOutputs!(test), expected, 1e-6, `knn k=${k}`);
  }
  assert.throws(() => fitted('knn', model, train, params({ knn: { k: 71 } })), (e: unknown) => e instanceof UserError && /knn\.k is 71, more than the 70/.test(e.message));
});

test('vim: u = −pinv(W)b, the complement of the top-D eigenvectors, α, on a second moment built with a known eigenbasis', () => {
  const model = linearModel(4);
  const h = headOf(model);
  const rng = new Rng(11);
  // u = −Wpt⁺ b with Wpt = Wᵀ [K, d] of full row rank: Wpt⁺ = Wptᵀ (Wpt Wptᵀ)⁻¹.
  const wpt = Array.from({ length: K }, (_, c) => Array.from({ length: D }, (_, j) => h.weight[j * K + c]));
  const g = inverse(wpt.map((a) => wpt.map((b) => a.reduce((s, x, j) => s + x * b[j], 0))));
  const gb = g.map((r) => r.reduce((s, x, c) => s + x * h.bias[c], 0));
  const u = Array.from({ length: D }, (_, j) => -wpt.reduce((s, r, c) => s + r[j] * gb[c], 0));
  // An orthonormal basis q_1..q_d (Gram-Schmidt) and training features u ± a_j q_j, so that the
  // second moment is exactly Σ_j λ_j q_j q_jᵀ with λ_j = 2a_j²/N.
  const q: number[][] = [];
  while (q.length < D) {
    let v = Array.from({ length: D }, () => rng.normal());
    for (const b of q) {
      const dot = v.reduce((s, x, j) => s + x * b[j], 0);
      v = v.map((x, j) => x - dot * b[j]);
    }
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    q.push(v.map((x) => x / n));
  }
  const lambda = [9, 5, 3, 1, 0.5, 0.2];
  const n = 2 * D;
  const features = new Float32Array(n * D);
  q.forEach((b, j) => {
    const a = Math.sqrt((lambda[j] * n) / 2);
    for (let t = 0; t < D; t++) {
      features[2 * j * D + t] = u[t] + a * b[t];
      features[(2 * j + 1) * D + t] = u[t] - a * b[t];
    }
  });
  const train: FitInput = { n, k: K, d: D, features, logits: logitsOf(model, features, n), labels: new Int32Array(n) };
  const test = outputsOf(model, 20, 12, false);
  const v = (z: number[]): number => Math.sqrt(q.slice(3).reduce((s, b) => s + b.reduce((t, x, j) => t + x * (z[j] - u[j]), 0) ** 2, 0));
  const vTrain = Array.from({ length: n }, (_, i) => v(row(features, i, D)));
  const maxLogit = Array.from({ length: n }, (_, i) => Math.max(...row(train.logits, i, K)));
  const alpha = maxLogit.reduce((s, x) => s + x, 0) / n / (vTrain.reduce((s, x) => s + x, 0) / n);
  const expected = Array.from({ length: test.n }, (_, i) => lse(row(test.logits, i, K)) - alpha * v(row(test.features, i, D)));
  for (const dim of ['auto', 3] as const) {
    const det = fitted('vim', model, train, params({ vim: { dim } }));
    assert.ok(Math.abs(det.stats!().values.alpha - alpha) < 1e-6 * alpha, 'α');
    close(det.scoreOutputs!(test), expected, 1e-5, `vim dim=${dim}`);
  }
  assert.throws(() => fitted('vim', model, train, params({ vim: { dim: 6 } })), (e: unknown) => e instanceof UserError && /needs 1 <= dim < 6/.test(e.message));
});

test('react: clip at the p-th percentile of all ID-train activations, then the energy', () => {
  const model = linearModel(5);
  const h = headOf(model);
  const train = outputsOf(model, 41, 7);
  const test = outputsOf(model, 15, 8);
  for (const p of [90, 50, 100]) {
    const sorted = Array.from(train.features).sort((a, b) => a - b);
    const pos = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(pos);
    const c = sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
    const expected = Array.from({ length: test.n }, (_, i) => {
      const z = row(test.features, i, D).map((x) => Math.min(x, c));
      return lse(Array.from({ length: K }, (_, k) => h.bias[k] + z.reduce((s, x, j) => s + x * h.weight[j * K + k], 0)));
    });
    const det = fitted('react', model, train, params({ react: { percentile: p } }));
    assert.equal(det.stats!().values.clip, c);
    close(det.scoreOutputs!(test), expected, 1e-9, `react p=${p}`);
  }
});

test('gradnorm: ‖z‖₁·Σ|p_j − 1/K| equals the L1 norm of the autodiff gradient of KL(uniform ‖ p) with respect to W', () => {
  const model = linearModel(6);
  const h = headOf(model);
  const test = outputsOf(model, 12, 9);
  const scores = fitted('gradnorm', model, test).scoreOutputs!(test);
  for (let i = 0; i < test.n; i++) {
    const z = tf.tensor2d(row(test.features, i, D), [1, D]);
    const gw = tf.grad((w: tf.Tensor) => {
      const logp = tf.logSoftmax(tf.add(tf.matMul(z, w as tf.Tensor2D), h.tf.bias));
      // KL(u ‖ p) = Σ_j (1/K) (log(1/K) − log p_j)
      return tf.sum(tf.mul(1 / K, tf.sub(Math.log(1 / K), logp)));
    })(h.tf.weight);
    const l1 = tf.sum(tf.abs(gw)).dataSync()[0];
    tf.dispose([z, gw]);
    assert.ok(Math.abs(l1 - scores[i]) <= 1e-5 * Math.max(1, scores[i]), `sample ${i}: autodiff ${l1}, identity ${scores[i]}`);
  }
});

test('odin: the perturbation in pixel units (ε/σ per channel) and the tempered softmax, against the closed-form gradient', async () => {
  const model = linearModel(7);
  const h = headOf(model);
  const rng = new Rng(13);
  const n = 9;
  const x = Float32Array.from({ length: n * D }, () => rng.normal());
  // Channels alternate in the flattened [1, 3, 2] image: channel = j % 2.
  const inputScale = Float32Array.from([2, 0.5]);
  for (const { temperature, epsilon } of [{ temperature: 1000, epsilon: 0.0014 }, { temperature: 2, epsilon: 0.05 }]) {
    const det = createDetector('odin', { model, head: h }, params({ odin: { temperature, epsilon } }));
    const xt = tf.tensor4d(x, [n, 1, 3, 2]);
    const got = await det.scoreInputs!(xt, inputScale);
    xt.dispose();
    const logits = (z: number[]): number[] => Array.from({ length: K }, (_, k) => h.bias[k] + z.reduce((s, v, j) => s + v * h.weight[j * K + k], 0));
    const expected = Array.from({ length: n }, (_, i) => {
      const z = row(x, i, D);
      const f = logits(z);
      const yHat = f.indexOf(Math.max(...f));
      const p = softmax(f.map((v) => v / temperature));
      // ∂/∂z_j log softmax(f/T)_ŷ = (W_jŷ − Σ_c p_c W_jc) / T
      const g = z.map((_, j) => (h.weight[j * K + yHat] - p.reduce((s, pc, c) => s + pc * h.weight[j * K + c], 0)) / temperature);
      const zp = z.map((v, j) => v - epsilon * inputScale[j % 2] * Math.sign(-g[j]));
      return Math.max(...softmax(logits(zp).map((v) => v / temperature)));
    });
    close(got, expected, 1e-6, `odin T=${temperature}`);
  }
});

test('the differentiable scores (attacks, gradients) agree with the float64 ones', () => {
  const model = linearModel(8);
  const train = outputsOf(model, 60, 14);
  const test = outputsOf(model, 16, 15, false);
  for (const name of ['energy', 'msp', 'maxlogit', 'mahalanobis', 'knn', 'vim', 'react'] as ScoreName[]) {
    const det = fitted(name, model, train, params({ knn: { k: 5 } }));
    const got = tf.tidy(() => det.tfScore!(tf.tensor2d(test.logits, [test.n, K]), tf.tensor2d(test.features, [test.n, D])).dataSync());
    close(got, det.scoreOutputs!(test), 2e-4, name);
    det.dispose?.();
  }
});

test('fitted statistics survive a store / restore round trip', () => {
  const model = linearModel(9);
  const train = outputsOf(model, 50, 16);
  const test: Outputs = outputsOf(model, 10, 17, false);
  for (const name of FITTED_SCORES) {
    const p = params({ knn: { k: 4 } });
    const det = fitted(name, model, train, p);
    const again = createDetector(name, { model, head: headOf(model) }, p);
    again.restore!(det.stats!());
    assert.deepEqual(Array.from(again.scoreOutputs!(test)), Array.from(det.scoreOutputs!(test)), name);
  }
});

test('eval.detectors: defaults, overrides and clear errors', () => {
  assert.deepEqual(params(), { odin: { temperature: 1000, epsilon: 0.0014 }, knn: { k: 50 }, vim: { dim: 'auto' }, react: { percentile: 90 } });
  const p = parseDetectorParams(ConfigReader.root({ knn: { k: 5 }, vim: { dim: 64 }, odin: { temperature: 10 } }, 'c.yaml'));
  assert.deepEqual([p.knn.k, p.vim.dim, p.odin.temperature, p.odin.epsilon], [5, 64, 10, 0.0014]);
  const fails = (raw: unknown, re: RegExp): void => assert.throws(() => parseDetectorParams(ConfigReader.root(raw, 'c.yaml')), (e: unknown) => e instanceof UserError && re.test(e.message));
  fails({ vim: { dim: 'half' } }, /c\.yaml: vim\.dim: expected auto or an integer >= 1, got "half"/);
  fails({ knn: { k: 0 } }, /knn\.k: expected an integer >= 1, got 0/);
  fails({ react: { percentile: 101 } }, /react\.percentile: expected a number >= 0 and <= 100, got 101/);
  fails({ mds: {} }, /unknown key/);
});
