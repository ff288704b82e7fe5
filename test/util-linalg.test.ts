import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matVec, pinvSymmetric, symmetricEigen } from '../src/util/linalg';
import { Rng } from '../src/util/rng';

/** A random symmetric PSD matrix B Bᵀ of rank r (n x n), row-major. */
function psd(n: number, r: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const b = Float64Array.from({ length: n * r }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let t = 0; t < r; t++) a[i * n + j] += b[i * r + t] * b[j * r + t];
  return a;
}

function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let t = 0; t < n; t++) c[i * n + j] += a[i * n + t] * b[t * n + j];
  return c;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('symmetricEigen: A v = λ v, orthonormal vectors, eigenvalues descending', () => {
  const n = 12;
  const rng = new Rng(5);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = symmetricEigen(a, n);
  for (let e = 1; e < n; e++) assert.ok(values[e - 1] >= values[e], 'descending');
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i];
  assert.ok(Math.abs(values.reduce((s, v) => s + v, 0) - trace) < 1e-10, 'eigenvalues sum to the trace');
  for (let e = 0; e < n; e++) {
    const v = Float64Array.from({ length: n }, (_, i) => vectors[i * n + e]);
    const av = matVec(a, n, n, v);
    assert.ok(maxDiff(av, v.map((x) => values[e] * x)) < 1e-10, `A v = λ v for eigenpair ${e}`);
    for (let f = 0; f < n; f++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + e] * vectors[i * n + f];
      assert.ok(Math.abs(dot - (e === f ? 1 : 0)) < 1e-12, `vᵀv at ${e},${f}`);
    }
  }
});

test('symmetricEigen: a diagonal matrix gives its entries sorted and unit vectors', () => {
  const { values, vectors } = symmetricEigen([1, 0, 0, 0, 3, 0, 0, 0, 2], 3);
  assert.deepEqual(Array.from(values), [3, 2, 1]);
  assert.deepEqual(Array.from(vectors), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
});

test('pinvSymmetric: the Moore-Penrose conditions on a rank-deficient PSD matrix', () => {
  const n = 10;
  const a = psd(n, 4, 7);
  const { inverse: p, rank } = pinvSymmetric(a, n, 1e-10);
  assert.equal(rank, 4, 'the rounding-noise eigenvalues are dropped');
  assert.ok(maxDiff(matMul(matMul(a, p, n), a, n), a) < 1e-9, 'A P A = A');
  assert.ok(maxDiff(matMul(matMul(p, a, n), p, n), p) < 1e-9, 'P A P = P');
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(p[i * n + j] - p[j * n + i]) < 1e-12, 'P symmetric');
});

test('pinvSymmetric of a full-rank matrix is its inverse', () => {
  const n = 6;
  const a = psd(n, 9, 3);
  const { inverse, rank } = pinvSymmetric(a, n, 1e-10);
  assert.equal(rank, n);
  const eye = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  assert.ok(maxDiff(matMul(a, inverse, n), eye) < 1e-10);
});
