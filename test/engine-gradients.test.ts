/**
 * Each gradient grodd registers, checked against central finite differences
 * (or tfjs-core's own gradient), and the full second-order path of the
 * gradient regularizer on a tiny conv net, on wasm and on cpu.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/engine/backend';
import { nativeSkipReason } from './test-backend';
import { tileBackward } from '../src/engine/gradients/tile';
import { ZERO_GRAD_OPS } from '../src/engine/gradients/zero-grads';
import { batchMoments, batchNorm, batchNormTrain } from '../src/nn/batch-norm';

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randT(shape: number[], seed: number, scale = 1): tf.Tensor {
  const r = lcg(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (r() * 2 - 1) * scale;
  return tf.tensor(d, shape);
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-8);
}

/** Directional derivative of scalar f at x along v by central differences (float64 arithmetic on float32 values). */
function fdDirectional(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, v: tf.Tensor, eps: number): number {
  const plus = tf.tidy(() => f(tf.add(x, tf.mul(v, eps))).dataSync()[0]);
  const minus = tf.tidy(() => f(tf.sub(x, tf.mul(v, eps))).dataSync()[0]);
  return (plus - minus) / (2 * eps);
}

/** Largest step in `candidates` for which `same(eps)` holds (no kink crossed between x-eps*v and x+eps*v). */
function pickEps(same: (eps: number) => boolean, candidates = [1e-3, 3e-4, 1e-4, 3e-5]): number {
  for (const eps of candidates) if (same(eps)) return eps;
  throw new Error('every finite-difference step crosses a kink');
}

function sameValues(a: tf.Tensor, b: tf.Tensor): boolean {
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** cpu, wasm, and native where its addon loads. */
const BACKENDS = nativeSkipReason() ? (['cpu', 'wasm'] as const) : (['cpu', 'wasm', 'native'] as const);

function dot(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0]);
}

for (const backendName of BACKENDS) {
  describe(`registered gradients on ${backendName}`, () => {
    it('all zero-gradient ops are registered', async () => {
      await useBackend(backendName);
      for (const op of ZERO_GRAD_OPS) assert.ok(tf.getGradient(op) != null, `no gradient for ${op}`);
    });

    it('comparison ops have zero gradients (grad through them, and second order through max/abs/relu)', async () => {
      await useBackend(backendName);
      const x = randT([6], 3);
      const y = randT([6], 4);
      for (const op of ['equal', 'notEqual', 'greater', 'greaterEqual', 'less', 'lessEqual'] as const) {
        const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.cast(tf[op](a, b), 'float32'), a)))([x, y]);
        const expected = await tf.cast(tf[op](x, y), 'float32').data();
        assert.deepEqual(Array.from(await ga.data()), Array.from(expected), op);
        assert.deepEqual(Array.from(await gb.data()), [0, 0, 0, 0, 0, 0], op);
      }
      const [ga] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.cast(tf.logicalAnd(tf.greater(a, 0), tf.logicalNot(tf.less(b, 0))), 'float32')),
      )([x, y]);
      assert.deepEqual(Array.from(await ga.data()), [0, 0, 0, 0, 0, 0]);
      // d/dx of (d/dx sum(max(x)^2 + |x|^3 + relu(x)^2)) — Hessian-vector product by nested grad vs FD
      const f = (a: tf.Tensor) =>
        tf.add(tf.add(tf.square(tf.max(a)), tf.sum(tf.pow(tf.abs(a), 3))), tf.sum(tf.square(tf.relu(a)))) as tf.Scalar;
      const v = randT([6], 9);
      const hv = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(a), v)))(x);
      const g = (a: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(a), v)) as tf.Scalar;
      const fd = fdDirectional(g, x, v, 1e-2);
      assert.ok(relErr(dot(hv, v), fd) < 1e-2, `Hv ${dot(hv, v)} vs fd ${fd}`);
    });

    for (const [pool, name] of [
      [tf.avgPool, 'AvgPoolGrad'],
      [tf.maxPool, 'MaxPoolGrad'],
    ] as const) {
      for (const [stride, pad] of [
        [1, 'same'],
        [2, 'valid'],
        [2, 'same'],
      ] as const) {
        it(`${name} gradient (second order through ${pool === tf.avgPool ? 'avgPool' : 'maxPool'}, stride ${stride}, ${pad})`, async () => {
          await useBackend(backendName);
          const x = randT([2, 6, 6, 3], 17 + stride);
          const w = randT([2, stride === 1 ? 6 : 3, stride === 1 ? 6 : 3, 3], 23);
          // F(x) = sum(pool(x)^2 * w) ; G(x) = ||dF/dx||^2 involves PoolGrad; dG/dx needs PoolGrad's gradient
          const F = (a: tf.Tensor) => tf.sum(tf.mul(tf.square(pool(a as tf.Tensor4D, 2, stride, pad)), w)) as tf.Scalar;
          const G = (a: tf.Tensor) => tf.sum(tf.square(tf.grad(F)(a))) as tf.Scalar;
          if (pool === tf.avgPool) {
            // AvgPoolGrad is linear in dy: its gradient must be its exact adjoint.
            const y = tf.avgPool(x as tf.Tensor4D, 2, stride, pad);
            const dy = randT(y.shape, 51);
            const ddx = randT(x.shape, 52);
            const f = (d: tf.Tensor) =>
              tf.sum(tf.mul(ddx, tf.engine().runKernel('AvgPoolGrad', { dy: d, input: x }, { filterSize: 2, strides: stride, pad } as unknown as tf.NamedAttrMap) as tf.Tensor)) as tf.Scalar;
            const g = tf.grad(f)(dy);
            assert.ok(relErr(dot(g, dy), f(dy).dataSync()[0]) < 1e-4, 'AvgPoolGrad adjoint');
            // tfjs's first-order avgPool gradient divides 'same' border windows by the full size: FD only without padding
            if (pad === 'same') return;
          }
          const gG = tf.grad(G)(x);
          const v = randT([2, 6, 6, 3], 31);
          // max pooling: keep every window's argmax fixed over the step
          const argmax = (a: tf.Tensor) => tf.maxPoolWithArgmax(a as tf.Tensor4D, 2, stride, pad, true).indexes;
          const eps =
            pool === tf.maxPool
              ? pickEps((e) =>
                  tf.tidy(() => sameValues(argmax(tf.add(x, tf.mul(v, e))), argmax(x)) && sameValues(argmax(tf.sub(x, tf.mul(v, e))), argmax(x))),
                )
              : 1e-3;
          const fd = fdDirectional(G, x, v, eps);
          assert.ok(relErr(dot(gG, v), fd) < 1e-2, `${name}: ${dot(gG, v)} vs fd ${fd}`);
        });
      }
    }

    it('Tile gradient equals the sum over tiles (ranks 1-4) and is differentiable', async () => {
      await useBackend(backendName);
      const cases: Array<[number[], number[]]> = [
        [[3], [4]],
        [[2, 3], [3, 2]],
        [[2, 1, 3], [1, 5, 2]],
        [[1, 2, 2, 3], [4, 3, 1, 2]],
      ];
      for (const [shape, reps] of cases) {
        const x = randT(shape, 5);
        const tiledShape = shape.map((d, i) => d * reps[i]);
        const dy = randT(tiledShape, 6);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.tile(a, reps), dy)))(x);
        // reference: explicit loop over tile offsets on the host
        const dyArr = (await dy.array()) as unknown;
        const ref = new Float32Array(x.size);
        const idx = (flat: number, dims: number[]) => {
          const out: number[] = [];
          for (let i = dims.length - 1; i >= 0; i--) {
            out.unshift(flat % dims[i]);
            flat = Math.floor(flat / dims[i]);
          }
          return out;
        };
        const flatDy = dy.dataSync();
        for (let j = 0; j < flatDy.length; j++) {
          const c = idx(j, tiledShape);
          const src = c.map((v, i) => v % shape[i]);
          let k = 0;
          for (let i = 0; i < shape.length; i++) k = k * shape[i] + src[i];
          ref[k] += flatDy[j];
        }
        void dyArr;
        const got = await g.data();
        for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-4, `tile ${shape}x${reps}`);
        assert.deepEqual(tileBackward(dy, shape, reps).shape, shape);
      }
      // second order through tile: d/dx sum(grad(sum(tile(x)^3))) vs FD
      const x = randT([2, 3], 8);
      const G = (a: tf.Tensor) => tf.sum(tf.square(tf.grad((b: tf.Tensor) => tf.sum(tf.pow(tf.tile(b, [2, 3]), 3)))(a))) as tf.Scalar;
      const v = randT([2, 3], 12);
      const fd = fdDirectional(G, x, v, 1e-3);
      assert.ok(relErr(dot(tf.grad(G)(x), v), fd) < 1e-2);
    });

    it('batchNorm: forward matches the definition, gradients match FD', async () => {
      await useBackend(backendName);
      const x = randT([4, 3, 3, 5], 41, 2);
      const gamma = randT([5], 42);
      const beta = randT([5], 43);
      const { y, mean, variance } = batchNormTrain(x, gamma, beta, 1e-5);
      const ref = tf.tidy(() => {
        const m = tf.mean(x, [0, 1, 2]);
        const v = tf.mean(tf.square(tf.sub(x, m)), [0, 1, 2]);
        return tf.add(tf.mul(tf.div(tf.sub(x, m), tf.sqrt(tf.add(v, 1e-5))), gamma), beta);
      });
      const a = await y.data();
      const b = await ref.data();
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4);
      assert.deepEqual(mean.shape, [5]);
      assert.deepEqual(variance.shape, [5]);
      const { mean: m2 } = batchMoments(tf.ones([3, 5]));
      assert.deepEqual(Array.from(await m2.data()), [1, 1, 1, 1, 1]);
      const w = randT([4, 3, 3, 5], 44);
      const f = (a2: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(a2, gamma, beta).y, w)) as tf.Scalar;
      const v = randT([4, 3, 3, 5], 45);
      const fd = fdDirectional(f, x, v, 1e-2);
      assert.ok(relErr(dot(tf.grad(f)(x), v), fd) < 1e-2);
      // inference form with given statistics
      const yi = batchNorm(x, gamma, beta, tf.zeros([5]), tf.ones([5]), 0);
      const e = tf.tidy(() => tf.max(tf.abs(tf.sub(yi, tf.add(tf.mul(x, gamma), beta)))).dataSync()[0]);
      assert.ok(e < 1e-5);
    });
  });
}

/**
 * Full second-order path: a tiny conv-BN-ReLU, conv, global average pool,
 * linear net; D(x) = -mean_in(relu(m_in - E_in)) + mean_out(relu(E_out - m_out)),
 * E = -logsumexp(logits); L = mean_i ||dD/dx_i||_2. dL/dweights by nested
 * tf.grad inside tf.variableGrads vs central finite differences.
 */
describe('GReg second-order gradient on a tiny conv net', () => {
  const nIn = 3;
  const nOut = 3;
  const B = nIn + nOut;
  const mIn = 50; // E_in < m_in for every ID sample: relu active
  const mOut = -50; // E_out > m_out for every outlier: relu active

  function makeParams(): Record<string, tf.Variable> {
    return {
      w1: tf.variable(randT([3, 3, 2, 4], 1, 0.5)),
      g1: tf.variable(tf.add(randT([4], 2, 0.2), 1)),
      b1: tf.variable(randT([4], 3, 0.2)),
      w2: tf.variable(randT([3, 3, 4, 5], 4, 0.4)),
      wf: tf.variable(randT([5, 3], 5, 0.8)),
      bf: tf.variable(randT([3], 6, 0.2)),
    };
  }

  function preActivation(p: Record<string, tf.Variable | tf.Tensor>, x: tf.Tensor): tf.Tensor {
    return batchNormTrain(tf.conv2d(x as tf.Tensor4D, p.w1 as tf.Tensor4D, 1, 'same'), p.g1, p.b1).y;
  }

  function net(p: Record<string, tf.Variable | tf.Tensor>, x: tf.Tensor): tf.Tensor {
    let h = tf.relu(preActivation(p, x));
    h = tf.conv2d(h as tf.Tensor4D, p.w2 as tf.Tensor4D, 2, 'same');
    const pooled = tf.mean(h, [1, 2]);
    return tf.add(tf.matMul(pooled as tf.Tensor2D, p.wf as tf.Tensor2D), p.bf);
  }

  function lossL(p: Record<string, tf.Variable | tf.Tensor>, x: tf.Tensor): tf.Scalar {
    const D = (xx: tf.Tensor) => {
      const E = tf.neg(tf.logSumExp(net(p, xx), 1));
      const eIn = tf.slice(E, [0], [nIn]);
      const eOut = tf.slice(E, [nIn], [nOut]);
      return tf.add(tf.neg(tf.mean(tf.relu(tf.sub(mIn, eIn)))), tf.mean(tf.relu(tf.sub(eOut, mOut)))) as tf.Scalar;
    };
    const gx = tf.grad(D)(x);
    return tf.mean(tf.sqrt(tf.sum(tf.square(tf.reshape(gx, [B, -1])), 1))) as tf.Scalar;
  }

  const results: Record<string, Record<string, Float32Array>> = {};

  for (const backendName of BACKENDS) {
    it(`dL/dθ matches central finite differences on ${backendName}`, async () => {
      await useBackend(backendName);
      const p = makeParams();
      const x = randT([B, 6, 6, 2], 77);
      const { value, grads } = tf.variableGrads(() => lossL(p, x));
      assert.ok(value.dataSync()[0] > 0);
      results[backendName] = {};
      for (const n of Object.keys(p)) results[backendName][n] = grads[p[n].name].dataSync() as Float32Array;
      // a random direction per parameter plus all parameters at once
      const names = Object.keys(p);
      for (const target of [...names, 'all']) {
        const dirs: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => {
          dirs[n] = target === 'all' || target === n ? randT(p[n].shape, 1000 + i) : tf.zerosLike(p[n]);
        });
        let analytic = 0;
        for (const n of names) analytic += dot(grads[p[n].name], dirs[n]);
        const shifted = (eps: number) => {
          const q: Record<string, tf.Tensor> = {};
          for (const n of names) q[n] = tf.add(p[n], tf.mul(dirs[n], eps));
          return q;
        };
        const Lat = (eps: number) => tf.tidy(() => lossL(shifted(eps), x).dataSync()[0]);
        // L is discontinuous where a ReLU input crosses 0: step only where no sign flips.
        const signs = (eps: number) => tf.step(preActivation(shifted(eps), x));
        const eps = pickEps((e) => tf.tidy(() => sameValues(signs(e), signs(0)) && sameValues(signs(-e), signs(0))));
        const fd = (Lat(eps) - Lat(-eps)) / (2 * eps);
        assert.ok(relErr(analytic, fd) < 2e-2, `${backendName} ${target}: analytic ${analytic} vs fd ${fd}`);
      }
      tf.dispose([value, ...Object.values(grads), ...Object.values(p)]);
    });
  }

  it('second-order gradients agree with cpu on every backend', () => {
    for (const other of BACKENDS.filter((b) => b !== 'cpu')) {
      assert.ok(results.cpu && results[other], `cpu and ${other} ran`);
      for (const name of Object.keys(results.cpu)) {
        const a = results.cpu[name];
        const b = results[other][name];
        let scale = 0;
        for (const v of a) scale = Math.max(scale, Math.abs(v));
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-3 * Math.max(scale, 1e-6), `${other} ${name}[${i}]: ${a[i]} vs ${b[i]}`);
      }
    }
  });
});
